"""Joins a model to the Trace and to the policies: record a full Trace, or run real early exit.

* ``record(model, tokenizer, texts, …) → Trace`` runs every block once and keeps every exit's outputs.
* ``early_exit(model, tokenizer, policy, texts, …, batch_size)`` really stops computing: at batch size 1
  the blocks after the exit are never run; batched, samples that exit leave the batch and the rest go on
  (the fix for the "batch size > 1" complaint of DeeBERT #8/#21 and PABEE, methods.md §7). It asks the
  *same* policy object as the simulation (core.policies), on a Trace holding the blocks computed so far,
  so simulated and real exits agree sample for sample (tests/test_parity.py).

CLI:  python -m core.inference record --model assets/beex-sst2 --task sst2 --split validation
      python -m core.inference demo  "a gorgeous, witty film" "it is not good"   (a tiny model, per-block entropies)
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from core.model import MultiExitEncoder
from core.policies import Policy
from core.tokenizer import encode_batch
from core.trace import Trace


def _order_by_length(tokenizer, texts, texts_b, max_len):
    """Longest first, so that every batch pads little; also returns each sample's token count."""
    lens = np.zeros(len(texts), np.int64)
    for s in range(0, len(texts), 1024):
        enc = encode_batch(tokenizer, texts[s:s + 1024], None if texts_b is None else texts_b[s:s + 1024], max_len)
        lens[s:s + 1024] = enc["attention_mask"].sum(1).numpy()
    return np.argsort(-lens, kind="stable"), lens


def _flops(model: MultiExitEncoder, lens: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-block FLOPs averaged over the samples' real (unpadded) lengths."""
    n, n2 = float(lens.mean()), float((lens.astype(np.float64) ** 2).mean())
    per_block = np.full(model.cfg.n_blocks, model.flops_per_block(n, n2))
    return per_block, model.flops_embed(n)


@torch.no_grad()
def record(model: MultiExitEncoder, tokenizer, texts, texts_b=None, labels=None, *, batch_size: int = 64,
           max_len: int = 128, meta: dict | None = None, progress: bool = False, device: str | None = None,
           callback=None) -> Trace:
    """Run every block on every text and return the full :class:`Trace`.

    ``callback(done, total)`` is called after every batch (the app drives ``st.progress`` with it).
    """
    texts = list(texts)
    n = len(texts)
    max_len = min(max_len, model.cfg.max_len)     # never past the position table
    if texts_b is not None and len(texts_b) != n:
        raise ValueError(f"{n} first sentences but {len(texts_b)} second sentences: a pair task needs both")
    model.eval()
    device = device or next(model.parameters()).device
    order, lens = _order_by_length(tokenizer, texts, texts_b, max_len)
    cols = {"logits": [], "pooled": [], "proto_emb": [], "proto_dist": [], "lte": []}
    steps = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="record", unit="batch")
    for start in steps:
        idx = order[start:start + batch_size]
        enc = encode_batch(tokenizer, [texts[i] for i in idx],
                           None if texts_b is None else [texts_b[i] for i in idx], max_len=max_len)
        out = model(enc["input_ids"].to(device), enc["attention_mask"].to(device), enc["token_type_ids"].to(device))
        for name in cols:
            t = getattr(out, name)
            if t is not None:
                cols[name].append(t.float().cpu().numpy())
        if callback is not None:
            callback(min(start + batch_size, n), n)
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n)
    cat = lambda name: np.concatenate(cols[name])[inv] if cols[name] else None
    per_block, embed = _flops(model, lens if n else np.zeros(1))
    cfg = model.cfg
    k = cfg.n_classes
    protos = (np.stack([p.prototypes.detach().float().cpu().numpy() for p in model.protos])
              if model.protos is not None else None)
    return Trace(
        logits=cat("logits") if n else np.zeros((0, cfg.n_blocks, k), np.float32),
        pooled=cat("pooled").astype(np.float16) if n else np.zeros((0, cfg.n_blocks, cfg.hidden), np.float16),
        labels=np.full(n, -1) if labels is None else np.asarray(labels),
        texts=texts, texts_b=None if texts_b is None else list(texts_b),
        flops_per_block=per_block, flops_embed=embed,
        proto_emb=None if cat("proto_emb") is None else cat("proto_emb").astype(np.float16),
        proto_dist=cat("proto_dist"), prototypes=protos, lte=cat("lte"),
        meta={"distance": cfg.proto_distance, "mean_tokens": float(lens.mean()) if n else 0.0, **(meta or {})},
    )


@dataclass
class EarlyExitResult:
    exit_block: np.ndarray    # (N,) last block computed, 0-based
    answer_block: np.ndarray  # (N,) block whose head answered
    pred: np.ndarray          # (N,)
    flops: np.ndarray         # (N,) FLOPs actually spent per sample (analytic, at its own length)
    seconds: float            # wall-clock of the whole run (tokenization included)


def _partial_trace(logits, dist, lte, labels, meta) -> Trace:
    """The blocks computed so far for the samples still running, as a Trace the policy can read."""
    n, l, _ = logits.shape
    return Trace(logits=logits, pooled=np.zeros((n, l, 1), np.float16), labels=labels, texts=[""] * n,
                 flops_per_block=np.zeros(l), proto_dist=dist, lte=lte, meta=meta)


@torch.no_grad()
def early_exit(model: MultiExitEncoder, tokenizer, policy: Policy, texts, texts_b=None, labels=None, *,
               batch_size: int = 1, max_len: int = 128, meta: dict | None = None,
               device: str | None = None) -> EarlyExitResult:
    """Real early-exit inference: blocks after a sample's exit are not computed for it."""
    t0 = time.perf_counter()
    texts = list(texts)
    n, n_blocks = len(texts), model.cfg.n_blocks
    labels = np.full(n, -1) if labels is None else np.asarray(labels)
    max_len = min(max_len, model.cfg.max_len)
    model.eval()
    device = device or next(model.parameters()).device
    exit_block = np.zeros(n, np.int64)
    answer = np.zeros(n, np.int64)
    pred = np.zeros(n, np.int64)
    flops = np.zeros(n)
    order = _order_by_length(tokenizer, texts, texts_b, max_len)[0] if batch_size > 1 else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        enc = encode_batch(tokenizer, [texts[i] for i in idx],
                           None if texts_b is None else [texts_b[i] for i in idx], max_len=max_len)
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        lens = mask.sum(1).cpu().numpy()
        flops[idx] = [model.flops_embed(x) for x in lens]
        h = model.embed(ids, enc["token_type_ids"].to(device))
        bias = model.attention_bias(mask, h.dtype)
        alive = np.arange(len(idx))                 # positions in this batch still running
        hist = {"logits": [], "proto_dist": [], "lte": []}  # per block: (len(idx), ·), NaN once exited
        for i in range(n_blocks):
            h = model.blocks[i](h, bias)
            out = model.exit(i, h, mask)
            for name in hist:
                t = getattr(out, name)
                if t is None:
                    continue
                full = np.full((len(idx),) + tuple(t.shape[1:]), np.nan, np.float32)
                full[alive] = t.float().cpu().numpy()
                hist[name].append(full)
            flops[idx[alive]] += [model.flops_per_block(x) for x in lens[alive]]
            stack = lambda name: np.stack([a[alive] for a in hist[name]], 1) if hist[name] else None
            part = _partial_trace(stack("logits"), stack("proto_dist"), stack("lte"), labels[idx[alive]], meta or {})
            fires = np.asarray(policy.fires(part), bool)[:, -1] & (i >= policy.min_block)
            last = i == n_blocks - 1
            done = np.ones(len(alive), bool) if last else fires
            if done.any():
                rows = idx[alive[done]]
                exit_block[rows] = i
                ans = np.full(done.sum(), i)
                if last:  # nothing fired up to here for some: the policy's fallback answers them
                    none = ~np.asarray(policy.fires(part), bool)[:, policy.min_block:].any(1) \
                        if policy.min_block < n_blocks else np.ones(len(alive), bool)
                    ans = np.where(none, policy.fallback(part), i)
                answer[rows] = ans
                pred[rows] = part.preds[np.flatnonzero(done), ans]
            keep = ~done
            if not keep.any():
                break
            alive = alive[keep]
            sel = torch.as_tensor(np.flatnonzero(keep), device=h.device)
            h, bias, mask = h[sel], bias[sel], mask[sel]
    return EarlyExitResult(exit_block, answer, pred, flops, time.perf_counter() - t0)


# CLI

def _demo(sentences: list[str]) -> None:
    from core.config import preset
    from core.tokenizer import train_wordpiece

    torch.manual_seed(0)
    sentences = sentences or ["a gorgeous , witty , seductive movie .", "it is not a good film .", "meh ."]
    tok = train_wordpiece(sentences * 4, vocab_size=256, min_frequency=1)
    model = MultiExitEncoder(preset("tiny", vocab_size=tok.get_vocab_size()))
    tr = record(model, tok, sentences)
    print(f"tiny model ({model.n_params():,} parameters, untrained), {tr.n_blocks} blocks; entropy in nats:")
    for j, s in enumerate(sentences):
        cells = "  ".join(f"b{i + 1}: H={tr.entropy[j, i]:.3f} ΔH={tr.frac_reduction[j, i]:+.3f}"
                          for i in range(tr.n_blocks))
        print(f"  {s[:40]!r:44} {cells}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.inference", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="build a tiny model, record a trace of the sentences, print entropies")
    d.add_argument("sentences", nargs="*")
    r = sub.add_parser("record", help="record the dev-set Trace of a checkpoint into the on-disk cache")
    r.add_argument("--model", required=True)
    r.add_argument("--task", default="sst2")
    r.add_argument("--split", default="validation")
    r.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "demo":
        _demo(args.sentences)
        return 0
    from core.cache import trace_for
    tr = trace_for(args.model, args.task, args.split, limit=args.limit, progress=True)
    print(f"{tr.n} samples × {tr.n_blocks} blocks; final-exit accuracy {tr.correct[:, -1].mean():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

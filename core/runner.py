"""Running a model over texts: record every exit into a Trace, or really exit early.

* ``record(model, tokenizer, texts, …) → Trace`` runs every block once and keeps every exit's outputs.
* ``early_exit(model, tokenizer, policy, texts, …, batch_size)`` really stops computing: at batch size 1
  the blocks after the exit are never run; batched, samples that exit leave the batch and the rest go on
  (the fix for the "batch size > 1" complaint of DeeBERT #8/#21 and PABEE, methods.md §7). It asks the
  *same* policy object as the simulation (core.policies), on the blocks computed so far (``LiveSignals``),
  so simulated and real exits agree sample for sample (tests/test_parity.py).

``core.inference`` re-exports both and holds the command line.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from core.model import MultiExitEncoder
from core.policies import Policy
from core.tokenizer import TokenInfo, encode_batch, encode_one
from core.trace import Trace, entropy_nats, softmax


def order_by_length(tokenizer, texts, texts_b, max_len):
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
    order, lens = order_by_length(tokenizer, texts, texts_b, max_len)
    cols = {"logits": [], "pooled": [], "proto_emb": [], "proto_dist": [], "lte": []}
    steps = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="record", unit="batch")
    for start in steps:
        idx = order[start:start + batch_size]
        enc = encode_batch(tokenizer, [texts[i] for i in idx],
                           None if texts_b is None else [texts_b[i] for i in idx], max_len=max_len)
        _collect(model(enc["input_ids"].to(device), enc["attention_mask"].to(device),
                       enc["token_type_ids"].to(device)), cols)
        if callback is not None:
            callback(min(start + batch_size, n), n)
    return _assemble(model, cols, order, lens, texts, texts_b, labels, meta)


def _collect(out, cols: dict) -> None:
    for name in cols:
        t = getattr(out, name)
        if t is not None:
            cols[name].append(t.float().cpu().numpy())


def _assemble(model, cols: dict, order: np.ndarray, lens: np.ndarray, texts, texts_b, labels, meta) -> Trace:
    """The Trace of batches recorded in ``order`` (back in the caller's order)."""
    n = len(texts)
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


@torch.no_grad()
def record_one(model: MultiExitEncoder, tokenizer, text: str, text_b: str | None = None, label: int | None = None,
               *, max_len: int = 128, meta: dict | None = None) -> tuple[Trace, TokenInfo]:
    """One text (or pair), tokenized once: its full Trace and what the model read of it (core.tokenizer)."""
    max_len = min(max_len, model.cfg.max_len)
    enc, info = encode_one(tokenizer, text, text_b, max_len)
    model.eval()
    device = next(model.parameters()).device
    cols = {"logits": [], "pooled": [], "proto_emb": [], "proto_dist": [], "lte": []}
    _collect(model(enc["input_ids"].to(device), enc["attention_mask"].to(device), enc["token_type_ids"].to(device)),
             cols)
    lens = enc["attention_mask"].sum(1).numpy()
    tr = _assemble(model, cols, np.zeros(1, np.int64), lens, [text], None if text_b is None else [text_b],
                   None if label is None else [label], meta)
    return tr, info


@dataclass
class EarlyExitResult:
    exit_block: np.ndarray    # (N,) last block computed, 0-based
    answer_block: np.ndarray  # (N,) block whose head answered
    pred: np.ndarray          # (N,)
    flops: np.ndarray         # (N,) FLOPs actually spent per sample (analytic, at its own length)
    seconds: float            # wall-clock of the whole run (tokenization included)


class LiveSignals:
    """What the policies read off the blocks computed so far, for the samples of one early-exit batch.

    Real early exit asks the *same* policy objects as the simulation, so they need the same fields a
    Trace has (logits, probs, entropy, entropy_norm, proto_dist, lte, labels, preds, correct…) — but
    only for the blocks computed so far: here each block's outputs are written once into preallocated
    (B, L, ·) arrays, their probabilities and entropies computed for that block only, and a policy reads
    the first l blocks of the samples still running (no embeddings, texts or costs are built)."""

    def __init__(self, n: int, n_blocks: int, n_classes: int, labels: np.ndarray, dist: bool, lte: bool):
        shape = (n, n_blocks, n_classes)
        self._logits = np.full(shape, np.nan, np.float32)
        self._probs = np.full(shape, np.nan, np.float32)
        self._entropy = np.full((n, n_blocks), np.nan, np.float32)
        self._dist = np.full(shape, np.nan, np.float32) if dist else None
        self._lte = np.full((n, n_blocks), np.nan, np.float32) if lte else None
        self._labels = np.asarray(labels)
        self._k = n_classes

    def add(self, block: int, rows: np.ndarray, out) -> None:
        """Block ``block``'s ExitOutput for the batch positions ``rows``."""
        z = out.logits.float().cpu().numpy()
        self._logits[rows, block] = z
        p = softmax(z)
        self._probs[rows, block] = p
        self._entropy[rows, block] = entropy_nats(p)
        if self._dist is not None:
            self._dist[rows, block] = out.proto_dist.float().cpu().numpy()
        if self._lte is not None:
            self._lte[rows, block] = out.lte.float().cpu().numpy()

    def view(self, rows: np.ndarray, upto: int) -> _Blocks:
        pick = lambda a: None if a is None else a[rows, :upto]
        h = self._entropy[rows, :upto]
        return _Blocks(pick(self._logits), pick(self._probs), h,
                       h / np.float32(np.log(self._k)) if self._k > 1 else np.zeros_like(h),
                       pick(self._dist), pick(self._lte), self._labels[rows])


@dataclass
class _Blocks:
    """The Trace fields a policy reads, for l blocks of n samples (see LiveSignals)."""

    logits: np.ndarray          # (n, l, K)
    probs: np.ndarray           # (n, l, K)
    entropy: np.ndarray         # (n, l)
    entropy_norm: np.ndarray    # (n, l)
    proto_dist: np.ndarray | None
    lte: np.ndarray | None
    labels: np.ndarray          # (n,)

    n = property(lambda self: self.logits.shape[0])
    n_blocks = property(lambda self: self.logits.shape[1])
    n_classes = property(lambda self: self.logits.shape[2])
    preds = property(lambda self: self.logits.argmax(axis=-1))
    correct = property(lambda self: (self.preds == self.labels[:, None]) & (self.labels[:, None] >= 0))
    has_labels = property(lambda self: bool((self.labels >= 0).all()) and self.n > 0)


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
    order = order_by_length(tokenizer, texts, texts_b, max_len)[0] if batch_size > 1 else np.arange(n)
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
        sig = LiveSignals(len(idx), n_blocks, model.cfg.n_classes, labels[idx], model.protos is not None,
                          model.lte_head is not None)
        for i in range(n_blocks):
            h = model.blocks[i](h, bias)
            sig.add(i, alive, model.exit(i, h, mask))
            flops[idx[alive]] += [model.flops_per_block(x) for x in lens[alive]]
            part = sig.view(alive, i + 1)
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

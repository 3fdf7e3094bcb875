"""Running a model over texts: record every exit into a Trace, or really exit early.

* ``record(model, tokenizer, texts, …) → Trace`` runs every block once and keeps every exit's outputs.
* ``early_exit(model, tokenizer, policy, texts, …, batch_size)`` really stops computing: at batch size 1
  the blocks after the exit are never run; batched, samples that exit leave the batch and the rest go on
  (the fix for the "batch size > 1" complaint of DeeBERT #8/#21 and PABEE, methods.md §7). It asks the
  *same* policy object as the simulation (core.policies.rules), on the blocks computed so far (``LiveSignals``),
  so simulated and real exits agree sample for sample (tests/test_parity.py).

* ``record_store(model, tokenizer, texts, …, out=FOLDER) → TraceStore`` is ``record`` for data that does not
  fit in memory: every batch goes to disk as it is computed (core.trace.store); core.run.distributed runs it over
  torchrun's processes.

Both run where ``device`` says ("auto": the GPU when there is one) with ``precision`` "fp32", or "bf16" /
"fp16" autocast (torch.autocast: matrix products in half precision, reductions and the softmax in fp32). A
GPU asked for where there is none is said plainly (a RuntimeWarning) and the CPU runs it.

``core.inference`` re-exports them and holds the command line.
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from core.model import MultiExitModel, TokenInfo, encode_batch, encode_one
from core.policies import Policy
from core.trace import StoreWriter, Trace, TraceStore, entropy_nats, softmax, write_manifest

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device=None, model: torch.nn.Module | None = None) -> torch.device:
    """None: where the model is; "auto": this process's GPU (LOCAL_RANK under torchrun) when there is one, else
    the CPU; "cuda[:i]" without a GPU: the CPU, with a RuntimeWarning that says so (never a failure)."""
    if device is None:
        return next(model.parameters()).device if model is not None else torch.device("cpu")
    name = str(device)
    if name == "auto":
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(f"device {name!r} asked for, but no CUDA GPU is available here: running on the CPU",
                      RuntimeWarning, stacklevel=3)
        name = "cpu"
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:<index>'") from e


def autocast(device: torch.device, precision: str = "fp32"):
    """The context a forward runs in: nothing for fp32, else torch.autocast to bf16 / fp16 on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if PRECISIONS[precision] is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=PRECISIONS[precision])


def place_model(model: torch.nn.Module, device, precision: str) -> torch.device:
    """Resolve ``device``, check ``precision`` and move the model there (once; a no-op when it is there)."""
    dev = resolve_device(device, model)
    autocast(dev, precision)                     # fails early on an unknown precision
    if next(model.parameters()).device != dev:
        model.to(dev)
    return dev


def order_by_length(tokenizer, texts, texts_b, max_len):
    """Longest first, so that every batch pads little; also returns each sample's token count."""
    lens = np.zeros(len(texts), np.int64)
    for s in range(0, len(texts), 1024):
        enc = encode_batch(tokenizer, texts[s:s + 1024], None if texts_b is None else texts_b[s:s + 1024], max_len)
        lens[s:s + 1024] = enc["attention_mask"].sum(1).numpy()
    return np.argsort(-lens, kind="stable"), lens


def _flops(model: MultiExitModel, lens: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-block FLOPs averaged over the samples' real (unpadded) lengths."""
    n, n2 = float(lens.mean()), float((lens.astype(np.float64) ** 2).mean())
    per_block = np.full(model.cfg.n_blocks, model.flops_per_block(n, n2))
    return per_block, model.flops_embed(n)


def length_batches(tokenizer, texts, texts_b, max_len: int, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The batches ``record`` runs (longest first, ``batch_size`` each) and every sample's token count."""
    order, lens = order_by_length(tokenizer, texts, texts_b, max_len)
    return [order[s:s + batch_size] for s in range(0, len(texts), batch_size)], lens


def forward_batches(model, tokenizer, texts, texts_b, batches, *, max_len: int, device: torch.device,
                    precision: str = "fp32", progress: bool = False, callback=None):
    """Yields (idx, EncoderOutput) for every batch of sample indices; ``callback(done, total)`` after each."""
    total, done = sum(len(b) for b in batches), 0
    steps = batches
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(batches, desc="record", unit="batch")
    for idx in steps:
        enc = encode_batch(tokenizer, [texts[i] for i in idx],
                           None if texts_b is None else [texts_b[i] for i in idx], max_len=max_len,
                           contract=model.contract)
        with autocast(device, precision):
            out = model(enc["input_ids"].to(device), enc["attention_mask"].to(device),
                        enc["token_type_ids"].to(device))
        yield idx, out
        done += len(idx)
        if callback is not None:
            callback(done, total)


@torch.no_grad()
def record(model: MultiExitModel, tokenizer, texts, texts_b=None, labels=None, *, batch_size: int = 64,
           max_len: int = 128, meta: dict | None = None, progress: bool = False, device: str | None = None,
           callback=None, precision: str = "fp32") -> Trace:
    """Run every block on every text and return the full :class:`Trace`.

    ``callback(done, total)`` is called after every batch (the app drives ``st.progress`` with it). ``device``:
    None = where the model is, "auto", "cpu", "cuda[:i]" (the model is moved there); ``precision``: "fp32",
    "bf16" or "fp16" autocast."""
    texts = list(texts)
    n = len(texts)
    max_len = min(max_len, model.max_len)     # never past the position table
    if texts_b is not None and len(texts_b) != n:
        raise ValueError(f"{n} first sentences but {len(texts_b)} second sentences: a pair task needs both")
    model.eval()
    dev = place_model(model, device, precision)
    batches, lens = length_batches(tokenizer, texts, texts_b, max_len, batch_size)
    cols = {"logits": [], "pooled": [], "proto_emb": [], "proto_dist": [], "lte": []}
    for _, out in forward_batches(model, tokenizer, texts, texts_b, batches, max_len=max_len, device=dev,
                                  precision=precision, progress=progress, callback=callback):
        _collect(out, cols)
    order = np.concatenate(batches) if batches else np.zeros(0, np.int64)
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
    facts = recording_facts(model, lens, meta)
    cfg = model.cfg
    k = cfg.n_classes
    return Trace(
        logits=cat("logits") if n else np.zeros((0, cfg.n_blocks, k), np.float32),
        pooled=cat("pooled").astype(np.float16) if n else np.zeros((0, cfg.n_blocks, cfg.hidden), np.float16),
        labels=np.full(n, -1) if labels is None else np.asarray(labels),
        texts=texts, texts_b=None if texts_b is None else list(texts_b),
        proto_emb=None if cat("proto_emb") is None else cat("proto_emb").astype(np.float16),
        proto_dist=cat("proto_dist"), lte=cat("lte"), **facts)


def recording_facts(model, lens: np.ndarray, meta: dict | None) -> dict:
    """What a recording knows besides the per-sample arrays: costs at the samples' mean lengths, prototypes, meta."""
    n = len(lens)
    per_block, embed = _flops(model, lens if n else np.zeros(1))
    protos = (np.stack([p.prototypes.detach().float().cpu().numpy() for p in model.protos])
              if model.protos is not None else None)
    return {"flops_per_block": per_block, "flops_embed": embed, "prototypes": protos,
            "meta": {"distance": model.cfg.proto_distance, "mean_tokens": float(lens.mean()) if n else 0.0,
                     **(meta or {})}}


@torch.no_grad()
def record_part(model, tokenizer, texts, texts_b, labels, batches, writer: StoreWriter, *, max_len: int,
                device: torch.device, precision: str = "fp32", progress: bool = False, callback=None) -> dict | None:
    """Run ``batches`` (lists of sample indices) and write each to ``writer`` as it comes; what the part holds
    (None when there were no batches)."""
    if not batches:
        return None
    labels = np.full(len(texts), -1) if labels is None else np.asarray(labels)
    np_ = lambda t: None if t is None else t.float().cpu().numpy()
    try:
        for idx, out in forward_batches(model, tokenizer, texts, texts_b, batches, max_len=max_len, device=device,
                                        precision=precision, progress=progress, callback=callback):
            writer.write(idx, np_(out.logits), labels[idx], [texts[i] for i in idx],
                         None if texts_b is None else [texts_b[i] for i in idx], np_(out.pooled),
                         np_(out.proto_emb), np_(out.proto_dist), np_(out.lte))
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def finish_store(out, parts: list[dict | None], model, lens: np.ndarray, meta: dict | None) -> TraceStore:
    """Join the written parts into one store with the recording's facts (``recording_facts``)."""
    facts = recording_facts(model, lens, meta)
    return write_manifest(out, [p for p in parts if p is not None], facts["flops_per_block"], facts["flops_embed"],
                          facts["meta"], facts["prototypes"])


def record_store(model: MultiExitModel, tokenizer, texts, texts_b=None, labels=None, *, out, batch_size: int = 64,
                 max_len: int = 128, meta: dict | None = None, progress: bool = False, device: str | None = None,
                 callback=None, precision: str = "fp32") -> TraceStore:
    """``record`` into the store folder ``out``, batch by batch (memory: one row group, not the dataset);
    ``out.to_trace()`` equals ``record``'s Trace."""
    texts = list(texts)
    max_len = min(max_len, model.max_len)
    if texts_b is not None and len(texts_b) != len(texts):
        raise ValueError(f"{len(texts)} first sentences but {len(texts_b)} second sentences: a pair task needs both")
    model.eval()
    dev = place_model(model, device, precision)
    batches, lens = length_batches(tokenizer, texts, texts_b, max_len, batch_size)
    part = record_part(model, tokenizer, texts, texts_b, labels, batches, StoreWriter(out), max_len=max_len,
                       device=dev, precision=precision, progress=progress, callback=callback)
    return finish_store(out, [part], model, lens, meta)


@torch.no_grad()
def record_one(model: MultiExitModel, tokenizer, text: str, text_b: str | None = None, label: int | None = None,
               *, max_len: int = 128, meta: dict | None = None) -> tuple[Trace, TokenInfo]:
    """One text (or pair), tokenized once: its full Trace and what the model read of it (core.model.tokenizer)."""
    max_len = min(max_len, model.max_len)
    enc, info = encode_one(tokenizer, text, text_b, max_len, model.contract)
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
def early_exit(model: MultiExitModel, tokenizer, policy: Policy, texts, texts_b=None, labels=None, *,
               batch_size: int = 1, max_len: int = 128, meta: dict | None = None,
               device: str | None = None, precision: str = "fp32") -> EarlyExitResult:
    """Real early-exit inference: blocks after a sample's exit are not computed for it (``device`` and
    ``precision`` as in ``record``)."""
    t0 = time.perf_counter()
    texts = list(texts)
    n, n_blocks = len(texts), model.n_blocks
    labels = np.full(n, -1) if labels is None else np.asarray(labels)
    max_len = min(max_len, model.max_len)
    model.eval()
    device = place_model(model, device, precision)
    exit_block = np.zeros(n, np.int64)
    answer = np.zeros(n, np.int64)
    pred = np.zeros(n, np.int64)
    flops = np.zeros(n)
    order = order_by_length(tokenizer, texts, texts_b, max_len)[0] if batch_size > 1 else np.arange(n)
    with autocast(device, precision):           # the whole loop: the blocks run one at a time
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            enc = encode_batch(tokenizer, [texts[i] for i in idx],
                               None if texts_b is None else [texts_b[i] for i in idx], max_len=max_len,
                               contract=model.contract)
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            lens = mask.sum(1).cpu().numpy()
            flops[idx] = [model.flops_embed(x) for x in lens]
            h = model.embed(ids, enc["token_type_ids"].to(device))
            ctx = model.context(mask, h)
            alive = np.arange(len(idx))                 # positions in this batch still running
            sig = LiveSignals(len(idx), n_blocks, model.cfg.n_classes, labels[idx], model.protos is not None,
                              model.lte_head is not None)
            for i in range(n_blocks):
                h = model.block(i, h, ctx)
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
                h, ctx, mask = h[sel], ctx.select(sel), mask[sel]
    return EarlyExitResult(exit_block, answer, pred, flops, time.perf_counter() - t0)

"""The Trace: everything one model run records, per sample and per block — plain data, no model.

Design (../shared/design/README.md §3, "record once, decide anywhere"): a model run over N samples and
L blocks records the arrays below once; every exit policy, sweep and overthinking analysis is then a
pure numpy function of a Trace. Nothing in this file imports torch.

Dimension legend
    N  samples        L  blocks (exits; block indices are 0-based in arrays, 1-based in the UI)
    K  classes        D  hidden width of the pooled embedding     P  prototype-space width

Arrays (float32 unless noted)
    logits        (N, L, K)   exit-head logits after every block
    probs         (N, L, K)   softmax(logits)
    entropy       (N, L)      H(p) in nats, max ln K                       (DeeBERT)
    entropy_norm  (N, L)      H(p) / ln K in [0, 1]                        (FastBERT)
    frac_reduction(N, L)      (H_{i-1} - H_i) / H_{i-1}; 0 at block 0     (BEExformer, methods §1.5)
    pooled        (N, L, D)   float16, the pooled hidden state each exit head reads
    proto_emb     (N, L, P)   float16 or None, the projected embedding e_m of DE³ (methods §2.2)
    proto_dist    (N, L, K)   or None, d(e_m, c_{m,k}) to every class prototype
    prototypes    (L, K, P)   or None, the class prototypes c_{m,k}
    lte           (N, L)      or None, BERxiT learn-to-exit score u_i in [0, 1] (low = exit)
    labels        (N,)        int64, -1 where unknown
    texts         list[str]   first sentence;  texts_b: list[str] | None, the second of a pair
    flops_per_block (L,)      float64, FLOPs of block l *plus* its exit head (+ prototype distances)
    flops_embed   float       FLOPs of the embeddings (paid by every sample)
    meta          dict        model name/hash, data (task, split), label_names, distance, ...

FLOPs are per sample at the recorded sequence lengths (mean over samples), 2 FLOPs per MAC.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.util import save_npz_atomic

EPS = 1e-12
TRACE_FORMAT = "exitlens-trace/1"


# helpers (shared with core.inference so the recorded and the live numbers are the same formulas)

SMALL_K = 8     # below 8 classes numpy sums the class axis left to right, as the loops below do: same bits


def softmax(logits: np.ndarray) -> np.ndarray:
    """softmax over the last (class) axis. For K < 8 a loop over the classes: numpy's reductions over a short
    last axis are ~5× slower (a million-sample trace spends most of its load time here), same bits."""
    k = logits.shape[-1]
    if k >= SMALL_K:
        z = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    top = logits[..., 0].copy()
    for j in range(1, k):
        np.maximum(top, logits[..., j], out=top)
    e = np.exp(logits - top[..., None])
    total = e[..., 0].copy()
    for j in range(1, k):
        total += e[..., j]
    e /= total[..., None]
    return e


def entropy_nats(probs: np.ndarray) -> np.ndarray:
    """H(p) = -sum_k p_k ln p_k over the last axis (0 ln 0 := 0); a loop over K < 8 classes (see softmax)."""
    p = np.clip(probs, EPS, 1.0)
    if probs.shape[-1] >= SMALL_K:
        return -(probs * np.log(p)).sum(axis=-1)
    np.log(p, out=p)
    p *= probs
    h = p[..., 0].copy()
    for j in range(1, p.shape[-1]):
        h += p[..., j]
    return np.negative(h, out=h)


def fractional_reduction(entropy: np.ndarray, reference: str = "previous") -> np.ndarray:
    """BEExformer's fractional entropy reduction per block (methods.md §1.5), (..., L) → (..., L).

    reference="previous": ΔH_i = (H_{i-1} - H_i) / H_{i-1}   (default reading)
    reference="first":    ΔH_i = (H_0 - H_i) / H_0            (cumulative reading)
    Block 0 has no predecessor and gets 0. H ≈ 0 in the denominator is guarded by EPS.
    """
    out = np.zeros_like(entropy, dtype=np.float32)
    if entropy.shape[-1] < 2:
        return out
    if reference == "previous":
        ref = entropy[..., :-1]
    elif reference == "first":
        ref = np.repeat(entropy[..., :1], entropy.shape[-1] - 1, axis=-1)
    else:
        raise ValueError(f"reference must be 'previous' or 'first', got {reference!r}")
    out[..., 1:] = (ref - entropy[..., 1:]) / np.maximum(ref, EPS)
    return out


class TraceError(ValueError):
    """A trace file that cannot be read: the message says what is wrong and what to do."""


@dataclass
class Trace:
    logits: np.ndarray                      # (N, L, K)
    pooled: np.ndarray                      # (N, L, D) float16
    labels: np.ndarray                      # (N,) int64, -1 = unknown
    texts: list[str]
    flops_per_block: np.ndarray             # (L,)
    flops_embed: float = 0.0
    texts_b: list[str] | None = None
    proto_emb: np.ndarray | None = None     # (N, L, P)
    proto_dist: np.ndarray | None = None    # (N, L, K)
    prototypes: np.ndarray | None = None    # (L, K, P)
    lte: np.ndarray | None = None           # (N, L)
    meta: dict = field(default_factory=dict)
    # derived, filled in __post_init__
    probs: np.ndarray = field(init=False, repr=False)
    entropy: np.ndarray = field(init=False, repr=False)
    entropy_norm: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.logits = np.asarray(self.logits, dtype=np.float32)
        if self.logits.ndim != 3:
            raise TraceError(f"logits must be (N, L, K), got shape {self.logits.shape}")
        n, l, k = self.logits.shape
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.flops_per_block = np.asarray(self.flops_per_block, dtype=np.float64).reshape(-1)
        if len(self.labels) != n or len(self.texts) != n:
            raise TraceError(f"{n} samples of logits but {len(self.labels)} labels and {len(self.texts)} texts")
        if len(self.flops_per_block) != l:
            raise TraceError(f"{l} blocks of logits but {len(self.flops_per_block)} block costs")
        self.texts = list(map(str, self.texts))
        self.probs = softmax(self.logits).astype(np.float32, copy=False)
        self.entropy = entropy_nats(self.probs).astype(np.float32, copy=False)
        self.entropy_norm = (self.entropy / np.log(k)).astype(np.float32) if k > 1 else np.zeros_like(self.entropy)

    @functools.cached_property
    def frac_reduction(self) -> np.ndarray:
        """(N, L) ΔH per block, computed when first asked (the policies compute their own reading of it)."""
        return fractional_reduction(self.entropy)

    # shape
    @property
    def n(self) -> int:
        return self.logits.shape[0]

    @property
    def n_blocks(self) -> int:
        return self.logits.shape[1]

    @property
    def n_classes(self) -> int:
        return self.logits.shape[2]

    @property
    def preds(self) -> np.ndarray:
        """(N, L) int64 — the class each exit predicts."""
        return self.logits.argmax(axis=-1)

    @property
    def correct(self) -> np.ndarray:
        """(N, L) bool — exit l is right (False where the label is unknown)."""
        return (self.preds == self.labels[:, None]) & (self.labels[:, None] >= 0)

    @property
    def has_labels(self) -> bool:
        return bool((self.labels >= 0).all()) and self.n > 0

    @property
    def label_names(self) -> list[str]:
        return list(self.meta.get("label_names") or [str(k) for k in range(self.n_classes)])

    @property
    def flops_full(self) -> float:
        """FLOPs of one sample through every block and exit."""
        return float(self.flops_embed + self.flops_per_block.sum())

    def subset(self, idx) -> Trace:
        """The same trace restricted to the samples `idx` (an index array or boolean mask)."""
        idx = np.arange(self.n)[idx]
        pick = lambda a: None if a is None else a[idx]
        return Trace(
            logits=self.logits[idx], pooled=self.pooled[idx], labels=self.labels[idx],
            texts=[self.texts[i] for i in idx], flops_per_block=self.flops_per_block,
            flops_embed=self.flops_embed,
            texts_b=None if self.texts_b is None else [self.texts_b[i] for i in idx],
            proto_emb=pick(self.proto_emb), proto_dist=pick(self.proto_dist), prototypes=self.prototypes,
            lte=pick(self.lte), meta=dict(self.meta),
        )

    # save / load: one .npz, no pickle; written atomically
    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        arrays = {
            "logits": self.logits, "pooled": self.pooled.astype(np.float16), "labels": self.labels,
            "texts": np.array(self.texts, dtype=np.str_), "flops_per_block": self.flops_per_block,
            "flops_embed": np.float64(self.flops_embed),
            "meta": np.array(json.dumps({"format": TRACE_FORMAT, **self.meta})),
        }
        for name in ("proto_emb", "proto_dist", "prototypes", "lte"):
            a = getattr(self, name)
            if a is not None:
                arrays[name] = a.astype(np.float16) if name == "proto_emb" else a
        if self.texts_b is not None:
            arrays["texts_b"] = np.array(self.texts_b, dtype=np.str_)
        save_npz_atomic(path, compressed=True, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        path = Path(path)
        if not path.is_file():
            raise TraceError(f"no trace file at {path}: record one with `python -m core.inference record …`")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.pop("format", None) != TRACE_FORMAT:
                    raise TraceError(f"{path} is not an ExitLens trace ({TRACE_FORMAT}); record it again")
                get = lambda k: z[k] if k in z.files else None
                texts_b = get("texts_b")
                return cls(
                    logits=z["logits"], pooled=z["pooled"], labels=z["labels"], texts=list(z["texts"]),
                    flops_per_block=z["flops_per_block"], flops_embed=float(z["flops_embed"]),
                    texts_b=None if texts_b is None else list(texts_b),
                    proto_emb=get("proto_emb"), proto_dist=get("proto_dist"), prototypes=get("prototypes"),
                    lte=get("lte"), meta=meta,
                )
        except TraceError:
            raise
        except Exception as e:  # zip / npy / json damage
            raise TraceError(f"trace file {path} is damaged or not a trace ({type(e).__name__}: {e}); "
                             "delete it and record it again") from e

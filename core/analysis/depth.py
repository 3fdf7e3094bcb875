"""When a model makes up its mind: prediction depth, each block's divergence from the final answer, and the
confusion matrix per exit — read off a Trace's exits, no model.

* **prediction depth** (Baldock, Maennel & Neyshabur, "Deep Learning Through the Lens of Example Difficulty",
  NeurIPS 2021): the first layer from which every later layer's prediction equals the final one. Baldock et al.
  read the layers with k-NN probes; here every block has its own exit head, so it is read on the exits:
  depth d_n = min{b : pred_{b'} = pred_{L-1} for every b' ≥ b} (0-based; L-1 when only the last block says it).
  A sample with small depth is "easy": an exit rule can stop there without changing the answer.
* **KL to the final exit** (as tuned-lens' per-layer views, Belrose et al. 2023): KL(p_L ‖ p_b) in nats — how far
  block b's distribution is from the one the full model answers with (0 at the last block).
* **confusion per exit**: (L, K, K) counts, rows = true class, columns = the exit's prediction; and at the policy's
  exit (K, K).

Counts (histograms, confusions) are integer sums over samples, so a store read chunk by chunk
(core.certify.store_slices) gives them to the last digit; KL means are float sums (equal to ~1e-12 relative).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.metrics import need_labels
from core.policies import Exits
from core.trace import Trace


def prediction_depth(trace: Trace) -> np.ndarray:
    """(N,) int64: the first block (0-based) from which every later block predicts what the last block predicts."""
    p = trace.preds                                                       # (N, L)
    agree = p == p[:, -1:]                                                # the last column is always True
    settled = np.cumprod(agree[:, ::-1], axis=1).sum(axis=1)             # trailing run of agreement, ≥ 1
    return (trace.n_blocks - settled).astype(np.int64)


def depth_counts(trace: Trace, codes: np.ndarray, n_slices: int) -> np.ndarray:
    """(G, L) int64: samples of each slice whose prediction depth is block b."""
    d = prediction_depth(trace)
    flat = np.asarray(codes, np.int64) * trace.n_blocks + d
    return np.bincount(flat, minlength=n_slices * trace.n_blocks).reshape(n_slices, trace.n_blocks)


def depth_table(counts: np.ndarray, names) -> pd.DataFrame:
    """The histogram as a table: one row per slice, one column per block (1-based "block b"), + samples and the
    mean depth (1-based)."""
    counts = np.asarray(counts, np.int64)
    n_blocks = counts.shape[1]
    df = pd.DataFrame(counts, columns=[f"block {b + 1}" for b in range(n_blocks)])
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, (counts @ np.arange(1, n_blocks + 1)) / np.maximum(n, 1), np.nan)
    df.insert(0, "slice", list(names))
    df.insert(1, "samples", n)
    df["mean depth (1-based)"] = mean
    return df


def depth_histogram(trace: Trace, slicing=None) -> pd.DataFrame:
    """Prediction depth per slice (a core.analysis.slices.Slicing; None: all samples as one row)."""
    if slicing is None:
        return depth_table(depth_counts(trace, np.zeros(trace.n, np.int64), 1), ["all samples"])
    return depth_table(depth_counts(trace, slicing.codes(trace), len(slicing)), slicing.values)


def log_probs(trace: Trace) -> np.ndarray:
    """(N, L, K) float64 log-softmax of the logits (stable where a probability underflows to 0)."""
    z = trace.logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def kl_to_final(trace: Trace) -> np.ndarray:
    """(N, L) float64: KL(p_L ‖ p_b) = Σ_k p_L,k (ln p_L,k − ln p_b,k) in nats, 0 at the last block."""
    lp = log_probs(trace)
    last = lp[:, -1:, :]
    return (np.exp(last) * (last - lp)).sum(axis=-1)


def kl_sums(trace: Trace, codes: np.ndarray, n_slices: int) -> tuple[np.ndarray, np.ndarray]:
    """((G, L) Σ KL to the final exit, (G,) samples) per slice — divide for the mean."""
    kl = kl_to_final(trace)
    codes = np.asarray(codes, np.int64)
    sums = np.stack([np.bincount(codes, weights=kl[:, b], minlength=n_slices) for b in range(trace.n_blocks)], 1)
    return sums, np.bincount(codes, minlength=n_slices)


def mean_kl(trace: Trace, slicing=None) -> pd.DataFrame:
    """Mean KL(p_L ‖ p_b) per block (columns "block b", 1-based) and slice (rows)."""
    codes = np.zeros(trace.n, np.int64) if slicing is None else slicing.codes(trace)
    names = ["all samples"] if slicing is None else list(slicing.values)
    sums, n = kl_sums(trace, codes, len(names))
    return kl_table(sums, n, names)


def kl_table(sums: np.ndarray, n: np.ndarray, names) -> pd.DataFrame:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / np.where(n > 0, n, np.nan)[:, None]
    df = pd.DataFrame(mean, columns=[f"block {b + 1}" for b in range(sums.shape[1])])
    df.insert(0, "slice", list(names))
    df.insert(1, "samples", np.asarray(n, np.int64))
    return df


def confusion_per_exit(trace: Trace, mask=None) -> np.ndarray:
    """(L, K, K) int64: per exit, rows = true class, columns = that exit's prediction (on ``mask``'s samples)."""
    need_labels(trace, "the confusion matrix per exit")
    y, p = trace.labels, trace.preds
    if mask is not None:
        y, p = y[mask], p[mask]
    k, n_blocks = trace.n_classes, trace.n_blocks
    flat = (np.arange(n_blocks)[None, :] * k + y[:, None]) * k + p          # (n, L)
    return np.bincount(flat.ravel(), minlength=n_blocks * k * k).reshape(n_blocks, k, k)


def confusion_at_exit(trace: Trace, exits: Exits, mask=None) -> np.ndarray:
    """(K, K) int64: rows = true class, columns = the policy's answer."""
    need_labels(trace, "the confusion matrix at the policy's exit")
    y, p = trace.labels, np.asarray(exits.pred, np.int64)
    if mask is not None:
        y, p = y[mask], p[mask]
    k = trace.n_classes
    return np.bincount(y * k + p, minlength=k * k).reshape(k, k)

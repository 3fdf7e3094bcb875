"""Per-block exit signals: what every exit policy reads off a Trace, each one describing itself.

All signal functions are pure numpy, (N, l) for a trace of l blocks, and **causal** — column i reads blocks
≤ i only — so a policy gives the same answer on a partial trace during real early exit as on the full one.
``SIGNALS`` names each signal with its label, unit, range and formula (sources: methods.md §1.5, §2.2,
§4–§5), so charts, the sidebar and the Learn page label themselves from it; ``sample_signals`` gives one
sample's signals as labelled :class:`core.util.stat.Stat` values.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.trace import EPS, Trace, fractional_reduction
from core.util import Stat

# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Reductions over the class axis

def class_argmax(x: np.ndarray) -> np.ndarray:
    """argmax over the last (class) axis, (..., K) → (...) int64, the first maximum on ties — the same as
    ``x.argmax(-1)`` (so the same as ``Trace.preds``) for finite x, but a loop over the K classes: numpy's
    reduction over a short last axis is ~8× slower on (N, L, 2)."""
    n_classes = x.shape[-1]
    best = x[..., 0]
    out = np.zeros(best.shape, dtype=np.int64)
    for k in range(1, n_classes):
        xk = x[..., k]
        better = xk > best                       # strict: an earlier class keeps a tie
        out = better.astype(np.int64) if k == 1 else np.where(better, k, out)
        if k < n_classes - 1:
            best = np.maximum(best, xk)
    return out


def class_max(x: np.ndarray) -> np.ndarray:
    """max over the last (class) axis, (..., K) → (...), as a loop over the K classes (see class_argmax)."""
    out = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        np.maximum(out, x[..., k], out=out)
    return out



# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Signals (all (N, l), causal)

def max_prob(trace: Trace) -> np.ndarray:
    """SDN confidence max_k p_{i,k}, (N, l)."""
    return class_max(trace.probs)


def margin(trace: Trace) -> np.ndarray:
    """Top-1 minus top-2 probability per block, (N, l) in [0, 1] (a margin-sampling confidence: how far
    the winning class is ahead of the runner-up)."""
    p = trace.probs
    if p.shape[-1] == 2:                       # binary: |p1 − p0|, without a sort
        return np.abs(p[..., 1] - p[..., 0])
    top2 = np.partition(p, -2, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def patience_count(trace: Trace) -> np.ndarray:
    """PABEE counter, (N, l) int64: cnt_0 = 0, cnt_i = cnt_{i-1} + 1 if argmax_i == argmax_{i-1} else 0.

    A loop over blocks (the recurrence), vectorized over samples, in block-major layout so every step
    reads contiguous memory; returned as an (N, l) view."""
    preds = class_argmax(trace.logits.transpose(1, 0, 2))               # (l, N)
    cnt = np.zeros(preds.shape, dtype=np.int64)
    for i in range(1, preds.shape[0]):
        cnt[i] = np.where(preds[i] == preds[i - 1], cnt[i - 1] + 1, 0)
    return cnt.T


def frac_reduction_signal(trace: Trace, reference: str = "previous") -> np.ndarray:
    """BEExformer ΔH_i per block, (N, l) float64, NaN at block 0 (no predecessor, so it never fires)."""
    s = fractional_reduction(trace.entropy, reference).astype(np.float64)
    s[:, :1] = np.nan
    return s


def _require(trace: Trace, field: str, policy: str, why: str) -> np.ndarray:
    a = getattr(trace, field)
    if a is None:
        raise ValueError(f"policy {policy!r} needs trace.{field} ({why}), but this trace has none: "
                         f"record it with a model that has {why}, or pick another policy")
    return a


def prototype_radii(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """DE³ r1, r2, each (N, l): r1 = distance to the prototype of the exit's predicted class, r2 = the
    smallest distance to any other class's prototype (methods §2.2, the reading that lets r1 > r2)."""
    dist = _require(trace, "proto_dist", "edr", "DE³ prototype heads")                       # (N, l, K)
    if dist.shape != trace.logits.shape:
        raise ValueError(f"trace.proto_dist has shape {dist.shape} but the logits are {trace.logits.shape}")
    pred = class_argmax(trace.logits)                                                        # (N, l)
    if dist.shape[-1] == 2:                  # the common binary case in two selects
        is_1 = pred == 1
        return np.where(is_1, dist[..., 1], dist[..., 0]), np.where(is_1, dist[..., 0], dist[..., 1])
    r1 = np.take_along_axis(dist, pred[..., None], axis=-1)[..., 0]
    r2 = np.full(pred.shape, np.inf, dtype=dist.dtype)
    for k in range(dist.shape[-1]):          # a loop over classes, not samples
        np.minimum(r2, np.where(pred == k, np.inf, dist[..., k]), out=r2)
    return r1, r2


def dr(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """DE³ distance ratio DR = ½·(1 + (r1 − r2)/max(r1, r2)) in [0, 1] for non-negative distances.

    0.5 = equidistant, → 0 = much closer to the predicted class, > 0.5 = the nearest prototype disagrees
    with the classifier. r1 = r2 = 0 gives 0.5 (eps guard)."""
    r1, r2 = np.asarray(r1), np.asarray(r2)
    dtype = np.result_type(r1, r2, np.float32)          # float32 traces stay float32 (half the memory)
    r1, r2 = r1.astype(dtype, copy=False), r2.astype(dtype, copy=False)
    return 0.5 * (1.0 + (r1 - r2) / np.maximum(np.maximum(r1, r2), EPS))


def edr_from(dr_: np.ndarray, h_norm: np.ndarray, lam: float) -> np.ndarray:
    """EDR = (λ+1) / (λ/DR + 1/H̃), the λ-weighted harmonic mean of DR and the normalized entropy.

    Written as (λ+1)·DR·H̃ / (λ·H̃ + DR) so DR = 0 or H̃ = 0 give 0 (exit) without dividing by zero;
    λ = 0 is exactly H̃ (DR gets no weight)."""
    dr_, h = np.asarray(dr_), np.asarray(h_norm)
    dtype = np.result_type(dr_, h, np.float32)
    dr_, h = dr_.astype(dtype, copy=False), h.astype(dtype, copy=False)
    if lam == 0:
        return h.copy()
    den = np.asarray(lam * h + dr_)
    ok = den > EPS
    num = np.asarray((lam + 1.0) * dr_ * h)
    return np.where(ok, num / np.where(ok, den, 1.0), 0.0).astype(dtype, copy=False)


def dr_signal(trace: Trace) -> np.ndarray:
    """DE³ DR per block, (N, l)."""
    return dr(*prototype_radii(trace))


def edr(trace: Trace, lam: float = 1.0) -> np.ndarray:
    """DE³-BERT hybrid indicator EDR_i(λ) per block, (N, l), from the trace's prototype distances and
    normalized entropy (COSEE's entropy, methods §2.2)."""
    return edr_from(dr_signal(trace), trace.entropy_norm, lam)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# What each signal is

@dataclass(frozen=True)
class SignalInfo:
    """How a signal describes itself: ``label`` and ``unit`` for axes, ``value_range(n_blocks, n_classes)``
    for its axis span, ``formula`` and ``source`` for the Learn page and tooltips."""

    key: str
    label: str
    unit: str
    formula: str
    source: str
    value_range: Callable[[int, int], tuple[float, float]]


SIGNALS: dict[str, SignalInfo] = {s.key: s for s in (
    SignalInfo("entropy", "entropy H(p)", "nats", "H(p_i) = −Σ_k p_ik ln p_ik", "DeeBERT, Xin et al. ACL 2020",
               lambda L, K: (0.0, float(np.log(K)))),
    SignalInfo("entropy_norm", "normalized entropy H/ln K", "× ln K", "H(p_i) / ln K", "FastBERT, Liu et al. ACL 2020",
               lambda L, K: (0.0, 1.0)),
    SignalInfo("max_prob", "max probability", "probability", "max_k p_ik", "Shallow-Deep Networks, Kaya et al. 2019",
               lambda L, K: (1.0 / K, 1.0)),
    SignalInfo("margin", "top-1 − top-2 probability", "probability", "p_i(1) − p_i(2) (sorted probabilities)",
               "margin sampling (Scheffer et al. 2001), as an exit confidence", lambda L, K: (0.0, 1.0)),
    SignalInfo("patience", "patience counter", "blocks", "cnt_i = cnt_{i−1} + 1 if argmax p_i = argmax p_{i−1} else 0",
               "PABEE, Zhou et al. NeurIPS 2020", lambda L, K: (0.0, float(max(L - 1, 1)))),
    SignalInfo("frac_reduction", "fractional entropy reduction ΔH", "fraction of H_ref",
               "ΔH_i = (H_ref − H_i) / H_ref", "BEExformer, Ansar et al. 2024 (methods §1.5)",
               lambda L, K: (-1.0, 1.0)),
    SignalInfo("dr", "distance ratio DR", "0–1", "DR = ½(1 + (r1 − r2)/max(r1, r2))", "DE³-BERT (methods §2.2)",
               lambda L, K: (0.0, 1.0)),
    SignalInfo("edr", "hybrid indicator EDR", "0–1", "EDR = (λ+1) / (λ/DR + 1/H̃)", "DE³-BERT (methods §2.2)",
               lambda L, K: (0.0, 1.0)),
    SignalInfo("lte", "learn-to-exit score u", "0–1", "u_i = σ(w·h_i + b), trained to predict a wrong exit",
               "BERxiT, Xin et al. EACL 2021", lambda L, K: (0.0, 1.0)),
)}


def signal_values(trace: Trace, key: str, lam: float = 1.0, reference: str = "previous") -> np.ndarray | None:
    """The (N, l) values of signal ``key`` (None when the trace cannot give it: no prototypes / LTE)."""
    if key == "entropy":
        return trace.entropy
    if key == "entropy_norm":
        return trace.entropy_norm
    if key == "max_prob":
        return max_prob(trace)
    if key == "margin":
        return margin(trace)
    if key == "patience":
        return patience_count(trace).astype(float)
    if key == "frac_reduction":
        return frac_reduction_signal(trace, reference)
    if key in ("dr", "edr"):
        if trace.proto_dist is None:
            return None
        return dr_signal(trace) if key == "dr" else edr(trace, lam)
    if key == "lte":
        return None if trace.lte is None else trace.lte.astype(float)
    raise ValueError(f"unknown signal {key!r}; choose one of {sorted(SIGNALS)}")


def sample_signals(trace: Trace, i: int, lam: float = 1.0, reference: str = "previous") -> dict[str, Stat]:
    """Every per-block signal of sample ``i`` (L values each) as a labelled Stat; ΔH with ``reference`` and
    EDR with ``lam`` (pass the policy's own, so the chart shows exactly what the policy tests)."""
    one = trace.subset([i])
    out = {}
    for key, info in SIGNALS.items():
        values = signal_values(one, key, lam, reference)
        if values is None:
            continue
        label = info.label + (f" ({reference})" if key == "frac_reduction" else f" (λ={lam:g})" if key == "edr" else "")
        out[key] = Stat(label, values[0], info.unit, info.value_range(trace.n_blocks, trace.n_classes),
                        f"{info.formula} — {info.source}")
    return out

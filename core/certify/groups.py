"""A guarantee for every slice: the fastest exit threshold whose risk is ≤ ε in each slice at once.

A certificate of core.certify.ltt bounds the risk on average over new inputs; a slice (long sentences, negations,
one class) can break ε while the average holds. Here (``core.certify.ltt.certify(..., groups=g)``):

* **Learn-then-Test per slice at δ/G.** In every slice g, fixed-sequence testing of the Hoeffding–Bentkus
  p-values of the slice's own errors (the same test as core.certify.ltt) at level δ/G certifies a prefix of the grid
  (conservative → fast). By the union bound (Bonferroni), with probability ≥ 1 − δ over the calibration draw every
  slice's certified prefix holds at once, so the shortest prefix — the most cautious of the slices' thresholds —
  has risk ≤ ε in **every** slice. Conditioning on which calibration rows fall in which slice leaves each
  slice's rows i.i.d. from that slice (a slice depends on the input and the final exit only, never on λ), so the
  guarantee is per slice, for new inputs of that slice.
* **Conformal risk control per slice** (``method="crc"``): the expected risk of each slice ≤ ε (Mondrian CRC on
  the monotonized losses, as core.certify.ltt); the most cautious of the slices' thresholds keeps every slice's bound.
* **Slices too small to certify anything** — fewer samples than ε at δ/G needs even with zero errors
  (n ≥ ln(δ/G)/ln(1 − ε) for LTT, n ≥ 1/ε − 1 for CRC) — would force the full model for everyone. They are decided
  by their size alone (never by their errors), listed with the reason in ``slices`` and ``uncovered``, left out of
  G, and the guarantee text names them: the certificate says nothing about them.

Counts are integers per slice, so a store certified chunk by chunk (store_slices) gives the same certificate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.analysis import (
    RISKS,
    Slicing,
    crc_bound,
    fixed_sequence,
    hb_p_values,
    loss,
    make_slicing,
    rows_label,
    sweep,
    upper_bound,
)
from core.policies import Policy, ThresholdPolicy, class_argmax, decide, decide_many
from core.trace import Trace


def group_risk_counts(trace: Trace, pol: ThresholdPolicy, thresholds, codes, n_slices: int):
    """(sorted thresholds (T,), {risk: errors (G, T)}, {risk: monotonized errors (G, T)}) per slice along the grid
    from the most conservative threshold to the fastest: core.certify.ltt.risk_counts with a slice index added to
    every count key (one sample's answer is constant on the ≤ L + 1 segments of core.policies.rules.decide_many)."""
    seg = decide_many(pol, trace, thresholds)
    t_count, n = len(seg.thresholds), trace.n
    codes = np.asarray(codes, np.int64)
    preds = class_argmax(trace.logits.transpose(1, 0, 2))                        # (L, N)
    answer = np.concatenate([preds, preds[seg.fallback, np.arange(n)][None]])    # (L+1, N) per segment
    lo, hi = seg.lo, seg.hi                                                      # (L+1, N)
    size, width = n_slices * (t_count + 1), t_count + 1
    key = np.broadcast_to(codes[None, :] * width, lo.shape)
    errors, mono = {}, {}
    for risk in RISKS:
        live = loss(answer, preds[-1][None], trace.labels[None], risk) & (lo < hi)   # (L+1, N)
        k = key[live]
        delta = np.bincount(k + lo[live], minlength=size) - np.bincount(k + hi[live], minlength=size)
        errors[risk] = np.cumsum(delta.reshape(n_slices, width), axis=1)[:, :t_count]
        first = np.where(live, lo, t_count).min(axis=0)                          # (N,) first lossy position
        mono[risk] = np.cumsum(np.bincount(codes * width + first, minlength=size).reshape(n_slices, width),
                               axis=1)[:, :t_count]
    return seg.thresholds[seg.order], errors, mono


def needed_n(epsilon: float, delta_slice: float, method: str) -> int:
    """The fewest samples a slice needs to certify ε at all (with zero errors): 1 − δ^(1/n) ≤ ε for LTT
    (n ≥ ln δ / ln(1 − ε)), 1/(n + 1) ≤ ε for CRC."""
    if epsilon >= 1:
        return 1
    if method == "ltt":
        return max(1, math.ceil(math.log(delta_slice) / math.log1p(-epsilon) - 1e-9))
    return max(1, math.ceil(1.0 / epsilon - 1.0 - 1e-9))


@dataclass(frozen=True)
class GroupCertificate:
    """One threshold certified in every covered slice (see the module docstring)."""

    threshold: float | None      # None: nothing certified in every slice → the full model
    bound: float                 # the largest covered slice's bound at the threshold (0 at full depth)
    n: int                       # calibration samples, all slices
    epsilon: float
    delta: float
    delta_slice: float           # δ/G of each slice's test (LTT); NaN for CRC (expected risk)
    method: str
    risk: str
    slicing: str                 # what the slices are
    slices: pd.DataFrame         # one row per slice: samples, covered, errors, risk, bound, alone, note
    layer_speedup: float         # on the calibration rows (1 at full depth)
    flops_reduction: float
    policy: Policy | None
    policy_name: str
    base_policy: Policy = field(repr=False)
    thresholds: np.ndarray = field(repr=False, default=None)   # (T,) conservative → fast
    bounds: np.ndarray = field(repr=False, default=None)       # (G, T) each slice's bound along the grid
    index: int | None = None
    rows: str = ""               # which rows it was certified on, in words

    @property
    def certified(self) -> bool:
        return self.threshold is not None

    @property
    def uncovered(self) -> list[str]:
        return self.slices.loc[~self.slices["covered"], "slice"].tolist()

    def to_dict(self) -> dict:
        keys = ("threshold", "bound", "n", "epsilon", "delta", "delta_slice", "method", "risk", "slicing",
                "layer_speedup", "flops_reduction", "policy_name", "rows")
        out = {k: getattr(self, k) for k in keys}
        out["slices"] = self.slices.to_dict(orient="records")
        out["guarantee"] = group_guarantee_text(self)
        return out


def certify_from_group_counts(pol: ThresholdPolicy, slicing: Slicing, n_g, ordered, k, k_mono, sw: pd.DataFrame,
                              epsilon: float, delta: float, risk: str, method: str, rows: str = "") -> GroupCertificate:
    """The grouped certificate from per-slice sample counts ``n_g`` (G,), errors ``k`` / ``k_mono`` (G, T) along the
    sorted grid ``ordered`` and the whole data's sweep ``sw`` in that order (in memory or chunk by chunk: equal)."""
    n_g = np.asarray(n_g, np.int64)
    g_all = len(n_g)
    first = needed_n(epsilon, delta / g_all, method)
    covered = n_g >= first                          # by size alone: never by the errors
    g_cov = int(covered.sum())
    d_slice = delta / max(g_cov, 1) if method == "ltt" else float("nan")
    bounds = np.full((g_all, len(ordered)), np.nan)
    alone = np.zeros(g_all, np.int64)
    for g in np.flatnonzero(n_g > 0):
        if method == "ltt":
            bounds[g] = upper_bound(k[g], int(n_g[g]), d_slice)
            alone[g] = fixed_sequence(hb_p_values(k[g], int(n_g[g]), float(epsilon)), d_slice) if covered[g] else 0
        else:
            bounds[g] = crc_bound(k_mono[g], int(n_g[g]))
            alone[g] = int(np.cumprod(bounds[g] <= epsilon).sum()) if covered[g] else 0
    m = int(alone[covered].min()) if g_cov else 0
    j = m - 1
    notes = ["" if c else ("no calibration sample" if n == 0 else
                           f"too small: ε = {epsilon:g} needs ≥ {first} samples even with no error")
             for c, n in zip(covered, n_g)]
    table = pd.DataFrame({
        "slice": list(slicing.values), "samples": n_g, "covered": covered,
        "errors": [int(k[g, j]) if m else 0 for g in range(g_all)],
        "empirical risk": [k[g, j] / n_g[g] if m and n_g[g] else (0.0 if n_g[g] else np.nan) for g in range(g_all)],
        "risk bound": [bounds[g, j] if m else (0.0 if n_g[g] else np.nan) for g in range(g_all)],
        "fastest threshold alone": [float(ordered[a - 1]) if a else None for a in alone],
        "note": notes})
    common = dict(n=int(n_g.sum()), epsilon=float(epsilon), delta=float(delta), delta_slice=float(d_slice),
                  method=method, risk=risk, slicing=slicing.name, slices=table, policy_name=pol.name,
                  base_policy=pol, thresholds=np.asarray(ordered), bounds=bounds, rows=rows)
    if m == 0:
        return GroupCertificate(threshold=None, bound=0.0, layer_speedup=1.0, flops_reduction=0.0, policy=None,
                                **common)
    t = float(ordered[j])
    return GroupCertificate(threshold=t, bound=float(np.nanmax(bounds[covered, j])),
                            layer_speedup=float(sw["layer_speedup"].iloc[j]),
                            flops_reduction=float(sw["flops_reduction"].iloc[j]), policy=pol.replace(threshold=t),
                            index=j, **common)


def as_slicing(trace, groups) -> Slicing:
    return groups if isinstance(groups, Slicing) else make_slicing(trace, groups)


def certify_by_group(trace: Trace, pol: ThresholdPolicy, thresholds, epsilon: float, delta: float, risk: str,
                     method: str, groups) -> GroupCertificate:
    """``core.certify.ltt.certify(..., groups=groups)`` after its checks: ``groups`` a Slicing, a make_slicing name or
    one value per calibration sample."""
    slicing = as_slicing(trace, groups)
    codes = slicing.codes(trace)
    ordered, errors, mono = group_risk_counts(trace, pol, thresholds, codes, len(slicing))
    n_g = np.bincount(codes, minlength=len(slicing))
    return certify_from_group_counts(pol, slicing, n_g, ordered, errors[risk], mono[risk], sweep(trace, pol, ordered),
                                     epsilon, delta, risk, method, rows_label(trace))


def risk_sums(trace: Trace, policy: Policy | None, codes, n_slices: int, risk: str) -> tuple[np.ndarray, np.ndarray]:
    """((G,) samples, (G,) errors) of ``policy`` (None: the full model, no errors) per slice."""
    if risk not in RISKS:
        raise ValueError(f"risk must be one of {sorted(RISKS)}, got {risk!r}")
    codes = np.asarray(codes, np.int64)
    n_g = np.bincount(codes, minlength=n_slices)
    if policy is None:
        return n_g, np.zeros(n_slices, np.int64)
    final = class_argmax(trace.logits[:, -1])
    lossy = loss(np.asarray(decide(policy, trace).pred), final, trace.labels, risk)
    return n_g, np.bincount(codes[lossy], minlength=n_slices)


def risk_table(n_g, errors, slicing: Slicing, epsilon: float, delta: float | None = None,
               rows: str = "") -> pd.DataFrame:
    """Per slice: samples, errors, risk and whether it is above ε; with ``delta`` also the Clopper–Pearson bound at
    1 − δ/G (G: the non-empty slices) and whether that bound is above ε — the slice breaks the guarantee."""
    n_g, errors = np.asarray(n_g, np.int64), np.asarray(errors, np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(n_g > 0, errors / np.maximum(n_g, 1), np.nan)
    df = pd.DataFrame({"slice": list(slicing.values), "samples": n_g, "errors": errors, "risk": r,
                       "risk above ε": r > epsilon})
    if delta is not None:
        g = max(int((n_g > 0).sum()), 1)
        df["risk bound"] = np.where(n_g > 0, upper_bound(errors, np.maximum(n_g, 1), delta / g), np.nan)
        df["bound above ε"] = df["risk bound"] > epsilon
        df.attrs["delta_slice"] = delta / g
    df.attrs.update(rows=rows, epsilon=epsilon)
    return df


def risk_by_slice(trace: Trace, policy: Policy | None, groups, epsilon: float, delta: float | None = None,
                  risk: str = "induced") -> pd.DataFrame:
    """The risk of ``policy`` (e.g. a global certificate's; None = the full model) in each slice of ``trace``: on
    calibration rows with ``delta`` (which slices the global threshold may break, bound at δ/G), on report rows
    without (the realized risk per slice). ``attrs["rows"]`` says which rows."""
    slicing = as_slicing(trace, groups)
    n_g, errors = risk_sums(trace, policy, slicing.codes(trace), len(slicing), risk)
    return risk_table(n_g, errors, slicing, epsilon, delta, rows_label(trace))


def group_guarantee_text(gc: GroupCertificate) -> str:
    """What is guaranteed, for which slices, and for which not — in one paragraph."""
    what = RISKS[gc.risk]
    cov = gc.slices[gc.slices["covered"]]
    names = ", ".join(cov["slice"])
    left = gc.slices[~gc.slices["covered"]]
    left_txt = ("" if left.empty else " No guarantee for " + "; ".join(
        f"{r.slice} ({r.samples} samples: {r.note})" for r in left.itertuples()) + ".")
    if not gc.certified:
        why = "no slice has enough calibration samples" if cov.empty else \
            f"no threshold of the {gc.policy_name} grid passed the test in every slice"
        return (f"Nothing could be certified at ε = {gc.epsilon:g} in every slice by {gc.slicing} ({why}), so the "
                f"certified choice is the full model (it never exits early).{left_txt}")
    sym = getattr(gc.base_policy, "symbol", "threshold")
    where = f"exiting by {gc.policy_name} at {sym} = {gc.threshold:.4g}"
    if gc.method == "ltt":
        head = (f"With probability at least {1 - gc.delta:.3g} over the calibration draw ({gc.n:,} samples; each of "
                f"the {len(cov)} slices tested at δ/G = {gc.delta_slice:.3g}), {where} {what} on at most "
                f"{gc.epsilon:g} of new inputs in each slice by {gc.slicing}: {names}.")
    else:
        head = (f"On average over calibration draws ({gc.n:,} samples), {where} {what} on at most {gc.epsilon:g} of "
                f"new inputs in each slice by {gc.slicing} ({names}) — in expectation only.")
    return head + left_txt + (" A rate over many inputs of each slice, not a promise about a single sentence, and "
                              "void if the inputs shift.")

"""Threshold sweeps, the Pareto front, and choosing a threshold on one split to report on another.

``sweep`` evaluates a policy at T thresholds in O(N·L + T) through core.policies.batch (no model run, no
(T, N, L) tensor); ``best_threshold`` tunes on one split and reports on another; ``split_halves`` makes
two such splits. Every column of the sweep table is labelled in ``SWEEP_COLUMNS``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis.metrics import (
    COST_CONVENTIONS,
    cost_from_hist,
    metric,
    metric_from_confusion,
    need_labels,
    task_metric,
)
from core.policies import (
    DEFAULT_GRID_SIZE,
    POLICIES,
    Oracle,
    OutcomeCodes,
    Policy,
    ThresholdPolicy,
    decide,
    decide_many,
    exits_counts,
    segment_counts,
)
from core.trace import Trace

SWEEP_COLUMNS: dict[str, dict] = {
    "policy": {"label": "policy", "unit": ""},
    "threshold": {"label": "threshold", "unit": "policy's unit (see core.policies.rules)"},
    "metric": {"label": "task metric", "unit": "see metric_name"},
    "metric_name": {"label": "metric", "unit": ""},
    "accuracy": {"label": "accuracy", "unit": "fraction"},
    **{k: {"label": v["label"], "unit": v["unit"]} for k, v in COST_CONVENTIONS.items()
       if k not in ("exit_histogram", "flops_full")},
    "exit_induced_errors": {"label": "exit-induced errors (early exit wrong, final right)", "unit": "samples"},
    "exit_fixed_errors": {"label": "exit-fixed errors (early exit right, final wrong)", "unit": "samples"},
    "params": {"label": "fixed parameters (JSON)", "unit": ""},
}


def _rows(counts: np.ndarray, labelled: bool, trace: Trace, metric: str) -> dict[str, np.ndarray]:
    hist = counts.sum(axis=(2, 3, 4))                                        # (T, L)
    out = cost_from_hist(hist, trace)
    conf = counts.sum(axis=(1, 2))                                           # (T, K, K)
    if labelled:
        k = trace.n_classes
        off = ~np.eye(k, dtype=bool)
        out["metric"] = np.atleast_1d(metric_from_confusion(metric, conf))
        out["accuracy"] = np.atleast_1d(metric_from_confusion("accuracy", conf))
        out["exit_induced_errors"] = counts[:, :, 1][..., off].sum(axis=(1, 2))   # final right, answer wrong
        out["exit_fixed_errors"] = np.trace(counts[:, :, 0].sum(axis=1), axis1=-2, axis2=-1)  # final wrong, right
    else:
        for key in ("metric", "accuracy", "exit_induced_errors", "exit_fixed_errors"):
            out[key] = np.full(len(hist), np.nan)
    return out


def policy_template(policy, trace: Trace, fixed_params: dict) -> Policy:
    """A policy instance carrying the fixed parameters (its threshold is a placeholder)."""
    if isinstance(policy, Policy):
        return policy.replace(**fixed_params) if fixed_params else policy
    cls = POLICIES.get(policy) if isinstance(policy, str) else policy
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise ValueError(f"unknown policy {policy!r}; choose one of {sorted(POLICIES)}")
    if "threshold" in fixed_params:
        raise ValueError("sweep: pass the thresholds as `thresholds=`, not as a fixed `threshold=`")
    if issubclass(cls, ThresholdPolicy):
        return cls(threshold=cls.threshold_range(trace)[0], **fixed_params)
    return cls(**fixed_params)


def _params_json(pol: Policy) -> str:
    p = {k: v for k, v in pol.params.items() if k != "threshold"}
    return json.dumps(p, sort_keys=True, default=lambda v: np.asarray(v).tolist())


def sweep_thresholds(pol: Policy, trace: Trace, thresholds=None) -> np.ndarray | None:
    """The thresholds ``sweep`` evaluates: None for a policy without one (the oracle), the policy's
    ``grid(trace)`` by default, else ``thresholds`` as (T,) scalars or (T, L) per-block rows. Depends on
    the trace's shape only (K, L), so a store (core.trace.store) gives the same grid as its Trace."""
    if not isinstance(pol, ThresholdPolicy):
        return None
    thr = type(pol).grid(trace) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return thr if thr.ndim == 2 else thr.reshape(-1)


def sweep_counts(pol: Policy, trace: Trace, thr: np.ndarray | None,
                 codes: OutcomeCodes | None = None) -> tuple[np.ndarray, bool]:
    """(T, L, 2, K, K) int64 outcome counts per threshold (core.policies.batch), in the order of ``thr`` (the
    output of ``sweep_thresholds``). Counts are sums over samples, so the counts of a trace are the sums of
    its chunks' counts (core.analysis.chunked) — exactly. ``codes``: the trace's ``outcome_codes``, if at hand."""
    if thr is None:
        return exits_counts(decide(pol, trace), trace)
    if thr.ndim == 2:      # per-block thresholds: the vectorized path needs scalars
        parts = [exits_counts(decide(pol.replace(threshold=row), trace), trace)[0] for row in thr]
        empty = np.zeros((0, trace.n_blocks, 2) + (trace.n_classes,) * 2, np.int64)
        return (np.concatenate(parts) if parts else empty), trace.has_labels
    seg = decide_many(pol, trace, thr)
    sorted_counts, labelled = segment_counts(seg, trace, codes)
    counts = np.empty_like(sorted_counts)
    counts[seg.order] = sorted_counts                                 # back to the caller's order
    return counts, labelled


def sweep_frame(pol: Policy, thr: np.ndarray | None, counts: np.ndarray, labelled: bool, trace: Trace) -> pd.DataFrame:
    """The sweep table of ``counts``; ``trace`` gives K, L, the costs and the task metric only (a store works)."""
    name = task_metric(trace)
    column = [np.nan] if thr is None else ([row.tolist() for row in thr] if thr.ndim == 2 else thr)
    cols = _rows(counts, labelled, trace, name)
    df = pd.DataFrame({
        "policy": pol.name, "threshold": column, "metric": cols["metric"], "metric_name": name,
        "accuracy": cols["accuracy"],
        **{k: cols[k] for k in ("avg_exit_block", "layer_speedup", "saved_layers", "expected_flops",
                                "flops_reduction", "exit_induced_errors", "exit_fixed_errors")},
        "params": _params_json(pol),
    })
    df.attrs["columns"] = SWEEP_COLUMNS
    return df


def sweep(trace: Trace, policy, thresholds=None, **fixed_params) -> pd.DataFrame:
    """One row per threshold: metric, accuracy, cost (``COST_CONVENTIONS``) and exit-induced / exit-fixed
    error counts (methods §6), for ``policy`` (a registry name, a class or an instance) on ``trace``.

    ``thresholds``: None = the policy's ``grid(trace)``; a (T,) array of scalars (vectorized, see
    ``core.policies.decide_many``); or a (T, L) array of per-block thresholds (one ``decide`` per row).
    The oracle has no threshold and gives one row. Without labels the metric columns are NaN."""
    pol = policy_template(policy, trace, fixed_params)
    thr = sweep_thresholds(pol, trace, thresholds)
    counts, labelled = sweep_counts(pol, trace, thr)
    return sweep_frame(pol, thr, counts, labelled, trace)


def sweep_all(trace: Trace, n: int = DEFAULT_GRID_SIZE, include_oracle: bool = False,
              params: dict[str, dict] | None = None) -> pd.DataFrame:
    """``sweep`` of every policy that can run on ``trace`` (EDR needs proto_dist, LTE needs lte, the
    oracle labels) over its default grid of ``n`` thresholds; ``params`` = {policy name: fixed params}."""
    params = params or {}
    frames = []
    for name, cls in POLICIES.items():
        if cls.missing(trace) or (cls is Oracle and not include_oracle):
            continue
        thr = cls.grid(trace, n) if issubclass(cls, ThresholdPolicy) else None
        frames.append(sweep(trace, name, thr, **params.get(name, {})))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["columns"] = SWEEP_COLUMNS
    return df


def pareto_front(df: pd.DataFrame, x: str = "layer_speedup", y: str = "metric") -> pd.DataFrame:
    """The rows no other row beats on both ``x`` and ``y`` (both maximized), sorted by ``x`` ascending.
    Of identical (x, y) points the first is kept; rows with NaN in x or y are ignored."""
    d = df.dropna(subset=[x, y])
    d = d.sort_values([x, y], ascending=[False, False], kind="mergesort")    # best x first, then best y
    ys = d[y].to_numpy(dtype=np.float64)
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(ys)[:-1]]) if len(ys) else ys
    front = d[ys > best_before]             # beats the best y of every row with a larger-or-equal x
    return front.sort_values(x, kind="mergesort")


@dataclass(frozen=True)
class Tuned:
    """A threshold chosen on one split (``tune``) and reported on another (``test``)."""

    policy: str
    threshold: float
    params: dict
    target: str                 # e.g. "metric drop ≤ 0.01" or "layer_speedup ≥ 2"
    feasible: bool              # False: no threshold met the target on the tuning split (closest taken)
    tune: dict                  # the sweep row on the tuning split, plus baseline_metric and drop
    test: dict                  # the same threshold on the held-out split

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"split": "tune", **self.tune}, {"split": "test", **self.test}])


def _final_metric(trace: Trace, name: str) -> float:
    return metric(name, trace.labels, trace.preds[:, -1])


def best_threshold(tune_trace: Trace, test_trace: Trace, policy, target_drop: float | None = None,
                   target_speedup: float | None = None, thresholds=None, speed: str = "layer_speedup",
                   **fixed_params) -> Tuned:
    """Choose a threshold on ``tune_trace`` and report it on ``test_trace`` (never tune on the test split).

    target_drop: the largest ``speed`` whose metric is within target_drop of the full model's (final
    exit's) metric on the tuning split (absolute, 0.01 = one point). target_speedup: the best metric
    with ``speed`` ≥ target_speedup. Ties go to the other criterion. When nothing meets the target the
    closest threshold is returned with ``feasible=False``."""
    if (target_drop is None) == (target_speedup is None):
        raise ValueError("best_threshold: give exactly one of target_drop (e.g. 0.01) or target_speedup (e.g. 2.0)")
    if speed not in ("layer_speedup", "flops_reduction", "saved_layers"):
        raise ValueError(f"speed must be layer_speedup, flops_reduction or saved_layers, got {speed!r}")
    for tr, split in ((tune_trace, "tuning"), (test_trace, "held-out")):
        need_labels(tr, f"best_threshold ({split} split)")
    pol = policy_template(policy, tune_trace, fixed_params)
    if not isinstance(pol, ThresholdPolicy):
        raise ValueError(f"best_threshold: policy {pol.name!r} has no threshold to tune")
    if thresholds is not None and np.ndim(thresholds) != 1:
        raise ValueError("best_threshold tunes one scalar threshold: give `thresholds` as a 1-D list")
    name = task_metric(tune_trace)
    df = sweep(tune_trace, pol, thresholds)
    base = _final_metric(tune_trace, name)
    m, v = df["metric"].to_numpy(), df[speed].to_numpy()
    if target_drop is not None:
        if not np.isfinite(target_drop) or target_drop < 0:
            raise ValueError(f"target_drop is an allowed metric drop ≥ 0 (0.01 = one point), got {target_drop!r}")
        ok = m >= base - target_drop - 1e-12
        target = f"metric drop ≤ {target_drop:g}"
        key = (v, m) if ok.any() else (m, v)         # lexsort: last key is primary
    else:
        if not np.isfinite(target_speedup) or target_speedup <= 0:
            raise ValueError(f"target_speedup must be a positive number, got {target_speedup!r}")
        ok = v >= target_speedup - 1e-12
        target = f"{speed} ≥ {target_speedup:g}"
        key = (m, v) if ok.any() else (v, m)
    cand = np.flatnonzero(ok) if ok.any() else np.arange(len(df))
    best = cand[np.lexsort((-cand, key[1][cand], key[0][cand]))[-1]]     # max primary, max secondary, first
    row = df.iloc[best].to_dict()
    thr = float(row["threshold"])
    test_row = sweep(test_trace, pol, [thr]).iloc[0].to_dict()
    test_base = _final_metric(test_trace, name)
    row.update(baseline_metric=base, drop=base - row["metric"])
    test_row.update(baseline_metric=test_base, drop=test_base - test_row["metric"])
    params = {k: val for k, val in pol.params.items() if k != "threshold"}
    return Tuned(policy=pol.name, threshold=thr, params=params, target=target, feasible=bool(ok.any()),
                 tune=row, test=test_row)


def split_halves(trace: Trace, seed: int = 0) -> tuple[Trace, Trace]:
    """Two disjoint random halves of ``trace`` (sample order kept inside each): tune on one, report on
    the other."""
    perm = np.random.default_rng(seed).permutation(trace.n)
    half = trace.n // 2
    return trace.subset(np.sort(perm[:half])), trace.subset(np.sort(perm[half:]))



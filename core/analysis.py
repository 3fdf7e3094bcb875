"""Measuring exits on a Trace: task metrics, cost accounting, threshold sweeps, overthinking, calibration.

Everything here is a pure numpy / pandas function of a :class:`core.trace.Trace` (and of the
:class:`core.policies.Exits` a policy chose); nothing loads a model. Sources:

* metrics per task (accuracy; F1 of class 1 for MRPC/QQP; Matthews correlation for CoLA): GLUE;
* cost conventions: methods.md §6 — average exit block ℓ̄, layer speed-up L/ℓ̄ (COST-EFF ``do_eval``),
  saved-layer fraction 1 − ℓ̄/L (what PABEE logs as "Speed Up"), expected FLOPs and FLOPs reduction
  (BEExformer's 54.85 % is of this form). Wall-clock is measured elsewhere: FLOPs are not latency;
* overthinking: Shallow-Deep Networks (Kaya et al. ICML 2019), ``overthinking_experiments.py``
  (destructive / wasteful) and ``aux_funcs.get_confusion_scores`` (confusion score); the oracle of
  DE³-BERT (methods §2.1, §6);
* calibration per exit: expected calibration error with equal-width bins (Guo et al. ICML 2017).

Statistics carry their name, unit and range (:class:`Stat`), and the sweep table its column labels
(``SWEEP_COLUMNS``), so that charts label themselves. Block indices are 0-based in arrays; ℓ̄ is 1-based.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.policies import (DEFAULT_GRID_SIZE, POLICIES, Exits, Oracle, Policy, ThresholdPolicy, class_argmax,
                           decide, decide_many)
from core.trace import Trace


@dataclass(frozen=True)
class Stat:
    """A number (or a per-block / per-bin array) with what a chart needs to label it."""

    name: str
    value: Any                          # float, int or np.ndarray
    unit: str
    range: tuple[float, float]
    description: str = ""

    def __float__(self) -> float:
        return float(self.value)


def _need_labels(trace: Trace, what: str) -> None:
    if trace.n == 0:
        raise ValueError(f"{what} needs samples, but this trace has no samples: record it on a non-empty split")
    if not trace.has_labels:
        raise ValueError(f"{what} needs the label of every sample, but this trace has unknown labels (-1): "
                         "record it on a labelled split (e.g. GLUE validation, not test)")


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# 1. Task metrics (numpy only)

METRICS: dict[str, dict] = {
    "accuracy": {"label": "accuracy", "unit": "fraction", "range": (0.0, 1.0),
                 "description": "share of samples predicted right"},
    "f1": {"label": "F1 (class 1)", "unit": "fraction", "range": (0.0, 1.0),
           "description": "F1 of the positive class 1 (GLUE MRPC, QQP); 0 when class 1 is never predicted nor true"},
    "mcc": {"label": "Matthews correlation", "unit": "correlation", "range": (-1.0, 1.0),
            "description": "Matthews correlation, multiclass R_K (GLUE CoLA); 0 when a marginal is constant"},
}
_METRIC_ALIASES = {"acc": "accuracy", "f1_score": "f1", "binary_f1": "f1", "matthews": "mcc",
                   "matthews_corr": "mcc", "matthews_corrcoef": "mcc", "matthews_correlation": "mcc"}


def metric_name(name: str) -> str:
    """Canonical metric name ("accuracy", "f1" or "mcc") for a name or a common alias."""
    key = str(name).lower().strip()
    key = _METRIC_ALIASES.get(key, key)
    if key not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(METRICS)} "
                         f"(aliases: {sorted(_METRIC_ALIASES)})")
    return key


def task_metric(trace: Trace) -> str:
    """The metric the trace's task is scored with: ``trace.meta["metric"]``, accuracy by default."""
    return metric_name(trace.meta.get("metric", "accuracy"))


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred {y_pred.shape}")
    if y_true.size and (y_true.min() < 0 or y_pred.min() < 0):
        raise ValueError("labels and predictions must be class indices ≥ 0 (-1 marks an unknown label)")
    k = max(int(n_classes or 0), int(y_true.max(initial=-1)) + 1, int(y_pred.max(initial=-1)) + 1, 2)
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def metric_from_confusion(name: str, conf: np.ndarray):
    """The metric from confusion counts (..., K, K) → (...) float64 (a float for a single matrix)."""
    name = metric_name(name)
    c = np.asarray(conf, dtype=np.float64)
    total = c.sum(axis=(-2, -1))
    diag = np.trace(c, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "accuracy":
            out = np.where(total > 0, diag / np.maximum(total, 1), np.nan)
        elif name == "f1":
            tp = c[..., 1, 1]
            fp = c[..., :, 1].sum(axis=-1) - tp
            fn = c[..., 1, :].sum(axis=-1) - tp
            den = 2 * tp + fp + fn
            out = np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)
        else:   # mcc: (c·s − Σ t_k p_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)), as sklearn's matthews_corrcoef
            t, p = c.sum(axis=-1), c.sum(axis=-2)          # true / predicted counts per class
            cov = diag * total - (t * p).sum(axis=-1)
            den = np.sqrt((total ** 2 - (p * p).sum(axis=-1)) * (total ** 2 - (t * t).sum(axis=-1)))
            out = np.where(den > 0, cov / np.where(den > 0, den, 1.0), 0.0)
    return float(out) if np.ndim(out) == 0 else out


def metric(name: str, y_true, y_pred) -> float:
    """``metric("mcc", y_true, y_pred)`` — accuracy, F1 of class 1, or Matthews correlation."""
    return metric_from_confusion(name, confusion_matrix(y_true, y_pred))


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# 2. Cost accounting (methods §6: say which convention — here every one, named)

COST_CONVENTIONS: dict[str, dict] = {
    "avg_exit_block": {"label": "average exit block ℓ̄", "unit": "blocks (1-based)", "formula": "Σ_i i·n_i / N",
                       "range": "[1, L]", "source": "methods §6"},
    "layer_speedup": {"label": "layer speed-up L/ℓ̄", "unit": "×", "formula": "N·L / Σ_i i·n_i",
                      "range": "[1, L]", "source": "COST-EFF do_eval (DeeBERT logs its inverse)"},
    "saved_layers": {"label": "saved-layer fraction", "unit": "fraction", "formula": "1 − ℓ̄/L",
                     "range": "[0, 1 − 1/L]", "source": "PABEE's 'Speed Up'"},
    "expected_flops": {"label": "expected FLOPs per sample", "unit": "FLOPs",
                       "formula": "F_emb + (1/N) Σ_n Σ_{l ≤ exit_n} F_l  (F_l: block + its exit head)",
                       "range": "[F_emb + F_1, F_full]", "source": "methods §6"},
    "flops_full": {"label": "FLOPs of the full model", "unit": "FLOPs", "formula": "F_emb + Σ_l F_l",
                   "range": "> 0", "source": "methods §6"},
    "flops_reduction": {"label": "FLOPs reduction", "unit": "fraction", "formula": "1 − E[F]/F_full",
                        "range": "[0, 1)", "source": "BEExformer (54.85 % in this form)"},
    "exit_histogram": {"label": "samples per exit block", "unit": "samples", "formula": "n_i",
                       "range": "[0, N]", "source": "methods §6"},
}


@dataclass(frozen=True)
class Cost:
    """The cost of a set of exits; conventions in ``COST_CONVENTIONS`` (exit heads that did not fire are
    paid: F_l includes block l's exit head, and prototype distances / LTE where the model has them)."""

    avg_exit_block: float
    layer_speedup: float
    saved_layers: float
    expected_flops: float
    flops_full: float
    flops_reduction: float
    exit_histogram: np.ndarray      # (L,) int64

    def stats(self) -> list[Stat]:
        """Every field as a labelled :class:`Stat` (ranges for this model's L and F_full)."""
        n_blocks, n = len(self.exit_histogram), int(np.sum(self.exit_histogram))
        ranges = {"avg_exit_block": (1.0, n_blocks), "layer_speedup": (1.0, n_blocks),
                  "saved_layers": (0.0, 1.0 - 1.0 / n_blocks), "expected_flops": (0.0, self.flops_full),
                  "flops_full": (0.0, self.flops_full), "flops_reduction": (0.0, 1.0), "exit_histogram": (0, n)}
        return [Stat(c["label"], getattr(self, key), c["unit"], ranges[key], f"{c['formula']} — {c['source']}")
                for key, c in COST_CONVENTIONS.items()]

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in COST_CONVENTIONS}


def _cost_from_hist(hist: np.ndarray, trace: Trace) -> dict[str, np.ndarray]:
    """Cost columns from exit-block histograms (..., L) — shared by ``cost`` and ``sweep``."""
    hist = np.asarray(hist, dtype=np.float64)
    n_blocks = trace.n_blocks
    n = hist.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = hist @ np.arange(1, n_blocks + 1) / n
        flops = trace.flops_embed + hist @ np.cumsum(trace.flops_per_block) / n
        full = trace.flops_full
        return {"avg_exit_block": avg, "layer_speedup": n_blocks / avg, "saved_layers": 1.0 - avg / n_blocks,
                "expected_flops": flops, "flops_reduction": 1.0 - flops / full if full > 0 else flops * np.nan}


def exit_histogram(trace: Trace, exits: Exits) -> np.ndarray:
    """(L,) int64: how many samples exit (stop computing) at each block."""
    return np.bincount(np.asarray(exits.exit_block, dtype=np.int64), minlength=trace.n_blocks)


def cost(trace: Trace, exits: Exits) -> Cost:
    """Average exit block, layer speed-up, saved layers, expected FLOPs and FLOPs reduction of ``exits``.

    Cost follows the exit block (blocks computed), not the answering block (SDN's fallback may answer
    with an earlier block, but every block up to the last was computed)."""
    hist = exit_histogram(trace, exits)
    c = _cost_from_hist(hist, trace)
    return Cost(**{k: float(v) for k, v in c.items()}, flops_full=trace.flops_full, exit_histogram=hist)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# 3. Sweeps, Pareto front, threshold selection

SWEEP_COLUMNS: dict[str, dict] = {
    "policy": {"label": "policy", "unit": ""},
    "threshold": {"label": "threshold", "unit": "policy's unit (see core.policies)"},
    "metric": {"label": "task metric", "unit": "see metric_name"},
    "metric_name": {"label": "metric", "unit": ""},
    "accuracy": {"label": "accuracy", "unit": "fraction"},
    **{k: {"label": v["label"], "unit": v["unit"]} for k, v in COST_CONVENTIONS.items()
       if k not in ("exit_histogram", "flops_full")},
    "exit_induced_errors": {"label": "exit-induced errors (early exit wrong, final right)", "unit": "samples"},
    "exit_fixed_errors": {"label": "exit-fixed errors (early exit right, final wrong)", "unit": "samples"},
    "params": {"label": "fixed parameters (JSON)", "unit": ""},
}


def _outcome_base(trace: Trace, final_pred: np.ndarray) -> tuple[np.ndarray, bool]:
    """(N,) int64 (final exit right · K + label) · K: with the answered class added, a code in [0, 2K²)
    that is enough to get the confusion matrix and the exit-induced / exit-fixed errors by counting."""
    k = trace.n_classes
    labelled = trace.has_labels
    if not labelled:
        return np.zeros(trace.n, np.int64), False
    final_ok = (final_pred == trace.labels).astype(np.int64)
    return (final_ok * k + trace.labels) * k, True


def _segment_counts(seg, trace: Trace) -> tuple[np.ndarray, bool]:
    """(T, L, 2, K, K) int64 counts per *sorted* threshold: exit block × final right × label × answer.

    Segment s starts at sorted position unfired[s] (segment L at 0) and ends where segment s-1 starts
    (segment 0 at T), so the +1 of segment s and the −1 of segment s+1 land on the same position: both
    bincounts use the one key array unfired · bins. In-place arithmetic: fresh (L, N) int64 temporaries
    cost more than the arithmetic."""
    n, n_blocks, k, t_count = trace.n, trace.n_blocks, trace.n_classes, len(seg.thresholds)
    preds = class_argmax(trace.logits.transpose(1, 0, 2))                    # (L, N), block-major like seg
    base, labelled = _outcome_base(trace, preds[-1])
    c = 2 * k * k
    bins = n_blocks * c
    code = np.empty((n_blocks + 1, n), dtype=np.int64)                      # per segment: its outcome code
    code[:n_blocks] = preds
    default = bool((seg.fallback == n_blocks - 1).all())
    code[n_blocks] = preds[-1] if default else preds[seg.fallback, np.arange(n)]
    code += base[None, :]
    code[:n_blocks] += (np.arange(n_blocks) * c)[:, None]
    code[n_blocks] += (n_blocks - 1) * c                                     # now in [0, bins)
    size = (t_count + 1) * bins
    pos = np.multiply(seg.unfired, bins)                                     # (L, N)
    key = pos + code[:n_blocks]
    delta = np.bincount(key.ravel(), minlength=size)                         # + segment s at unfired[s]
    delta[:bins] += np.bincount(code[n_blocks], minlength=bins)              # + never-fired at 0
    np.add(pos, code[1:], out=key)
    delta -= np.bincount(key.ravel(), minlength=size)                        # − segment s+1 at unfired[s]
    counts = np.cumsum(delta.reshape(t_count + 1, bins), axis=0)[:t_count]
    return counts.reshape(t_count, n_blocks, 2, k, k), labelled


def _exits_counts(exits: Exits, trace: Trace) -> tuple[np.ndarray, bool]:
    """The same (1, L, 2, K, K) counts for one set of exits."""
    k = trace.n_classes
    base, labelled = _outcome_base(trace, class_argmax(trace.logits[:, -1]))
    c = 2 * k * k
    codes = base + np.asarray(exits.pred, np.int64)
    counts = np.bincount(np.asarray(exits.exit_block, np.int64) * c + codes, minlength=trace.n_blocks * c)
    return counts.reshape(1, trace.n_blocks, 2, k, k), labelled


def _rows(counts: np.ndarray, labelled: bool, trace: Trace, metric: str) -> dict[str, np.ndarray]:
    hist = counts.sum(axis=(2, 3, 4))                                        # (T, L)
    out = _cost_from_hist(hist, trace)
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


def _template(policy, trace: Trace, fixed_params: dict) -> Policy:
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


def sweep(trace: Trace, policy, thresholds=None, **fixed_params) -> pd.DataFrame:
    """One row per threshold: metric, accuracy, cost (``COST_CONVENTIONS``) and exit-induced / exit-fixed
    error counts (methods §6), for ``policy`` (a registry name, a class or an instance) on ``trace``.

    ``thresholds``: None = the policy's ``grid(trace)``; a (T,) array of scalars (vectorized, see
    ``core.policies.decide_many``); or a (T, L) array of per-block thresholds (one ``decide`` per row).
    The oracle has no threshold and gives one row. Without labels the metric columns are NaN."""
    pol = _template(policy, trace, fixed_params)
    name = task_metric(trace)
    if isinstance(pol, ThresholdPolicy):
        thr = type(pol).grid(trace) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
        if thr.ndim == 2:      # per-block thresholds: the vectorized path needs scalars
            parts = [_exits_counts(decide(pol.replace(threshold=row), trace), trace) for row in thr]
            counts = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, trace.n_blocks, 2) +
                                                                                    (trace.n_classes,) * 2, np.int64)
            labelled = trace.has_labels
            column = [row.tolist() for row in thr]
        else:
            thr = thr.reshape(-1)
            seg = decide_many(pol, trace, thr)
            sorted_counts, labelled = _segment_counts(seg, trace)
            counts = np.empty_like(sorted_counts)
            counts[seg.order] = sorted_counts                                 # back to the caller's order
            column = thr
    else:
        counts, labelled = _exits_counts(decide(pol, trace), trace)
        column = [np.nan]
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
        _need_labels(tr, f"best_threshold ({split} split)")
    pol = _template(policy, tune_trace, fixed_params)
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


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# 4. Per-exit quality and overthinking (methods §6, SDN)

def per_exit_accuracy(trace: Trace) -> Stat:
    """|C_i| / N per block, (L,) — COST-EFF ``do_eval_layer``, DeeBERT "eval each highway"."""
    _need_labels(trace, "per-exit accuracy")
    return Stat("per-exit accuracy", trace.correct.mean(axis=0), "fraction", (0.0, 1.0),
                "accuracy of every exit head when all blocks run")


def per_exit_metric(trace: Trace, name: str | None = None) -> Stat:
    """The task metric (or ``name``) of every exit head, (L,)."""
    _need_labels(trace, "per-exit metric")
    name = metric_name(name) if name else task_metric(trace)
    preds = trace.preds
    vals = np.array([metric(name, trace.labels, preds[:, i]) for i in range(trace.n_blocks)])
    info = METRICS[name]
    return Stat(f"per-exit {info['label']}", vals, info["unit"], info["range"], info["description"])


def first_correct_block(trace: Trace) -> np.ndarray:
    """(N,) int64: the first block whose prediction is right (the oracle exit), -1 if none is."""
    _need_labels(trace, "first-correct block")
    c = trace.correct
    return np.where(c.any(axis=1), c.argmax(axis=1), -1).astype(np.int64)


def oracle_accuracy(trace: Trace) -> Stat:
    """|∪_i C_i| / N: the accuracy if every sample stopped at its first correct exit (DE³-BERT, §6)."""
    _need_labels(trace, "oracle accuracy")
    return Stat("oracle accuracy", float(trace.correct.any(axis=1).mean()) if trace.n else np.nan,
                "fraction", (0.0, 1.0), "share of samples some exit gets right")


@dataclass(frozen=True)
class Destructive:
    """Destructive overthinking (SDN): an earlier exit was right, the final exit is wrong."""

    per_layer: Stat          # (L,) |C_i ∩ W_L|: samples exit i gets right that the final exit gets wrong
    count: int               # |(∪_{i<L} C_i) ∩ W_L|
    rate: Stat               # count / N  (== oracle accuracy − final accuracy)
    share_of_errors: Stat    # count / |W_L|  (SDN: ≈ 50 % of misclassifications)
    n_errors: int            # |W_L|
    samples: np.ndarray      # indices


def destructive_overthinking(trace: Trace) -> Destructive:
    _need_labels(trace, "destructive overthinking")
    c = trace.correct                                                       # (N, L)
    wrong_final = ~c[:, -1]
    per_layer = (c & wrong_final[:, None]).sum(axis=0)
    hit = c[:, :-1].any(axis=1) & wrong_final
    count, n_err, n = int(hit.sum()), int(wrong_final.sum()), trace.n
    return Destructive(
        per_layer=Stat("destructive overthinking per exit", per_layer, "samples", (0, n),
                       "|C_i ∩ W_L|: right at exit i, wrong at the final exit"),
        count=count,
        rate=Stat("destructive overthinking rate", count / n if n else np.nan, "fraction", (0.0, 1.0),
                  "|∪_{i<L} C_i ∩ W_L| / N = oracle accuracy − final accuracy"),
        share_of_errors=Stat("destructive share of errors", count / n_err if n_err else np.nan, "fraction",
                             (0.0, 1.0), "share of the final exit's errors an earlier exit got right"),
        n_errors=n_err, samples=np.flatnonzero(hit))


@dataclass(frozen=True)
class Wasteful:
    """Wasteful overthinking (SDN): the first correct exit is before the last, so blocks were spent after a
    correct answer was available. ``oracle_cost`` is what stopping at the first correct exit costs
    (samples never right pay the full model) — SDN's ``wasteful_overthinking_experiment``."""

    count: int
    rate: Stat                  # count / N
    still_correct: int          # of those, the final exit is also right (pure waste, no damage)
    first_correct_hist: Stat    # (L,) samples whose first correct exit is block i (SDN's "unique correct")
    oracle_cost: Cost
    samples: np.ndarray         # indices


def wasteful_overthinking(trace: Trace) -> Wasteful:
    first = first_correct_block(trace)
    n_blocks = trace.n_blocks
    hit = (first >= 0) & (first < n_blocks - 1)
    count = int(hit.sum())
    hist = np.bincount(first[first >= 0], minlength=n_blocks)
    return Wasteful(
        count=count,
        rate=Stat("wasteful overthinking rate", count / trace.n if trace.n else np.nan, "fraction", (0.0, 1.0),
                  "share of samples whose first correct exit is before the last"),
        still_correct=int((hit & trace.correct[:, -1]).sum()),
        first_correct_hist=Stat("first correct exit", hist, "samples", (0, trace.n),
                                "samples whose first correct exit is block i"),
        oracle_cost=cost(trace, decide(Oracle(), trace)),
        samples=np.flatnonzero(hit))


def flips(trace: Trace) -> np.ndarray:
    """(N,) int64: how often the predicted class changes between consecutive blocks."""
    p = trace.preds
    return (p[:, 1:] != p[:, :-1]).sum(axis=1).astype(np.int64)


def confusion_score(trace: Trace, normalize: bool = False,
                    stats: tuple[float, float] | None = None) -> np.ndarray:
    """SDN confusion score Σ_i ||p_L − p_i||_1, (N,) (``aux_funcs.get_confusion_scores``; high = the exits
    disagree, an error indicator). normalize=True z-scores it with ``stats`` = (mean, std) — SDN takes
    them from a reference set — or with this trace's own (population std); std 0 gives zeros."""
    p = trace.probs.astype(np.float64)
    score = np.abs(p[:, -1:, :] - p).sum(axis=(1, 2))
    if not normalize:
        return score
    mean, std = stats if stats is not None else confusion_stats(trace)
    return (score - mean) / std if std > 0 else np.zeros_like(score)


def confusion_stats(trace: Trace) -> tuple[float, float]:
    """(mean, population std) of the raw confusion score, to z-normalize another split with."""
    s = confusion_score(trace)
    return (float(s.mean()), float(s.std())) if len(s) else (0.0, 0.0)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# 5. Calibration per exit

@dataclass(frozen=True)
class Calibration:
    """Reliability per exit with M equal-width confidence bins (lo, hi]; confidence = max_k p_{i,k}."""

    ece: Stat                 # (L,) Σ_b (n_b/N)·|acc_b − conf_b|
    edges: np.ndarray         # (M+1,)
    confidence: np.ndarray    # (L, M) mean confidence per bin (NaN where empty)
    accuracy: np.ndarray      # (L, M) accuracy per bin (NaN where empty)
    count: np.ndarray         # (L, M) int64


def calibration(trace: Trace, n_bins: int = 15) -> Calibration:
    _need_labels(trace, "calibration")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be ≥ 1, got {n_bins}")
    m, n_blocks = int(n_bins), trace.n_blocks
    edges = np.linspace(0.0, 1.0, m + 1)
    conf = trace.probs.max(axis=-1).astype(np.float64)                      # (N, L)
    b = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, m - 1)    # bins (lo, hi]
    flat = (np.arange(n_blocks)[None, :] * m + b).ravel()
    size = n_blocks * m
    count = np.bincount(flat, minlength=size).reshape(n_blocks, m)
    conf_sum = np.bincount(flat, weights=conf.ravel(), minlength=size).reshape(n_blocks, m)
    acc_sum = np.bincount(flat, weights=trace.correct.ravel().astype(np.float64), minlength=size).reshape(n_blocks, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, mean_acc = conf_sum / count, acc_sum / count
        ece = np.abs(acc_sum - conf_sum).sum(axis=1) / max(trace.n, 1)     # n_b/N·|acc_b − conf_b| summed
    return Calibration(ece=Stat("expected calibration error", ece, "fraction", (0.0, 1.0),
                                f"ECE per exit, {m} equal-width bins"),
                       edges=edges, confidence=mean_conf, accuracy=mean_acc, count=count)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# 6. Cohorts (index arrays the app highlights and links)

COHORTS: dict[str, str] = {
    "destructive": "an earlier exit was right, the final exit is wrong (SDN destructive overthinking)",
    "wasteful": "the first correct exit is before the last (SDN wasteful overthinking)",
    "multi_flip": "the predicted class changes at least twice across blocks",
    "correct": "the final exit is right",
    "wrong": "the final exit is wrong",
    "exit_induced_errors": "the policy answered early and wrong where the final exit is right",
    "exit_fixed_errors": "the policy answered early and right where the final exit is wrong",
}


def exit_induced_errors(trace: Trace, exits: Exits) -> np.ndarray:
    """Indices where the policy's answer is wrong but the final exit's is right (early exit hurt). Only an
    earlier answering block can differ from the final one, so no separate "early" test is needed."""
    _need_labels(trace, "exit-induced errors")
    return np.flatnonzero((np.asarray(exits.pred) != trace.labels) & trace.correct[:, -1])


def exit_fixed_errors(trace: Trace, exits: Exits) -> np.ndarray:
    """Indices where the policy's answer is right but the final exit's is wrong (early exit fixed an
    overthinking error)."""
    _need_labels(trace, "exit-fixed errors")
    return np.flatnonzero((np.asarray(exits.pred) == trace.labels) & ~trace.correct[:, -1])


def cohorts(trace: Trace, exits: Exits | None = None) -> dict[str, np.ndarray]:
    """Index arrays per cohort (``COHORTS``). Without labels only ``multi_flip``; the two exit cohorts
    only when ``exits`` is given."""
    out = {"multi_flip": np.flatnonzero(flips(trace) >= 2)}
    if not trace.has_labels:
        return out
    final_ok = trace.correct[:, -1]
    out["destructive"] = destructive_overthinking(trace).samples
    out["wasteful"] = wasteful_overthinking(trace).samples
    out["correct"] = np.flatnonzero(final_ok)
    out["wrong"] = np.flatnonzero(~final_ok)
    if exits is not None:
        out["exit_induced_errors"] = exit_induced_errors(trace, exits)
        out["exit_fixed_errors"] = exit_fixed_errors(trace, exits)
    return {k: out[k] for k in COHORTS if k in out}

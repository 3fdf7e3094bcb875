"""Task metrics, cost accounting and per-exit quality of a Trace (numpy only; nothing loads a model).

* metrics per task (accuracy; F1 of class 1 for MRPC/QQP; Matthews correlation for CoLA): GLUE;
* cost conventions: methods.md §6 — average exit block ℓ̄, layer speed-up L/ℓ̄ (COST-EFF ``do_eval``),
  saved-layer fraction 1 − ℓ̄/L (what PABEE logs as "Speed Up"), expected FLOPs and FLOPs reduction
  (BEExformer's 54.85 % is of this form). Wall-clock is measured elsewhere: FLOPs are not latency;
* per-exit metric, and calibration per exit: expected calibration error with equal-width bins (Guo et al.
  ICML 2017).

Statistics carry their name, unit and range (:class:`core.util.stat.Stat`) so that charts label themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.policies import Exits
from core.trace import Trace
from core.util import Stat


def need_labels(trace: Trace, what: str) -> None:
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


def cost_from_hist(hist: np.ndarray, trace: Trace) -> dict[str, np.ndarray]:
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
    c = cost_from_hist(hist, trace)
    return Cost(**{k: float(v) for k, v in c.items()}, flops_full=trace.flops_full, exit_histogram=hist)


# ──────────────────────────────────────────────────────────────────────────────────────────────────

# 3. Per-exit quality

def per_exit_accuracy(trace: Trace) -> Stat:
    """|C_i| / N per block, (L,) — COST-EFF ``do_eval_layer``, DeeBERT "eval each highway"."""
    need_labels(trace, "per-exit accuracy")
    return Stat("per-exit accuracy", trace.correct.mean(axis=0), "fraction", (0.0, 1.0),
                "accuracy of every exit head when all blocks run")


def per_exit_metric(trace: Trace, name: str | None = None) -> Stat:
    """The task metric (or ``name``) of every exit head, (L,)."""
    need_labels(trace, "per-exit metric")
    name = metric_name(name) if name else task_metric(trace)
    preds = trace.preds
    vals = np.array([metric(name, trace.labels, preds[:, i]) for i in range(trace.n_blocks)])
    info = METRICS[name]
    return Stat(f"per-exit {info['label']}", vals, info["unit"], info["range"], info["description"])


# 4. Calibration per exit

@dataclass(frozen=True)
class Calibration:
    """Reliability per exit with M equal-width confidence bins (lo, hi]; confidence = max_k p_{i,k}."""

    ece: Stat                 # (L,) Σ_b (n_b/N)·|acc_b − conf_b|
    edges: np.ndarray         # (M+1,)
    confidence: np.ndarray    # (L, M) mean confidence per bin (NaN where empty)
    accuracy: np.ndarray      # (L, M) accuracy per bin (NaN where empty)
    count: np.ndarray         # (L, M) int64


def calibration_sums(trace: Trace, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per exit and bin (L, M): sample count, sum of confidences, sum of correct — sums over samples, so a
    trace's sums are its chunks' sums (core.analysis.chunked). Confidences ≥ 1/K in float32 add up exactly in float64
    (each is a multiple of 2^-(24+⌈log2 K⌉)) while N < 2^(29-⌈log2 K⌉), so the order of the sum never matters."""
    m, n_blocks = int(n_bins), trace.n_blocks
    edges = np.linspace(0.0, 1.0, m + 1)
    conf = trace.probs.max(axis=-1).astype(np.float64)                      # (N, L)
    b = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, m - 1)    # bins (lo, hi]
    flat = (np.arange(n_blocks)[None, :] * m + b).ravel()
    size = n_blocks * m
    count = np.bincount(flat, minlength=size).reshape(n_blocks, m)
    conf_sum = np.bincount(flat, weights=conf.ravel(), minlength=size).reshape(n_blocks, m)
    acc_sum = np.bincount(flat, weights=trace.correct.ravel().astype(np.float64), minlength=size).reshape(n_blocks, m)
    return count, conf_sum, acc_sum


def calibration_from_sums(count: np.ndarray, conf_sum: np.ndarray, acc_sum: np.ndarray, n: int) -> Calibration:
    """The reliability per exit of n samples from their ``calibration_sums``."""
    m = count.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, mean_acc = conf_sum / count, acc_sum / count
        ece = np.abs(acc_sum - conf_sum).sum(axis=1) / max(n, 1)           # n_b/N·|acc_b − conf_b| summed
    return Calibration(ece=Stat("expected calibration error", ece, "fraction", (0.0, 1.0),
                                f"ECE per exit, {m} equal-width bins"),
                       edges=np.linspace(0.0, 1.0, m + 1), confidence=mean_conf, accuracy=mean_acc, count=count)


def check_bins(n_bins) -> int:
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be ≥ 1, got {n_bins}")
    return int(n_bins)


def calibration(trace: Trace, n_bins: int = 15) -> Calibration:
    need_labels(trace, "calibration")
    m = check_bins(n_bins)
    return calibration_from_sums(*calibration_sums(trace, m), trace.n)

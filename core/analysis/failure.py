"""Failure prediction per exit: how well a policy's confidence signal ranks that exit's errors.

An exit can be well calibrated on average (a low ECE) and still rank its errors badly; an exit policy only
needs the ranking: it exits where the signal says "confident", so what matters is whether the wrong answers
sit on the unconfident side. Per block i, the AUROC of the signal s_i for the event "exit i is wrong"
(sklearn ``roc_auc_score``), with the score oriented so that *less confident* is *higher*:

    direction "below" (entropy, EDR, LTE, ΔH …: exit where s < threshold)   error score = +s
    direction "above" (max-probability, margin, patience: exit where s ≥ τ)   error score = −s

1.0 = every error is less confident than every right answer; 0.5 = no better than chance; < 0.5 = the
signal points the wrong way. NaN where the exit has only right or only wrong answers (AUROC undefined)
or no finite signal. Selective prediction's usual metric (Geifman & El-Yaniv 2017; Hendrycks & Gimpel,
ICLR 2017, the max-softmax baseline for error detection).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from core.policies import POLICIES, ThresholdPolicy, threshold_policy
from core.trace import Trace
from core.util import Stat


@dataclass(frozen=True)
class FailureAUROC:
    """Per exit (block) the AUROC of one policy's signal for predicting that exit's error."""

    policy: str
    signal: str                  # the signal's label, e.g. "entropy H(p)"
    direction: str               # "below" | "above": which side of the threshold is confident
    auroc: Stat                  # (L,) float, NaN where undefined
    n_errors: np.ndarray         # (L,) int: wrong answers of each exit
    n: int                       # samples

    @property
    def blocks(self) -> list[str]:
        return [f"block {i + 1}" for i in range(len(self.n_errors))]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"policy": self.policy, "block": np.arange(1, len(self.n_errors) + 1),
                             "auroc": self.auroc.value, "errors": self.n_errors, "n": self.n})


def error_score(policy: ThresholdPolicy, trace: Trace) -> np.ndarray:
    """(N, L) float64: the policy's signal oriented so that higher = less confident (more likely wrong)."""
    s = np.asarray(policy.signal(trace), dtype=np.float64)                    # (N, L)
    return s if policy.direction == "below" else -s


def failure_auroc(trace: Trace, policy) -> FailureAUROC:
    """AUROC per exit of ``policy``'s confidence signal (a name with default parameters, or an instance:
    its direction and parameters are used) for predicting that exit's error. Needs labels."""
    if trace.n == 0 or not trace.has_labels:
        raise ValueError("failure prediction needs the label of every sample: record the trace on a labelled, "
                         "non-empty split (e.g. GLUE validation, not test)")
    pol = threshold_policy(policy, trace, "confidence signal")
    score = error_score(pol, trace)                                           # (N, L)
    wrong = ~trace.correct                                                    # (N, L)
    auc = np.full(trace.n_blocks, np.nan)
    for i in range(trace.n_blocks):                                           # a loop over blocks, not samples
        ok = np.isfinite(score[:, i])                                         # ΔH is NaN at block 0
        y = wrong[ok, i]
        if y.any() and not y.all():
            auc[i] = roc_auc_score(y, score[ok, i])
    label = pol.signal_name() if hasattr(pol, "signal_name") else pol.threshold_label
    stat = Stat(f"failure-prediction AUROC ({pol.name})", auc, "AUROC", (0.0, 1.0),
                f"per exit: how well {label} ranks that exit's errors above its right answers "
                "(0.5 = chance, 1 = perfect; NaN: the exit is always right or always wrong)")
    return FailureAUROC(policy=pol.name, signal=label, direction=pol.direction, auroc=stat,
                        n_errors=wrong.sum(axis=0).astype(np.int64), n=trace.n)


def failure_auroc_all(trace: Trace) -> pd.DataFrame:
    """``failure_auroc`` of every threshold policy that runs on ``trace``, one row per (policy, block)."""
    frames = [failure_auroc(trace, name).to_frame() for name, cls in POLICIES.items()
              if issubclass(cls, ThresholdPolicy) and not cls.missing(trace)]
    return pd.concat(frames, ignore_index=True)

"""Overthinking (Shallow-Deep Networks, Kaya et al. ICML 2019) and the cohorts the app highlights.

SDN's ``overthinking_experiments.py`` (destructive / wasteful) and ``aux_funcs.get_confusion_scores``
(confusion score); the oracle of DE³-BERT (methods §2.1, §6). Pure numpy over a Trace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.metrics import Cost, cost, need_labels
from core.policies import Exits, Oracle, decide
from core.trace import Trace
from core.util import Stat


def first_correct_block(trace: Trace) -> np.ndarray:
    """(N,) int64: the first block whose prediction is right (the oracle exit), -1 if none is."""
    need_labels(trace, "first-correct block")
    c = trace.correct
    return np.where(c.any(axis=1), c.argmax(axis=1), -1).astype(np.int64)


def oracle_accuracy(trace: Trace) -> Stat:
    """|∪_i C_i| / N: the accuracy if every sample stopped at its first correct exit (DE³-BERT, §6)."""
    need_labels(trace, "oracle accuracy")
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
    need_labels(trace, "destructive overthinking")
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
    need_labels(trace, "exit-induced errors")
    return np.flatnonzero((np.asarray(exits.pred) != trace.labels) & trace.correct[:, -1])


def exit_fixed_errors(trace: Trace, exits: Exits) -> np.ndarray:
    """Indices where the policy's answer is right but the final exit's is wrong (early exit fixed an
    overthinking error)."""
    need_labels(trace, "exit-fixed errors")
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

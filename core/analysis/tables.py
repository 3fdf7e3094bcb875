"""Core results in the shape a page shows them: per-sample summaries and tables (numpy / pandas only).

Nothing here decides an exit or computes a metric on its own — the exits come from core.policies.rules, the
cohorts from overthinking, the costs from metrics. Blocks stay 0-based in every number returned
here; only a table column meant for people ("exit block", "first correct block") is 1-based and says so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.overthinking import cohorts, first_correct_block, flips
from core.policies import Exits
from core.trace import Trace

COHORT_ORDER = ("destructive", "multi_flip", "wasteful", "wrong", "correct")
COHORT_LABELS = {"destructive": "destructive overthinking", "multi_flip": "multi-flip (≥ 2 changes)",
                 "wasteful": "wasteful overthinking", "wrong": "wrong (final exit)",
                 "correct": "correct (final exit)", "unlabelled": "no label"}


def exit_summary(trace: Trace, exits: Exits, i: int = 0) -> dict:
    """What the Playground's metric row shows for sample ``i``: the exit block (0-based), the answering
    block, the answer, its confidence, the layer speed-up L/(exit+1) and the FLOPs spent up to the exit
    vs the full depth."""
    e, a = int(exits.exit_block[i]), int(exits.answer_block[i])
    pred = int(exits.pred[i])
    spent = float(trace.flops_embed + trace.flops_per_block[: e + 1].sum())
    return {"exit_block": e, "answer_block": a, "pred": pred, "pred_name": trace.label_names[pred],
            "confidence": float(trace.probs[i, a, pred]), "layer_speedup": trace.n_blocks / (e + 1),
            "flops_spent": spent, "flops_full": trace.flops_full, "fired": bool(exits.fired[i])
            if exits.fired is not None else True}


def primary_cohort(trace: Trace) -> np.ndarray:
    """(N,) str: one cohort per sample for colouring, the first that applies in ``COHORT_ORDER``
    (destructive before multi-flip before wasteful before wrong / correct) — from core.analysis.cohorts."""
    out = np.full(trace.n, "unlabelled", dtype=object)
    coh = cohorts(trace)
    for name in reversed(COHORT_ORDER):          # later writes win: write the lowest priority first
        if name in coh:
            out[coh[name]] = name
    return out


def preds_path(trace: Trace, i: int) -> str:
    """The predicted class per block of sample i, e.g. "neg → pos → pos"."""
    names = trace.label_names
    return " → ".join(names[int(p)] for p in trace.preds[i])


def sample_table(trace: Trace, idx, exits: Exits | None = None, max_chars: int = 120) -> pd.DataFrame:
    """One row per selected sample: text, label, prediction per block, first-correct block, flips, exit."""
    idx = np.asarray(idx, dtype=np.int64)
    names = trace.label_names
    fc = first_correct_block(trace) if trace.has_labels else np.full(trace.n, -1)
    fl = flips(trace)
    rows = []
    for i in idx:
        text = trace.texts[i] if trace.texts_b is None else f"{trace.texts[i]}  ‖  {trace.texts_b[i]}"
        row = {"sample": int(i), "text": text[:max_chars] + ("…" if len(text) > max_chars else ""),
               "label": names[trace.labels[i]] if trace.labels[i] >= 0 else "?",
               "prediction per block": preds_path(trace, int(i)),
               "first correct block": int(fc[i]) + 1 if fc[i] >= 0 else None,
               "flips": int(fl[i])}
        if exits is not None:
            row["exit block"] = int(exits.exit_block[i]) + 1
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_table(trace: Trace, exits: Exits) -> pd.DataFrame:
    """Per true class: samples, recall under the policy, recall of the final exit, mean exit block."""
    names = trace.label_names
    rows = []
    eb = np.asarray(exits.exit_block) + 1
    final = trace.preds[:, -1]
    for k, name in enumerate(names):
        m = trace.labels == k
        n = int(m.sum())
        rows.append({"class": name, "samples": n,
                     "recall (policy)": float((exits.pred[m] == k).mean()) if n else np.nan,
                     "recall (final exit)": float((final[m] == k).mean()) if n else np.nan,
                     "mean exit block": float(eb[m].mean()) if n else np.nan,
                     "predicted as this class": int((exits.pred == k).sum())})
    return pd.DataFrame(rows)


def agreement(exits_a: Exits, exits_b: Exits, labels: np.ndarray) -> dict:
    """Agreement of two models' answers on the same samples (and, with labels, who is right)."""
    pa, pb = np.asarray(exits_a.pred), np.asarray(exits_b.pred)
    out = {"agree": float((pa == pb).mean()) if len(pa) else np.nan, "n": int(len(pa))}
    if len(labels) and (labels >= 0).all():
        ra, rb = pa == labels, pb == labels
        out.update(both_right=int((ra & rb).sum()), a_only=int((ra & ~rb).sum()), b_only=int((~ra & rb).sum()),
                   both_wrong=int((~ra & ~rb).sum()))
    return out


def largest_differences(trace: Trace, exits_a: Exits, exits_b: Exits, top: int = 20) -> pd.DataFrame:
    """The samples whose exit block differs most between model A and model B (B − A, 1-based blocks)."""
    diff = np.asarray(exits_b.exit_block) - np.asarray(exits_a.exit_block)
    order = np.lexsort((np.arange(len(diff)), -np.abs(diff)))[:top]
    names = trace.label_names
    return pd.DataFrame({
        "sample": order,
        "exit A": np.asarray(exits_a.exit_block)[order] + 1, "exit B": np.asarray(exits_b.exit_block)[order] + 1,
        "B − A": diff[order],
        "answer A": [names[p] for p in np.asarray(exits_a.pred)[order]],
        "answer B": [names[p] for p in np.asarray(exits_b.pred)[order]],
        "label": [names[y] if y >= 0 else "?" for y in trace.labels[order]],
        "text": [trace.texts[i][:100] for i in order],
    })

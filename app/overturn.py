"""The Playground's best teaching moment, said out loud: an early exit whose answer the final block overturns."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.trace import Trace


def _blocks(idx) -> str:
    """1-based block numbers as runs: [1, 2, 3, 5] → "1–3, 5"."""
    idx = [int(i) + 1 for i in idx]
    runs, start = [], None
    for j, b in enumerate(idx):
        if start is None:
            start = b
        if j == len(idx) - 1 or idx[j + 1] != b + 1:
            runs.append(f"{start}" if start == b else f"{start}–{b}")
            start = None
    return ", ".join(runs)


def overturn_text(tr: Trace, answer_block: int, pred: int, confidence: float, label: int | None) -> str | None:
    """None when the early answer is the final block's; else one sentence: which block answered what, which
    blocks say otherwise, and (with a label) who is right — "destructive overthinking" when the early exit was."""
    preds = tr.preds[0]                                       # (L,)
    final = int(preds[-1])
    if pred == final:
        return None
    names, n = tr.label_names, tr.n_blocks
    other = np.flatnonzero(preds != pred)
    text = (f"The final block overturns this early answer: block {answer_block + 1} says **{names[pred]}** "
            f"({confidence:.1%}), but block{'s' if len(other) > 1 else ''} {_blocks(other)} say"
            f"{'' if len(other) > 1 else 's'} **{names[final]}** — the full model ({n} blocks) answers "
            f"{names[final]}.")
    if label is None:
        return text + " Which one is right needs the true label (pick it above)."
    if pred == label:
        return text + (" The early exit is right and the last block wrong: **destructive overthinking** — "
                       "running every block would have made it worse.")
    return text + " The last block is right: this early exit **costs** a correct answer (an exit-induced error)."


def overturn_warning(tr: Trace, answer_block: int, pred: int, confidence: float, label: int | None,
                     container=None) -> None:
    text = overturn_text(tr, answer_block, pred, confidence, label)
    if text:
        (container or st).warning(text, icon=":material/undo:")

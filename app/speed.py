"""A layer speed-up as a page shows it — unless every sample exits at one block: that is a smaller model,
"equivalent to a k-block model", never an early-exit speed-up (core.certify.report_rows)."""
from __future__ import annotations

import streamlit as st

from core.certify import report_rows as RR


def speed_metric(container, label: str, exit_block, n_blocks: int, speedup: float, one_label: str = "",
                 **kw) -> int | None:
    """``container.metric`` of a layer speed-up; when every sample of ``exit_block`` exits at block k < L, the
    metric reads "not an early exit: k block(s)" (``one_label``, short: it sits in a narrow column) and
    :func:`one_block_warning` says "equivalent to a k-block model" in full under the row. Returns k (or None)."""
    k = RR.single_block(exit_block)
    if k is None or k == n_blocks:
        container.metric(label, f"{speedup:.3f}×", **kw)
        return None
    container.metric(one_label or "not an early exit", f"{k} block{'s' if k > 1 else ''}",
                     help=RR.equivalent_text(k, n_blocks))
    return k


def one_block_warning(k: int | None, n_blocks: int, rows: str) -> None:
    """The sentence under a row of metrics whose policy sends every sample of ``rows`` to block k."""
    if k is not None:
        st.warning(f"On {rows}: {RR.equivalent_text(k, n_blocks)}.", icon=":material/layers:")

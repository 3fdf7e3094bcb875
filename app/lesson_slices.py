"""The Learn page's topic on slices and conditional guarantees (one function, as app.lessons' topics)."""
from __future__ import annotations

import streamlit as st

from app import state
from app.charts import slices as slice_charts
from app.selection import Selection
from core.analysis import slice_table


def slices(sel: Selection) -> None:
    st.markdown(
        "A certified threshold promises a risk ≤ ε **on average** over new inputs — a *marginal* guarantee. An "
        "average can hide a slice: if long sentences are a third of the data and the exit rule hurts them three "
        "times as much, the average can sit below ε while long sentences are far above it. On a synthetic population "
        "with one hard slice of three, a threshold certified at ε = 5 % (δ = 0.1) on the whole calibration set left "
        "the hard slice above 5 % in every one of 200 calibration draws (tests/test_certify_groups.py).\n\n"
        "A **conditional** guarantee asks for ≤ ε in every slice at once. Learn-then-Test can give it: test every "
        "slice on its own calibration rows at δ/G (G slices; the union bound keeps the total failure chance ≤ δ) and "
        "keep the most cautious threshold, the one every slice accepts. The price is speed, and data: a slice with "
        "few calibration rows cannot certify a small ε at all (even with no error, n rows bound the risk only down to "
        "1 − (δ/G)^(1/n)) — such slices are listed as not covered, never silently dropped. A slice must be fixed by "
        "the input (length, words, the final exit's class), never by the threshold. Below: the sidebar's policy per "
        "length bucket; the Slices page certifies a threshold for every slice.")
    tr = state.dataset_trace(sel.bundle, sel.data)
    if not tr.has_labels:
        st.info("This needs labelled data: pick the validation split.")
        return
    table = slice_table(tr, sel.policy, "length")
    rows = f"{tr.n:,} rows of {sel.data.label}"
    st.plotly_chart(slice_charts.risk_and_speedup(table, rows=rows), key="ln_slices_fig")
    total = int(table["samples"].sum())
    avg = float((table["exit-induced error rate"].fillna(0) * table["samples"]).sum() / max(total, 1))
    worst = table.loc[table["exit-induced error rate"].idxmax()] if table["samples"].gt(0).any() else None
    msg = f"On {rows}: exit-induced error rate {avg:.2%} on average"
    if worst is not None:
        msg += (f"; {worst['exit-induced error rate']:.2%} in the worst slice ({worst['slice']}, "
                f"{worst['samples']} rows)")
    st.caption(msg + ". Measured on the rows the sidebar's threshold is looked at on: not held-out.")

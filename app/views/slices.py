"""Slices: where the exit rule hurts (a table and charts per slice), when the model makes up its mind (prediction
depth, KL to the final exit, confusion per exit), the data table with each sample's trip, and a threshold
certified in every slice."""
import numpy as np
import streamlit as st

from app import charts, drilldown, slices_panel, state, widgets
from app.charts import slices as slice_charts
from core.analysis import (
    confusion_at_exit,
    confusion_per_exit,
    depth_histogram,
    mean_kl,
    preds_path,
    sample_frame,
    slice_table,
)
from core.certify import RISKS
from core.policies import ThresholdPolicy, decide

sel = state.current()
b = sel.bundle
ss = st.session_state

st.title("Slices")
state.unlabelled_gate(b, sel.data, "prediction depth and the data table")
tr = state.dataset_trace(b, sel.data)
try:
    exits = decide(sel.policy, tr)
except ValueError as e:
    state.fail(e, "Change the policy settings in the sidebar.")
rows = f"{tr.n:,} rows of {sel.data.label}"
st.caption(f"**{b.name}**, {sel.title}. Every number on this page is measured on the same {rows} the sidebar's "
           "threshold is looked at on — not held-out data unless the threshold was chosen elsewhere (the certificate "
           "section below certifies on other rows and says which).")

c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
choice = slices_panel.choose_slicing(c1, tr, "sl")
if choice is None:
    st.stop()
slicing = choice.slicing

# ── where the exit rule hurts ────────────────────────────────────────────────────────────────────────
st.subheader(f"Per slice: {slicing.name}")
if tr.has_labels:
    table = slice_table(tr, sel.policy, slicing)
    c2.caption(f"{len(slicing)} slices over {rows}. Bounds at 95 % per slice: the exit-induced rate's Clopper–Pearson "
               "upper bound, the speed-up's Hoeffding interval.")
    st.dataframe(table, hide_index=True, key="sl_table_slices", column_config={
        c: st.column_config.NumberColumn(format="%.4f") for c in table.columns if c not in ("slice", "samples")})
    st.plotly_chart(slice_charts.risk_and_speedup(table, rows=rows), key="sl_risk_fig")
else:
    st.info("This data has no labels: accuracy and exit-induced errors per slice need a labelled split; prediction "
            "depth below needs none.", icon=":material/label:")

# ── when the model makes up its mind ─────────────────────────────────────────────────────────────────
st.subheader("When the model makes up its mind")
st.caption("Prediction depth (Baldock et al. 2021, read on the exits): the first block from which every later exit "
           "predicts what the last one predicts. KL(final ‖ block b): how far each block's distribution is from the "
           f"final one. Both on {rows}.")
d1, d2 = st.columns(2)
d1.plotly_chart(slice_charts.depth_histograms(depth_histogram(tr, slicing), rows), key="sl_depth_fig")
d2.plotly_chart(slice_charts.kl_lines(mean_kl(tr, slicing), rows), key="sl_kl_fig")
if tr.has_labels:
    k1, k2, k3 = st.columns([1, 1, 2], vertical_alignment="top")
    which = widgets.choice(k1, "confusion in slice", ["all samples", *slicing.values], "sl_conf_slice", "all samples")
    mask = None if which == "all samples" else slicing.codes(tr) == list(slicing.values).index(which)
    n_in = tr.n if mask is None else int(mask.sum())
    block = int(k1.slider("exit (block)", 1, tr.n_blocks, tr.n_blocks, key="sl_conf_block"))
    where = f"{which} ({n_in:,} rows of {sel.data.label})"
    k2.plotly_chart(slice_charts.confusion(confusion_per_exit(tr, mask)[block - 1], tr.label_names,
                                           f"Block {block}, {where}"), key="sl_conf_block_fig")
    k3.plotly_chart(slice_charts.confusion(confusion_at_exit(tr, exits, mask), tr.label_names,
                                           f"At the policy's exit, {where}"), key="sl_conf_exit_fig")

# ── the data ─────────────────────────────────────────────────────────────────────────────────────────
st.subheader("The data")
frame = sample_frame(tr, exits, slicing)
f1, f2, f3 = st.columns([2, 2, 1])
query = f1.text_input("search the text", key="sl_q", placeholder="a word or phrase")
keep = widgets.choice(f2, "slice", ["every slice", *slicing.values], "sl_filter", "every slice")
only = f3.checkbox("exit-induced errors only", key="sl_only_err")
view = frame
if query.strip():
    view = view[view["text"].str.contains(query.strip(), case=False, regex=False)]
if keep != "every slice":
    view = view[view["slice"] == keep]
if only:
    view = view[view["exit-induced error"]]
SHOWN = 5000                    # a table of a million rows would not help anyone: filter first
st.caption(f"{len(view):,} of {tr.n:,} rows match" + (f" (the first {SHOWN:,} shown)" if len(view) > SHOWN else "")
           + " — sort by any column; select rows to open their trip.")
view = view.head(SHOWN)
event = st.dataframe(view, hide_index=True, key="sl_data", on_select="rerun", selection_mode="multi-row",
                     column_config={"text": st.column_config.TextColumn(width="large"),
                                    "confidence (final)": st.column_config.NumberColumn(format="%.3f")})
picked = [int(view["sample"].iloc[r]) for r in getattr(getattr(event, "selection", None), "rows", [])
          if r < len(view)]
options = view["sample"].tolist()[:500]
if not options and not picked:
    st.info("No row matches the filters.")
    st.stop()
if picked and picked[0] != ss.get("_sl_last_pick"):          # a new selection in the table opens its first row
    ss["_sl_last_pick"] = picked[0]
    widgets.set_value("sl_open", picked[0])
i = int(widgets.choice(st, "open the trip of", sorted(set(options) | set(picked)), "sl_open",
                       picked[0] if picked else options[0], format_func=lambda j: f"#{j}: {tr.texts[j][:90]}"))
drilldown.sample_trip(tr, i, sel.policy, exits, key="sl_trip")

st.markdown("**Two samples side by side**")
if len(picked) >= 2 and st.button("pin the first two selected rows"):
    widgets.set_value("sl_pin", picked[:2])
widgets.restore("sl_pin", [])
pins = st.multiselect("pin two samples", sorted(set(options) | set(ss.get("sl_pin") or [])), key="sl_pin",
                      max_selections=2, format_func=lambda j: f"#{j}: {tr.texts[j][:60]}")
widgets.remember("sl_pin")
if len(pins) == 2:
    cols = st.columns(2)
    for col, j in zip(cols, pins):
        e = int(exits.exit_block[j])
        col.text(tr.texts[j] + (f"\n‖ {tr.texts_b[j]}" if tr.texts_b is not None else ""))
        col.caption(f"label {frame['label'][j]} · prediction per block {preds_path(tr, j)} · exits after block {e + 1}"
                    f" · prediction depth {int(frame['prediction depth'][j])}")
        col.plotly_chart(charts.class_band(tr.probs[j], tr.label_names, e, title=f"Sample #{j}"), key=f"sl_pin_{j}")

# ── a guarantee for every slice ──────────────────────────────────────────────────────────────────────
st.subheader("A threshold certified in every slice")
if not isinstance(sel.policy, ThresholdPolicy) or not tr.has_labels:
    st.info("Certifying needs a threshold policy (sidebar) and labelled data.", icon=":material/info:")
    st.stop()
c = st.columns(4)
eps = float(widgets.number(c[0], "ε: largest risk in every slice", "sl_eps", 0.05, min_value=0.005, max_value=0.5,
                           step=0.005, format="%.3f"))
conf = float(widgets.number(c[1], "1 − δ: confidence", "sl_conf", 0.9, min_value=0.5, max_value=0.999, step=0.01,
                            format="%.3f"))
risk = widgets.choice(c[2], "risk", list(RISKS), "sl_risk", "induced")
method = widgets.choice(c[3], "method", ["ltt", "crc"], "sl_method", "ltt",
                        format_func={"ltt": "Learn-then-Test at δ/G", "crc": "conformal risk control"}.get)
slices_panel.compare_certificates(sel, tr, choice, eps, 1 - conf, risk, method, "sl_cert")
st.caption(f"{len(np.unique(slicing.codes(tr)))} of {len(slicing)} slices have rows in this data.")

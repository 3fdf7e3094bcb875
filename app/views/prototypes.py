"""Prototypes & overthinking: the samples and the class prototypes of one block in 2-D, coloured by
overthinking cohort; a lasso, box or click (or a cohort) lists samples, and each opens its per-block trip."""
import numpy as np
import plotly.colors as pcolors
import streamlit as st

from app import charts, drilldown, sidebar, state, widgets
from app import params as P
from core.analysis import (
    COHORT_LABELS,
    COHORT_ORDER,
    COHORTS,
    cohorts,
    destructive_overthinking,
    oracle_accuracy,
    per_exit_accuracy,
    primary_cohort,
    projection,
    sample_table,
    wasteful_overthinking,
)
from core.policies import decide

sel = state.current()
b = sel.bundle
ss = st.session_state

st.title("Prototypes & overthinking")
state.unlabelled_gate(b, sel.data, "the map of the samples and the prototypes at every block, coloured by where "
                      "each sample exits")
tr = state.dataset_trace(b, sel.data)
tid = state.trace_id(b, sel.data)
names = tr.label_names
try:
    pol, exits = sel.policy, decide(sel.policy, tr)
except ValueError as e:
    st.warning(f"{e}", icon=":material/warning:")
    pol, exits = None, None
coh = cohorts(tr, exits)

# ── overthinking in numbers (SDN) ────────────────────────────────────────────────────────────────────
if tr.has_labels:
    d, w = destructive_overthinking(tr), wasteful_overthinking(tr)
    orc, final = float(oracle_accuracy(tr)), float(tr.correct[:, -1].mean())
    m = st.columns(5)
    m[0].metric("final-exit accuracy", f"{final:.4f}")
    m[1].metric("oracle accuracy", f"{orc:.4f}", delta=f"{orc - final:+.4f}", help="right at some exit")
    m[2].metric("destructive overthinking", f"{d.count:,}", help=d.rate.description)
    m[3].metric("share of final errors", f"{float(d.share_of_errors):.1%}" if d.n_errors else "—",
                help="errors an earlier exit got right (SDN: about half)")
    m[4].metric("wasteful overthinking", f"{w.count:,}", help=w.rate.description)
else:
    st.warning("This data has no labels (GLUE test): cohorts other than multi-flip need labels.")

# ── the map ──────────────────────────────────────────────────────────────────────────────────────────
UMAP_MAX = 20_000
methods = ["PCA", "UMAP"] if projection.umap_enabled() and tr.n <= UMAP_MAX else ["PCA"]
color_modes = {"cohort": "overthinking cohort", "label": "true label", "pred": "prediction at this block",
               "exit": "exit block (current policy)"}
sidebar.page_param("pt_block", "block", lambda raw: P.parse_int(raw, 1, tr.n_blocks, tr.n_blocks, "block"),
                   tr.n_blocks)
sidebar.page_param("pt_method", "method", lambda raw: P.parse_choice(raw, methods, "PCA", "projection"), "PCA")
sidebar.page_param("pt_color", "color", lambda raw: P.parse_choice(raw, list(color_modes), "cohort", "colour"),
                   "cohort")
c1, c2, c3 = st.columns([3, 2, 2])
block = tr.n_blocks - 1
if tr.n_blocks > 1:
    widgets.restore("pt_block", tr.n_blocks, lambda v: isinstance(v, int) and 1 <= v <= tr.n_blocks)
    c1.slider("block", 1, tr.n_blocks, key="pt_block", help="the exit whose embeddings are projected")
    block = int(widgets.remember("pt_block")) - 1
method = widgets.choice(c2, "projection", methods, "pt_method", "PCA", kind="segmented",
                        help="PCA is instant; UMAP (umap-learn) is computed once per model × data × block and "
                             "cached in memory and on disk")
color = widgets.choice(c3, "colour by", list(color_modes), "pt_color", "cohort", format_func=color_modes.get)
if projection.umap_enabled() and tr.n > UMAP_MAX:
    c2.caption(f"UMAP is offered up to {UMAP_MAX:,} samples ({tr.n:,} here): set a limit in the sidebar.")
sidebar.write_params({"block": block + 1, "method": method, "color": color})

x_emb, protos, space = projection.embeddings_at(tr, block)
totals = None
if color == "cohort":
    groups = primary_cohort(tr)
    colors, glabels = charts.COHORT_COLORS, COHORT_LABELS
    totals = {k: len(v) for k, v in coh.items()}
elif color in ("label", "pred"):
    ids = tr.labels if color == "label" else tr.preds[:, block]
    groups = np.array([names[i] if i >= 0 else "?" for i in ids], dtype=object)
    colors, glabels = {n: charts.CLASS_COLORS[k % len(charts.CLASS_COLORS)] for k, n in enumerate(names)}, None
else:
    eb = exits.exit_block if exits is not None else np.full(tr.n, tr.n_blocks - 1)
    groups = np.array([f"exit {e + 1}" for e in eb], dtype=object)
    scale = pcolors.sample_colorscale("Viridis", [i / max(tr.n_blocks - 1, 1) for i in range(tr.n_blocks)])
    colors, glabels = {f"exit {i + 1}": scale[i] for i in range(tr.n_blocks)}, None
title = f"Block {block + 1}: {space}" + (" with the class prototypes (★)" if protos is not None else "")


def figure(xy, pxy, how):
    return charts.projection_scatter(xy, groups, [t[:90] for t in tr.texts], pxy, names, title=f"{title} — {how}",
                                     method=how, group_labels=glabels, colors=colors, totals=totals)


flat = tr.n > 1 and not np.ptp(np.asarray(x_emb, dtype=np.float64), axis=0).any()
event = None
if flat:            # e.g. a trace recorded elsewhere without its optional `pooled` column: nothing to map
    st.info(f"No map at block {block + 1}: every sample has the same {space} here"
            + (" — this trace has no `pooled` column (the per-exit hidden states are optional in the exchange "
               "format, core/trace_io.py), so there is nothing to project" if b.trace is not None else "")
            + ". A map would put all the samples on one point. Pick a cohort below to list samples, or record the "
            "trace with its pooled states.", icon=":material/map:")
else:
    if "UMAP" in methods and method == "PCA":
        projection.warm_umap()            # compile UMAP in the background while PCA is on screen
    slot = st.empty()
    if method == "UMAP" and not projection.is_cached(tid, block, "UMAP", tr.n):
        xy, pxy = state.project(tr, tid, block, "PCA")
        slot.plotly_chart(figure(xy, pxy, "PCA"), key="pt_preview")
        with st.spinner(f"UMAP of {tr.n:,} points (first time for this block; cached afterwards)…"):
            xy, pxy = state.project(tr, tid, block, "UMAP")
    else:
        xy, pxy = state.project(tr, tid, block, method)
    with slot.container():
        event = st.plotly_chart(figure(xy, pxy, method), key="pt_scatter", on_select="rerun",
                                selection_mode=("points", "box", "lasso"))
    st.caption("Click a sample, or pick the lasso or box in the chart's toolbar, to list samples below "
               "(double-click the map to clear)."
               + (" Each sample wears the colour of its first cohort in this order — "
                  + ", ".join(COHORT_LABELS[k] for k in COHORT_ORDER) + " — so a cohort's count on the map can be "
                  "smaller than in the headline, which counts a sample in every cohort it belongs to."
                  if color == "cohort" else ""))

# ── the selected samples, and one sample's per-block trip ────────────────────────────────────────────
picked = charts.picked_samples(getattr(event, "selection", None) if event is not None else None)
list_opts = ["selection"] + list(coh)
sig = tuple(picked)
if sig and sig != ss.get("pt_last_sel"):
    widgets.set_value("pt_list", "selection")          # a new lasso / click: list it
ss["pt_last_sel"] = sig
default_list = "destructive" if len(coh.get("destructive", [])) and not picked else "selection"
c1, c2 = st.columns([2, 3])
which = widgets.choice(c1, "samples to list", list_opts, "pt_list", default_list,
                       format_func=lambda k: f"lasso / click selection ({len(picked)})" if k == "selection"
                       else f"cohort: {k.replace('_', ' ')} ({len(coh[k])})")
idx = np.array(picked, dtype=np.int64) if which == "selection" else np.asarray(coh[which])
if which != "selection":
    c2.caption(COHORTS[which])

if len(idx) == 0:
    st.info("Nothing selected: lasso or click points in the map, or pick a cohort.")
else:
    shown = idx[:500]
    st.dataframe(sample_table(tr, shown, exits), hide_index=True, height=min(38 + 35 * len(shown), 320))
    if len(idx) > len(shown):
        st.caption(f"showing the first {len(shown)} of {len(idx):,}")
    i = int(widgets.choice(st, "open a sample's per-block trip", shown.tolist(), "pt_open", int(shown[0]),
                           format_func=lambda i: f"#{i}: {tr.texts[i][:100]}"))
    drilldown.sample_trip(tr, i, pol, exits, key="pt")

# ── overthinking per layer ───────────────────────────────────────────────────────────────────────────
if tr.has_labels:
    st.plotly_chart(charts.overthinking_per_layer(d.per_layer, per_exit_accuracy(tr), orc, final),
                    key="pt_overthinking")
    st.caption("Bars: samples this exit gets right that the final exit gets wrong (SDN destructive overthinking). "
               "Lines: each exit's accuracy, the oracle (right at some exit) and the final exit.")

"""Prototypes & overthinking: the samples and the class prototypes of one block in 2-D, coloured by
overthinking cohort; a lasso (or a cohort) lists samples, and each opens its per-block trace."""
import numpy as np
import streamlit as st

from app import charts, derive, sidebar, state
from app import params as P
from core.analysis import (COHORTS, cohorts, destructive_overthinking, oracle_accuracy, per_exit_accuracy,
                           wasteful_overthinking)
from core.policies import POLICIES, decide

sel = state.current()
b = sel.bundle
ss = st.session_state

st.title("Prototypes & overthinking")
tr = state.dataset_trace(b, sel.data)
tid = state.trace_id(b, sel.data)
names = tr.label_names
try:
    pol = sel.policy()
    exits = decide(pol, tr)
except ValueError as e:
    st.warning(f"{e}", icon=":material/error:")
    pol, exits = None, None

# ── overthinking in numbers (SDN) ────────────────────────────────────────────────────────────────────
if tr.has_labels:
    d = destructive_overthinking(tr)
    w = wasteful_overthinking(tr)
    orc = float(oracle_accuracy(tr))
    final = float(tr.correct[:, -1].mean())
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
methods = ["PCA", "UMAP"] if state.umap_enabled() and tr.n <= UMAP_MAX else ["PCA"]
color_modes = {"cohort": "overthinking cohort", "label": "true label", "pred": "prediction at this block",
               "exit": "exit block (current policy)"}
sidebar.page_param("pt_block", "block", lambda raw: P.parse_int(raw, 1, tr.n_blocks, tr.n_blocks, "block"),
                   tr.n_blocks)
sidebar.page_param("pt_method", "method", lambda raw: P.parse_choice(raw, methods, "PCA", "projection"), "PCA")
sidebar.page_param("pt_color", "color", lambda raw: P.parse_choice(raw, list(color_modes), "cohort", "colour"),
                   "cohort")
ss["pt_block"] = int(min(max(int(ss["pt_block"]), 1), tr.n_blocks))
if ss.get("pt_method") not in methods:
    ss["pt_method"] = "PCA"
c1, c2, c3 = st.columns([3, 2, 2])
if tr.n_blocks > 1:
    c1.slider("block", 1, tr.n_blocks, key="pt_block", help="the exit whose embeddings are projected")
c2.segmented_control("projection", methods, key="pt_method",
                     help="PCA is instant; UMAP (umap-learn) is computed once per model × data × block and "
                          "cached in memory and on disk")
c3.selectbox("colour by", list(color_modes), key="pt_color", format_func=color_modes.get)
if state.umap_enabled() and tr.n > UMAP_MAX:
    c2.caption(f"UMAP is offered up to {UMAP_MAX:,} samples ({tr.n:,} here): set a limit in the sidebar.")
block = int(ss["pt_block"]) - 1
method = ss.get("pt_method") or "PCA"
color = ss["pt_color"]
sidebar.write_params({"block": block + 1, "method": method, "color": color})

x_emb, protos, space = derive.embeddings_at(tr, block)
if color == "cohort":
    groups = derive.primary_cohort(tr)
    colors, glabels = charts.COHORT_COLORS, derive.COHORT_LABELS
elif color in ("label", "pred"):
    ids = tr.labels if color == "label" else tr.preds[:, block]
    groups = np.array([names[i] if i >= 0 else "?" for i in ids], dtype=object)
    colors = {n: charts.CLASS_COLORS[k % len(charts.CLASS_COLORS)] for k, n in enumerate(names)}
    glabels = None
else:
    eb = exits.exit_block if exits is not None else np.full(tr.n, tr.n_blocks - 1)
    groups = np.array([f"exit {e + 1}" for e in eb], dtype=object)
    import plotly.colors as pc
    scale = pc.sample_colorscale("Viridis", [i / max(tr.n_blocks - 1, 1) for i in range(tr.n_blocks)])
    colors = {f"exit {i + 1}": scale[i] for i in range(tr.n_blocks)}
    glabels = None
hover = [t[:90] for t in tr.texts]
title = f"Block {block + 1}: {space}" + (" with the class prototypes (★)" if protos is not None else "")


def figure(xy, pxy, how):
    return charts.projection_scatter(xy, groups, hover, pxy, names, title=f"{title} — {how}", method=how,
                                     group_labels=glabels, colors=colors)


if "UMAP" in methods and method == "PCA":
    state.warm_umap()                 # compile UMAP in the background while PCA is on screen
slot = st.empty()
if method == "UMAP" and not state.projection_cached(tid, block, "UMAP", tr.n):
    xy, pxy = state.project(tr, tid, block, "PCA")
    slot.plotly_chart(figure(xy, pxy, "PCA"), key="pt_preview")
    with st.spinner(f"UMAP of {tr.n:,} points (first time for this block; cached afterwards)…"):
        xy, pxy = state.project(tr, tid, block, "UMAP")
else:
    xy, pxy = state.project(tr, tid, block, method)
with slot.container():
    event = st.plotly_chart(figure(xy, pxy, method), key="pt_scatter", on_select="rerun",
                            selection_mode=("points", "box", "lasso"))
st.caption("Lasso, box or click samples to list them below (double-click the map to clear). Colours: "
           + "; ".join(f"{derive.COHORT_LABELS[k]} — {COHORTS[k]}" for k in derive.COHORT_ORDER)
           if color == "cohort" else "Lasso, box or click samples to list them below.")

# ── the selected samples, and one sample's per-block trace ───────────────────────────────────────────
picked = []
sel_obj = getattr(event, "selection", None) if event is not None else None
for p in (sel_obj.get("points", []) if isinstance(sel_obj, dict) else getattr(sel_obj, "points", []) or []):
    cd = p.get("customdata") if isinstance(p, dict) else None
    if cd is not None:
        try:
            picked.append(int(cd[0] if isinstance(cd, (list, tuple)) else cd))
        except (TypeError, ValueError):
            pass
coh = cohorts(tr, exits)
list_opts = ["selection"] + list(coh)
sig = tuple(sorted(set(picked)))
if sig and sig != ss.get("pt_last_sel"):
    ss["pt_list"] = "selection"              # a new lasso / click: list it
ss["pt_last_sel"] = sig
if ss.get("pt_list") not in list_opts:
    ss["pt_list"] = "destructive" if len(coh.get("destructive", [])) and not picked else "selection"
c1, c2 = st.columns([2, 3])
c1.selectbox("samples to list", list_opts, key="pt_list",
             format_func=lambda k: f"lasso / click selection ({len(picked)})" if k == "selection"
             else f"cohort: {k.replace('_', ' ')} ({len(coh[k])})")
which = ss["pt_list"]
idx = np.array(sorted(set(picked)), dtype=np.int64) if which == "selection" else np.asarray(coh[which])
if which != "selection":
    c2.caption(COHORTS[which])


def show_samples(idx: np.ndarray) -> None:
    shown = idx[:500]
    st.dataframe(derive.sample_table(tr, shown, exits), hide_index=True, height=min(38 + 35 * len(shown), 320))
    if len(idx) > len(shown):
        st.caption(f"showing the first {len(shown)} of {len(idx):,}")
    if ss.get("pt_open") not in set(shown.tolist()):
        ss["pt_open"] = int(shown[0])
    st.selectbox("open a sample's per-block trace", shown.tolist(), key="pt_open",
                 format_func=lambda i: f"#{i}: {tr.texts[i][:100]}")
    i = int(ss["pt_open"])
    e_i = int(exits.exit_block[i]) if exits is not None else None
    st.text(tr.texts[i] + (f"\n‖ {tr.texts_b[i]}" if tr.texts_b is not None else ""))
    st.caption(f"label: {names[tr.labels[i]] if tr.labels[i] >= 0 else '?'} · prediction per block: "
               f"{derive.preds_path(tr, i)}" + (f" · exits after block {e_i + 1} under "
                                                 f"{POLICIES[sel.policy_name].title}" if e_i is not None else ""))
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.class_band(tr.probs[i], names, e_i, title=f"Sample #{i}: predicted class per block"),
                    key="pt_band")
    if tr.proto_dist is not None:
        c2.plotly_chart(charts.prototype_distances(tr.proto_dist[i], names, e_i,
                                                   tr.meta.get("distance", "sqeuclidean")), key="pt_dist")
    stats = derive.sample_signals(tr, i, pol)
    keys = ["entropy", "entropy_norm"] + (["edr"] if "edr" in stats else [])
    st.plotly_chart(charts.signal_curves(stats, derive.policy_signal_key(pol) if pol is not None else None,
                                         derive.threshold_of(pol) if pol is not None else None, e_i,
                                         getattr(pol, "direction", "below"), keys=keys,
                                         title=f"Sample #{i}: exit signals per block"), key="pt_signals")


if len(idx) == 0:
    st.info("Nothing selected: lasso or click points in the map, or pick a cohort.")
else:
    show_samples(idx)

# ── overthinking per layer ───────────────────────────────────────────────────────────────────────────
if tr.has_labels:
    st.plotly_chart(charts.overthinking_per_layer(d.per_layer, per_exit_accuracy(tr), orc, final),
                    key="pt_overthinking")
    st.caption("Bars: samples this exit gets right that the final exit gets wrong (SDN destructive overthinking). "
               "Lines: each exit's accuracy, the oracle (right at some exit) and the final exit.")

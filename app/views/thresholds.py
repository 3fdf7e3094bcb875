"""Threshold debugger: every policy's accuracy-vs-speed curve over a dataset split, from one recorded Trace."""
import json

import numpy as np
import streamlit as st

from app import charts, sidebar, slices_panel, speed, state, tuning, widgets
from app import params as P
from core.analysis import (
    COHORTS,
    METRICS,
    calibration,
    cohorts,
    cost,
    failure_auroc,
    metric,
    pareto_front,
    per_class_table,
    per_exit_metric,
    task_metric,
)
from core.certify import report_rows as RR
from core.policies import POLICIES, ThresholdPolicy, decide

sel = state.current()
b, pol = sel.bundle, sel.policy
ss = st.session_state

st.title("Threshold debugger")
state.unlabelled_gate(b, sel.data, "where the samples exit and how often the early answer agrees with the final "
                     "exit (below, once recorded)")
tr = state.dataset_trace(b, sel.data)
st.caption(f"**{b.name}** on **{sel.data.label}** · "
           + ("every point below is numpy over the trace's recorded exits" if b.trace is not None else
              "the model ran once over the data; every point below is numpy over that recording")
           + " (core.analysis.sweep_all).")
tid = state.trace_id(b, sel.data)
try:
    exits = decide(pol, tr)
except ValueError as e:
    state.fail(e, "Change the policy settings in the sidebar.")

if not tr.has_labels:
    c = cost(tr, exits)
    agree = float((exits.pred == tr.preds[:, -1]).mean()) if tr.n else float("nan")
    m = st.columns(4)
    m[0].metric("agrees with the final exit", f"{agree:.1%}", help="needs no labels: the early answer = the full "
                "model's answer")
    k = speed.speed_metric(m[1], "layer speed-up L/ℓ̄", exits.exit_block, tr.n_blocks, c.layer_speedup)
    m[2].metric("FLOPs reduction", f"{c.flops_reduction:.1%}")
    m[3].metric("samples", f"{tr.n:,}")
    speed.one_block_warning(k, tr.n_blocks, RR.rows_text(tr.n, sel.data.label))
    st.plotly_chart(charts.exit_histogram(exits.exit_block, tr.n_blocks, title=f"Exit block per sample — {sel.title}"),
                    key="thr_hist_nolabel")
    st.info("This data has no labels: accuracy, the Pareto chart, tuning and certification need the validation "
            "split or a labelled upload.", icon=":material/label:")
    st.stop()

mname = task_metric(tr)
mlabel = METRICS[mname]["label"]
policies = P.supported_policies(tr.proto_dist is not None, tr.lte is not None)
fixed = P.sweep_params(policies, pol)
sweep = state.sweep_all(tr, tid, json.dumps(fixed, sort_keys=True, default=str), fixed)
final_metric = metric(mname, tr.labels, tr.preds[:, -1])

# ── the current policy in numbers ────────────────────────────────────────────────────────────────────
c = cost(tr, exits)
cur_metric = metric(mname, tr.labels, exits.pred)
m = st.columns(5)
m[0].metric(mlabel, f"{cur_metric:.4f}", **tuning.change_delta(cur_metric - final_metric))
k = speed.speed_metric(m[1], "layer speed-up L/ℓ̄", exits.exit_block, tr.n_blocks, c.layer_speedup)
m[2].metric("FLOPs reduction", f"{c.flops_reduction:.1%}")
m[3].metric("average exit block ℓ̄", f"{c.avg_exit_block:.2f} of {tr.n_blocks}")
m[4].metric("samples", f"{tr.n:,}")
speed.one_block_warning(k, tr.n_blocks, RR.rows_text(tr.n, sel.data.label))
st.caption(f"These numbers are measured on {RR.rows_text(tr.n, sel.data.label)} — the data the threshold is looked "
           "at on, so they are not held-out figures. To choose a threshold that holds on new data, tune or certify it "
           "below on one part and report on another.")

# ── every policy on one chart ────────────────────────────────────────────────────────────────────────
sidebar.page_param("thr_x", "x", lambda raw: P.parse_choice(raw, list(charts.X_AXES), "layer_speedup", "x-axis"),
                   "layer_speedup")
x = widgets.choice(st, "x-axis", list(charts.X_AXES), "thr_x", "layer_speedup", kind="segmented",
                   format_func=lambda k: charts.X_AXES[k],
                   help="layer speed-up counts blocks; FLOPs reduction weighs them by their cost")
sidebar.write_params({"x": x})
front = pareto_front(sweep[sweep["policy"] != "oracle"], x=x, y="metric")
same = state.same_decisions(tr, tid, json.dumps(fixed, sort_keys=True, default=str), fixed)
titles = {n: POLICIES[n].title for n in POLICIES}
fig = charts.pareto_chart(sweep, front, x=x, metric_label=mlabel, current=(sel.policy_name, sel.threshold),
                          titles=titles, baseline=final_metric, same=same)
# a click applies its point once; the chart then starts afresh (a new key) so the same point can be clicked again
event = st.plotly_chart(fig, key=f"thr_pareto_{ss.get('thr_gen', 0)}", on_select="rerun", selection_mode="points",
                        config=charts.export_config(f"pareto-{b.name}-{sel.data.task or 'data'}", height=640))
for rep in dict.fromkeys(same.values()):
    twins = [titles[n] for n, r in same.items() if r == rep]
    st.caption(f"**{', '.join([titles[rep]] + twins)}** make the same exit decisions on this data, up to float "
               "rounding (each signal is a monotone function of the others here — for two classes, of the top "
               f"probability), so they share one curve; a click on it applies {titles[rep]}, and the sidebar still "
               "offers each of them.")
pick = charts.picked_point(getattr(event, "selection", None) if event is not None else None)
if pick is None:
    ss["thr_last_pick"] = None
elif pick != ss.get("thr_last_pick"):
    ss["thr_last_pick"] = pick
    ss["thr_gen"] = ss.get("thr_gen", 0) + 1
    if pick != (sel.policy_name, sel.threshold):
        sidebar.request_policy(*pick)
st.caption("Click a point to apply its policy and threshold to the sidebar. Dotted: the Pareto front over all "
           "policies; ★ the oracle (first correct exit, an upper bound); ◯ the current setting.")

# ── where the samples exit, per class and per cohort ─────────────────────────────────────────────────
c1, c2 = st.columns(2)
c1.plotly_chart(charts.exit_histogram(exits.exit_block, tr.n_blocks, tr.labels, tr.label_names,
                                      title=f"Exit block per sample — {sel.title}"), key="thr_hist")
with c2:
    st.subheader("Per class")
    st.dataframe(per_class_table(tr, exits), hide_index=True, width="stretch",
                 column_config={"class": st.column_config.TextColumn(width="small"),
                                "recall (policy)": st.column_config.NumberColumn("recall", format="%.3f",
                                                                                 help="under the policy"),
                                "recall (final exit)": st.column_config.NumberColumn("final-exit recall",
                                                                                     format="%.3f"),
                                "mean exit block": st.column_config.NumberColumn("mean exit", format="%.2f"),
                                "predicted as this class": st.column_config.NumberColumn("predicted as")})
st.subheader("Cohorts")
coh = cohorts(tr, exits)
order = ["exit_induced_errors", "exit_fixed_errors", "destructive", "wasteful", "multi_flip"]
st.dataframe([{"cohort": k.replace("_", " "), "samples": len(coh[k]), "what it means": COHORTS[k]}
              for k in order if k in coh], hide_index=True, width="stretch",
             column_config={"what it means": st.column_config.TextColumn(width="large")})

# ── a threshold that holds on data it has not seen ───────────────────────────────────────────────────
if not isinstance(pol, ThresholdPolicy):
    st.subheader("Best threshold for a target")
    st.info(f"{sel.title} has no threshold to tune: pick a threshold policy in the sidebar.")
else:
    tuning.best_threshold_section(sel, tr, x, mlabel)
    tuning.certified_section(sel, tr, mlabel)
    slices_panel.threshold_hook(sel, tr)

# ── export, calibration and failure prediction ───────────────────────────────────────────────────────
c1, c2 = st.columns(2)
c1.download_button("download the sweep (CSV)", data=sweep.to_csv(index=False).encode(),
                   file_name=f"sweep-{b.name}-{sel.data.task or 'data'}-{sel.data.split}.csv", mime="text/csv",
                   help="every policy × threshold: metric, accuracy, speed-up, FLOPs, exit-induced/fixed errors")
tuning.report_download(c2, sel, tr)
st.subheader("Calibration and failure prediction per exit")
cal = calibration(tr, n_bins=10)
auroc = failure_auroc(tr, pol) if isinstance(pol, ThresholdPolicy) else None
c1, c2, c3 = st.columns(3)
c1.plotly_chart(charts.ece_bars(cal.ece), key="thr_ece")
c2.plotly_chart(charts.reliability(cal.confidence, cal.accuracy, cal.count), key="thr_rel")
if auroc is not None:
    c3.plotly_chart(charts.failure_auroc_bars(auroc.auroc, pol.signal_name()), key="thr_auroc")
best = int(np.argmax(per_exit_metric(tr, mname).value))
st.caption("Confidence thresholds assume the exits are calibrated: a high ECE at an early block means its confidence "
           "overstates its accuracy. A calibrated exit can still rank its errors badly: the AUROC says how well the "
           f"policy's signal separates an exit's errors from its right answers (0.5 = chance). Final-exit {mlabel}: "
           f"{final_metric:.4f}; best single exit: block {best + 1}.")

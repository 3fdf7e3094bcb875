"""Threshold debugger: every policy's accuracy-vs-speed curve over a dataset split, from one recorded Trace."""
import json

import numpy as np
import streamlit as st

from app import charts, derive, sidebar, state
from app import params as P
from core.analysis import (COHORTS, METRICS, best_threshold, calibration, cohorts, cost, metric, pareto_front,
                           split_halves, task_metric)
from core.policies import POLICIES, ThresholdPolicy, decide

sel = state.current()
b = sel.bundle
ss = st.session_state

st.title("Threshold debugger")
st.caption(f"**{b.name}** on **{sel.data.label}** · the model ran once over the data; every point below is "
           "numpy over that recording (core.analysis.sweep_all).")

tr = state.dataset_trace(b, sel.data)
state.require_labels(tr, "The threshold debugger")
tid = state.trace_id(b, sel.data)
mname = task_metric(tr)
mlabel = METRICS[mname]["label"]
policies = P.supported_policies(tr.proto_dist is not None, tr.lte is not None)
fixed = P.sweep_params(policies, sel.lam, sel.direction, sel.reference, sel.earliest)
try:
    sweep = state.sweep_all(tr, tid, json.dumps(fixed, sort_keys=True), fixed, P.SWEEP_POINTS)
    pol = sel.policy()
    exits = decide(pol, tr)
except ValueError as e:
    state.fail(e, "Change the policy settings in the sidebar.")
final_metric = metric(mname, tr.labels, tr.preds[:, -1])

# ── the current policy in numbers ────────────────────────────────────────────────────────────────────
c = cost(tr, exits)
cur_metric = metric(mname, tr.labels, exits.pred)
m = st.columns(5)
m[0].metric(mlabel, f"{cur_metric:.4f}", delta=f"{cur_metric - final_metric:+.4f} vs full model",
            delta_color="normal" if cur_metric >= final_metric else "inverse")
m[1].metric("layer speed-up L/ℓ̄", f"{c.layer_speedup:.3f}×")
m[2].metric("FLOPs reduction", f"{c.flops_reduction:.1%}")
m[3].metric("average exit block ℓ̄", f"{c.avg_exit_block:.2f} of {tr.n_blocks}")
m[4].metric("samples", f"{tr.n:,}")

# ── every policy on one chart ────────────────────────────────────────────────────────────────────────
sidebar.page_param("thr_x", "x", lambda raw: P.parse_choice(raw, list(charts.X_AXES), "layer_speedup", "x-axis"),
                   "layer_speedup")
if ss.get("thr_x") not in charts.X_AXES:
    ss["thr_x"] = "layer_speedup"
st.segmented_control("x-axis", list(charts.X_AXES), key="thr_x", format_func=lambda k: charts.X_AXES[k],
                     help="layer speed-up counts blocks; FLOPs reduction weighs them by their cost")
x = ss.get("thr_x") or "layer_speedup"
sidebar.write_params({"x": x})
front = pareto_front(sweep[sweep["policy"] != "oracle"], x=x, y="metric")
fig = charts.pareto_chart(sweep, front, x=x, metric_label=mlabel, current=(sel.policy_name, sel.threshold),
                          titles={n: POLICIES[n].title for n in POLICIES}, baseline=final_metric)
# a click applies its point once; the chart then starts afresh (a new key) so the same point can be clicked again
event = st.plotly_chart(fig, key=f"thr_pareto_{ss.get('thr_gen', 0)}", on_select="rerun", selection_mode="points")
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
                                      title=f"Exit block per sample — {POLICIES[sel.policy_name].title}"),
                key="thr_hist")
with c2:
    st.subheader("Per class")
    st.dataframe(derive.per_class_table(tr, exits), hide_index=True,
                 column_config={"recall (policy)": st.column_config.NumberColumn(format="%.3f"),
                                "recall (final exit)": st.column_config.NumberColumn(format="%.3f"),
                                "mean exit block": st.column_config.NumberColumn(format="%.2f")})
    st.subheader("Cohorts")
    coh = cohorts(tr, exits)
    order = ["exit_induced_errors", "exit_fixed_errors", "destructive", "wasteful", "multi_flip"]
    st.dataframe([{"cohort": k.replace("_", " "), "samples": len(coh[k]), "what it means": COHORTS[k]}
                  for k in order if k in coh], hide_index=True,
                 column_config={"what it means": st.column_config.TextColumn(width="large")})

# ── best threshold for a target, tuned on one half and reported on the other ─────────────────────────
st.subheader("Best threshold for a target")
if not isinstance(pol, ThresholdPolicy):
    st.info(f"{POLICIES[sel.policy_name].title} has no threshold to tune: pick a threshold policy in the sidebar.")
else:
    spec = P.slider_spec(sel.policy_name, tr.n_blocks, tr.n_classes)
    speed_name = "flops_reduction" if x == "flops_reduction" else "layer_speedup"
    if ss.get("thr_target") not in ("drop", "speed"):
        ss["thr_target"] = "drop"
    c1, c2, c3 = st.columns([2, 2, 3], vertical_alignment="bottom")
    c1.segmented_control("target", ["drop", "speed"], key="thr_target",
                         format_func={"drop": f"{mlabel} drop at most", "speed": "speed at least"}.get)
    target = ss.get("thr_target") or "drop"
    if target == "drop":
        ss.setdefault("thr_drop", 0.01)
        c2.number_input(f"largest {mlabel} drop (absolute; 0.01 = one point)", min_value=0.0, max_value=1.0,
                        step=0.005, format="%.3f", key="thr_drop")
        kw = {"target_drop": float(ss["thr_drop"])}
    else:
        if speed_name == "layer_speedup":
            ss.setdefault("thr_speed", min(1.5, float(tr.n_blocks)))
            c2.number_input("layer speed-up at least (×)", min_value=1.0, max_value=float(tr.n_blocks), step=0.1,
                            format="%.2f", key="thr_speed")
            kw = {"target_speedup": float(ss["thr_speed"])}
        else:
            ss.setdefault("thr_flops", 0.3)
            c2.number_input("FLOPs reduction at least (fraction)", min_value=0.01, max_value=0.99, step=0.05,
                            format="%.2f", key="thr_flops")
            kw = {"target_speedup": float(ss["thr_flops"])}
    if tr.n < 2:
        st.info("Tuning a threshold needs at least 2 labelled samples (one half to tune, the other to report "
                "on): add more rows.", icon=":material/info:")
    else:
        tune, test = split_halves(tr, seed=0)
        try:
            tuned = best_threshold(tune, test, sel.policy_name, thresholds=P.sweep_grid(spec), speed=speed_name,
                                   **kw, **P.fixed_params(sel.policy_name, sel.lam, sel.direction, sel.reference,
                                                          sel.earliest))
        except ValueError as e:
            state.fail(e)
        c3.caption(f"Tuned on a random half of the {tr.n:,} samples ({tune.n:,}), reported on the other half "
                   f"({test.n:,}) — never tuned on the numbers it reports.")
        if not tuned.feasible:
            st.warning(f"No threshold meets “{tuned.target}” on the tuning half: showing the closest one.")
        r = st.columns([1, 1, 1, 2], vertical_alignment="center")
        r[0].metric(f"best {POLICIES[sel.policy_name].symbol}", f"{tuned.threshold:.4g}", help=tuned.target)
        r[1].metric(f"{mlabel}, held-out half", f"{tuned.test['metric']:.4f}", delta=f"{-tuned.test['drop']:+.4f}",
                    help="the drop is against the full model on the same half")
        r[2].metric("layer speed-up, held-out half", f"{tuned.test['layer_speedup']:.3f}×")
        if r[3].button("apply this threshold", icon=":material/check:",
                       disabled=abs(tuned.threshold - (sel.threshold or 0)) < 1e-12):
            sidebar.request_policy(sel.policy_name, tuned.threshold)
        rows = [{"half": name, "samples": part.n, mlabel: row["metric"], f"full-model {mlabel}": row["baseline_metric"],
                 "drop": row["drop"], "layer speed-up": row["layer_speedup"], "FLOPs reduction": row["flops_reduction"]}
                for name, part, row in (("tuning", tune, tuned.tune), ("held-out", test, tuned.test))]
        st.dataframe(rows, hide_index=True,
                     column_config={k: st.column_config.NumberColumn(format="%.4f")
                                    for k in (mlabel, f"full-model {mlabel}", "drop", "layer speed-up", "FLOPs reduction")})

# ── export and calibration ───────────────────────────────────────────────────────────────────────────
st.download_button("download the sweep (CSV)", icon=":material/download:", data=sweep.to_csv(index=False).encode(),
                   file_name=f"sweep-{b.name}-{sel.data.task or 'data'}-{sel.data.split}.csv", mime="text/csv",
                   help="every policy × threshold: metric, accuracy, speed-up, FLOPs, exit-induced/fixed errors")
st.subheader("Calibration per exit")
cal = calibration(tr, n_bins=10)
c1, c2 = st.columns(2)
c1.plotly_chart(charts.ece_bars(cal.ece), key="thr_ece")
c2.plotly_chart(charts.reliability(cal.confidence, cal.accuracy, cal.count), key="thr_rel")
st.caption("Confidence thresholds (max-prob, entropy) assume the exits are calibrated: a high ECE at an early "
           f"block means its confidence overstates its accuracy. Overall final-exit {mlabel}: {final_metric:.4f}; "
           f"best single exit: block {int(np.argmax([metric(mname, tr.labels, tr.preds[:, i]) for i in range(tr.n_blocks)])) + 1}.")

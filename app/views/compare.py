"""Compare: two checkpoints on the same data — paired Pareto fronts, exit-block differences, agreement."""
import json

import numpy as np
import streamlit as st

from app import charts, derive, sidebar, state
from app import params as P
from core import checkpoint
from core.analysis import METRICS, cost, metric, pareto_front, task_metric
from core.policies import POLICIES, decide, make_policy

sel = state.current()
a = sel.bundle
ss = st.session_state

st.title("Compare two models")
cands = []
for n in sel.models:
    if n == a.name:
        continue
    try:
        if checkpoint.read_config(state.models_dir() / n).n_classes == a.n_classes:
            cands.append(n)
    except checkpoint.CheckpointError:
        pass


def _rank(n: str) -> tuple:
    """Prefer a model trained on the same task (its card says which)."""
    task = checkpoint.load_card(state.models_dir() / n).get("task")
    return (task != (a.task.name if a.task else None), n)


c1, c2 = st.columns(2)
sidebar.page_param("cp_ckpt_b", "ckpt_b", lambda raw: (P.first(raw) or "", None), "")
c2.text_input("…or model B from a checkpoint directory", key="cp_ckpt_b", placeholder="/path/to/model",
              help="e.g. a training run in runs/ against the shipped model")
bb = None
if ss["cp_ckpt_b"].strip():
    try:
        bb = state.load_bundle(ss["cp_ckpt_b"].strip())
        if bb.n_classes != a.n_classes:
            st.error(f"{bb.name} has {bb.n_classes} classes and {a.name} {a.n_classes}: they cannot be compared "
                     "on the same data.", icon=":material/error:")
            bb = None
    except state.USER_ERRORS as e:
        st.error(str(e), icon=":material/error:")
if bb is None:
    if not cands:
        st.info(f"No other model in {state.models_dir()} has {a.n_classes} classes like {a.name}: add a second "
                "checkpoint there (e.g. a binarized twin or another training run), or type its directory above.",
                icon=":material/info:")
        st.stop()
    default_b = sorted(cands, key=_rank)[0]
    sidebar.page_param("cp_model_b", "model_b", lambda raw: P.parse_choice(raw, cands, default_b, "model B"),
                       default_b)
    if ss.get("cp_model_b") not in cands:
        ss["cp_model_b"] = default_b
    c1.selectbox("model B", cands, key="cp_model_b", help=f"model A is the sidebar's: {a.name}")
    try:
        bb = state.load_bundle(state.models_dir() / ss["cp_model_b"])
    except state.USER_ERRORS as e:
        state.fail(e, "Pick another model B.")
st.caption(f"**A** = {a.name} · **B** = {bb.name} · data: {sel.data.label}")

tr_a = state.dataset_trace(a, sel.data)
tr_b = state.dataset_trace(bb, sel.data)
if tr_a.n != tr_b.n or tr_a.texts != tr_b.texts:
    st.error("The two recordings do not hold the same samples, so they cannot be compared sample by sample.")
    st.stop()

# model B's policy: the sidebar's by default, or its own
pols_b = P.supported_policies(tr_b.proto_dist is not None, tr_b.lte is not None)
ss.setdefault("cp_same", True)
st.toggle("model B uses the sidebar's policy and threshold", key="cp_same")
if ss["cp_same"] and sel.policy_name in pols_b:
    pol_b_name, thr_b = sel.policy_name, sel.threshold
else:
    c1, c2 = st.columns(2)
    if ss.get("cp_policy_b") not in pols_b:
        ss["cp_policy_b"] = sel.policy_name if sel.policy_name in pols_b else pols_b[0]
    c1.selectbox("model B's policy", pols_b, key="cp_policy_b", format_func=lambda n: POLICIES[n].title)
    pol_b_name = ss["cp_policy_b"]
    spec = P.slider_spec(pol_b_name, tr_b.n_blocks, tr_b.n_classes)
    thr_b = None
    if spec is not None:
        key = f"cp_thr_{pol_b_name}"
        ss.setdefault(key, spec.default)
        ss[key] = spec.clamp(ss[key])
        if spec.integer:
            ss[key] = int(ss[key])
            c2.slider(f"model B: {spec.label}", int(spec.lo), int(spec.hi), step=1, key=key)
        else:
            c2.slider(f"model B: {spec.label}", spec.lo, spec.hi, step=spec.step, key=key, format=spec.fmt)
        thr_b = float(ss[key])
ckpt_b = ss["cp_ckpt_b"].strip() if bb.name != ss.get("cp_model_b") else ""
sidebar.write_params({"model_b": None if ckpt_b else bb.name, "ckpt_b": ckpt_b or None})

try:
    pol_a = sel.policy()
    earliest_b = min(sel.earliest, tr_b.n_blocks)
    pol_b = make_policy(pol_b_name, **P.policy_params(pol_b_name, thr_b, sel.lam, sel.direction, sel.reference,
                                                      earliest_b))
    ex_a, ex_b = decide(pol_a, tr_a), decide(pol_b, tr_b)
except ValueError as e:
    state.fail(e, "Change the policy settings.")

# ── numbers ──────────────────────────────────────────────────────────────────────────────────────────
labelled = tr_a.has_labels
mname = task_metric(tr_a)
mlabel = METRICS[mname]["label"]
ag = derive.agreement(ex_a, ex_b, tr_a.labels)
m = st.columns(5)
if labelled:
    m[0].metric(f"A: {mlabel}", f"{metric(mname, tr_a.labels, ex_a.pred):.4f}")
    m[1].metric(f"B: {mlabel}", f"{metric(mname, tr_b.labels, ex_b.pred):.4f}")
m[2].metric("A: layer speed-up", f"{cost(tr_a, ex_a).layer_speedup:.3f}×")
m[3].metric("B: layer speed-up", f"{cost(tr_b, ex_b).layer_speedup:.3f}×")
m[4].metric("answers agree", f"{ag['agree']:.1%}", help=f"on {ag['n']:,} samples")
if labelled:
    st.dataframe([{"both right": ag["both_right"], "only A right": ag["a_only"], "only B right": ag["b_only"],
                   "both wrong": ag["both_wrong"]}], hide_index=True)

# ── paired Pareto fronts ─────────────────────────────────────────────────────────────────────────────
if labelled:
    if ss.get("cp_x") not in charts.X_AXES:
        ss["cp_x"] = "layer_speedup"
    st.segmented_control("x-axis", list(charts.X_AXES), key="cp_x", format_func=lambda k: charts.X_AXES[k])
    x = ss.get("cp_x") or "layer_speedup"
    sweeps, fronts = {}, {}
    for tag, bundle, tr in (("A", a, tr_a), ("B", bb, tr_b)):
        pols = P.supported_policies(tr.proto_dist is not None, tr.lte is not None)
        fixed = P.sweep_params(pols, sel.lam, sel.direction, sel.reference, min(sel.earliest, tr.n_blocks))
        sw = state.sweep_all(tr, state.trace_id(bundle, sel.data), json.dumps(fixed, sort_keys=True), fixed,
                             P.SWEEP_POINTS)
        sw = sw[sw["policy"] != "oracle"]
        label = f"{tag} {bundle.name}"
        sweeps[label], fronts[label] = sw, pareto_front(sw, x=x, y="metric")
    st.plotly_chart(charts.paired_pareto(fronts, x=x, metric_label=mlabel, sweeps=sweeps), key="cp_pareto")

# ── per-sample exit differences ──────────────────────────────────────────────────────────────────────
diff = ex_b.exit_block - ex_a.exit_block
c1, c2 = st.columns([2, 3])
c1.plotly_chart(charts.difference_histogram(diff), key="cp_diff")
with c2:
    st.markdown(f"**B exits earlier** on {int((diff < 0).sum()):,} samples, **later** on {int((diff > 0).sum()):,}, "
                f"at the same block on {int((diff == 0).sum()):,} (mean difference {float(np.mean(diff)):+.2f} blocks).")
    if tr_a.n_blocks != tr_b.n_blocks:
        st.caption(f"The models differ in depth (A: {tr_a.n_blocks} blocks, B: {tr_b.n_blocks}): a difference of "
                   "k blocks is k blocks of each model's own size.")
    st.dataframe(derive.largest_differences(tr_a, ex_a, ex_b, top=25), hide_index=True, height=320,
                 column_config={"text": st.column_config.TextColumn(width="large")})

"""Compare: two checkpoints on the same data — paired Pareto fronts, exit-block differences, agreement."""
import json

import numpy as np
import streamlit as st

from app import charts, model_refs, sidebar, speed, state, widgets
from app import params as P
from core.analysis import METRICS, agreement, cost, largest_differences, metric, pareto_front, task_metric
from core.policies import POLICIES, ThresholdPolicy, decide
from core.run import partners, why_not_comparable

sel = state.current()
a = sel.bundle
ss = st.session_state

st.title("Compare two models")


def why_not(name: str, task, n_classes: int) -> str | None:
    """Why model ``name`` cannot be model B next to A (None: it can)."""
    return why_not_comparable(a.name, a.task, a.n_classes, name, task, n_classes)


cands, refused = partners(state.models_dir(), a.name, a.task, a.n_classes, sel.models)

c1, c2 = st.columns(2)
sidebar.page_param("cp_ckpt_b", "ckpt_b", model_refs.resolve_ref, "")
c2.text_input("…or model B from a checkpoint directory", key="cp_ckpt_b", placeholder="/path/to/model",
              help="e.g. a training run in runs/ against the shipped model")
ckpt_b = widgets.remember("cp_ckpt_b").strip()
bb = None
if ckpt_b:
    try:
        bb = state.load_bundle(ckpt_b)
        reason = why_not(bb.name, bb.task, bb.n_classes)
        if reason:
            reason += ": they cannot be compared on the same data"
    except state.USER_ERRORS as e:             # not a model at all: say so, without "cannot be compared"
        reason = f"Model B cannot be opened: {e}"
    if reason:                     # say why, and compare nothing else in its place
        st.error(f"{reason}. Clear the checkpoint field to pick model B from the list.", icon=":material/warning:")
        sidebar.write_params({"model_b": None, "ckpt_b": None})
        st.stop()
if bb is None:
    if not cands:
        st.info(f"No other model in {state.models_dir()} was trained on {a.task.folder if a.task else 'the same task'} "
                f"with the same labels as {a.name}: add a second checkpoint there (a binarized twin, another training "
                "run), or type its directory above.", icon=":material/info:")
        if refused:
            st.caption("Not offered: " + "; ".join(r for _, r in refused) + ".")
        st.stop()
    def parse_b(raw):
        value, warn = P.parse_choice(raw, cands, cands[0], "model B")
        reason = dict(refused).get(P.first(raw))
        return value, (f"Model B {P.first(raw)!r} from the URL is not offered: {reason}. Showing {value!r} "
                       "instead." if reason else warn)

    sidebar.page_param("cp_model_b", "model_b", parse_b, cands[0])
    name_b = widgets.choice(c1, "model B", cands, "cp_model_b", cands[0], help=f"model A is the sidebar's: {a.name}")
    if refused:
        c1.caption("Not offered: " + "; ".join(r for _, r in refused) + ".")
    try:
        bb = state.load_bundle(state.models_dir() / name_b)
    except state.USER_ERRORS as e:
        state.fail(e, "Pick another model B.")
st.caption(f"**A** = {a.name} · **B** = {bb.name} · data: {sel.data.label}")
sidebar.write_params({"model_b": None if ckpt_b else bb.name, "ckpt_b": model_refs.url_ref(ckpt_b) if ckpt_b else None})

tr_a = state.dataset_trace(a, sel.data)
tr_b = state.dataset_trace(bb, sel.data)
if tr_a.n != tr_b.n or tr_a.texts != tr_b.texts:
    st.error("The two recordings do not hold the same samples, so they cannot be compared sample by sample.")
    st.stop()

# model B's policy: the sidebar's by default, or its own
pols_b = P.supported_policies(tr_b.proto_dist is not None, tr_b.lte is not None)
same = st.toggle("model B uses the sidebar's policy and threshold", value=True, key="cp_same")
if same and sel.policy_name in pols_b:
    pol_b = sel.policy.replace(min_block=min(sel.policy.min_block, tr_b.n_blocks - 1))
else:
    c1, c2 = st.columns(2)
    name = widgets.choice(c1, "model B's policy", pols_b, "cp_policy_b",
                          sel.policy_name if sel.policy_name in pols_b else pols_b[0],
                          format_func=lambda n: POLICIES[n].title)
    cls = POLICIES[name]
    thr = (widgets.threshold(c2, cls.threshold_spec(tr_b), f"cp_thr_{name}", label=f"model B: {cls.threshold_label}")
           if issubclass(cls, ThresholdPolicy) else None)
    pol_b = P.build_policy(name, thr, 1, {p.name: p.default for p in cls.extra})
try:
    ex_a, ex_b = decide(sel.policy, tr_a), decide(pol_b, tr_b)
except ValueError as e:
    state.fail(e, "Change the policy settings.")

# ── numbers ──────────────────────────────────────────────────────────────────────────────────────────
labelled = tr_a.has_labels
mname = task_metric(tr_a)
mlabel = METRICS[mname]["label"]
ag = agreement(ex_a, ex_b, tr_a.labels)
m = st.columns(5)
if labelled:
    m[0].metric(f"A: {mlabel}", f"{metric(mname, tr_a.labels, ex_a.pred):.4f}")
    m[1].metric(f"B: {mlabel}", f"{metric(mname, tr_b.labels, ex_b.pred):.4f}")
ka = speed.speed_metric(m[2], "A: layer speed-up", ex_a.exit_block, tr_a.n_blocks, cost(tr_a, ex_a).layer_speedup,
                        "A: not an early exit")
kb = speed.speed_metric(m[3], "B: layer speed-up", ex_b.exit_block, tr_b.n_blocks, cost(tr_b, ex_b).layer_speedup,
                        "B: not an early exit")
speed.one_block_warning(ka, tr_a.n_blocks, f"model A's {tr_a.n:,} rows")
speed.one_block_warning(kb, tr_b.n_blocks, f"model B's {tr_b.n:,} rows")
m[4].metric("answers agree", f"{ag['agree']:.1%}", help=f"on {ag['n']:,} samples")
if labelled:
    st.dataframe([{"both right": ag["both_right"], "only A right": ag["a_only"], "only B right": ag["b_only"],
                   "both wrong": ag["both_wrong"]}], hide_index=True)

# ── paired Pareto fronts ─────────────────────────────────────────────────────────────────────────────
if labelled:
    x = widgets.choice(st, "x-axis", list(charts.X_AXES), "cp_x", "layer_speedup", kind="segmented",
                       format_func=lambda k: charts.X_AXES[k])
    sweeps, fronts = {}, {}
    for tag, bundle, tr, pol in (("A", a, tr_a, sel.policy), ("B", bb, tr_b, pol_b)):
        fixed = P.sweep_params(P.supported_policies(tr.proto_dist is not None, tr.lte is not None), pol)
        sw = state.sweep_all(tr, state.trace_id(bundle, sel.data), json.dumps(fixed, sort_keys=True, default=str),
                             fixed)
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
                f"at the same block on {int((diff == 0).sum()):,} "
                f"(mean difference {float(np.mean(diff)):+.2f} blocks).")
    if tr_a.n_blocks != tr_b.n_blocks:
        st.caption(f"The models differ in depth (A: {tr_a.n_blocks} blocks, B: {tr_b.n_blocks}): a difference of "
                   "k blocks is k blocks of each model's own size.")
    st.dataframe(largest_differences(tr_a, ex_a, ex_b, top=25), hide_index=True, height=320,
                 column_config={"text": st.column_config.TextColumn(width="large")})

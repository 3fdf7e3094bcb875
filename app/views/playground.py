"""Playground: type a sentence (or a pair) and watch it travel through the blocks until it exits."""
import numpy as np
import streamlit as st

from app import charts, editor, explain_panel, overturn, sentence_form, sidebar, state, widgets
from app import params as P
from core.analysis import exit_summary
from core.policies import ThresholdPolicy, decide, sample_signals

sel = state.current()
b = sel.bundle
pol = sel.policy
ss = st.session_state

st.title("Playground")
st.caption(f"**{b.name}** · policy **{sel.title}**" + (f" at {sel.threshold:.4g}" if sel.threshold is not None else "")
           + " · every block's exit head is recorded once; the policy then decides where the sentence stops.")

run = sentence_form.draw(b)                     # examples, the form; stops with a hint when there is no text
text, text_b, label = run["text"], run["text_b"], run["label"]
sidebar.write_params({"text": text[: P.TEXT_URL_CHARS], "text_b": text_b[: P.TEXT_URL_CHARS] if text_b else None,
                      "label": b.label_names[label] if label is not None else None})
try:
    tr, tokens = state.sentence(b, b.key, text, text_b, label)
except state.USER_ERRORS as e:
    state.fail(e, "Try a shorter or different text.")
if tokens.n_text == 0:
    st.info("The text has no readable characters (only invisible or control characters): type a sentence and "
            "press **Run**.", icon=":material/edit:")
    st.stop()
sentence_form.token_notes(tokens, text, text_b)
probs, names = tr.probs[0], tr.label_names


@st.fragment
def exit_view() -> None:
    """The policy-dependent part: a what-if threshold moves the exit without running the model again. The
    result comes first (``top``), the what-if slider under it: at 1400×900 the metrics are on the first screen."""
    top = st.container()
    what_if = pol
    if isinstance(pol, ThresholdPolicy):
        spec = type(pol).threshold_spec(tr)
        if ss.get("_pg_whatif_src") != (pol.name, sel.threshold, b.name):      # follow the sidebar when it moves
            widgets.set_value("_v_pg_whatif", sel.threshold)
            ss["_pg_whatif_src"] = (pol.name, sel.threshold, b.name)
        thr = widgets.threshold(st, spec, "pg_whatif", label=f"what-if: {spec.label}")
        what_if = pol.replace(threshold=thr)
        if thr != sel.threshold and st.button("apply to sidebar"):
            sidebar.request_policy(pol.name, thr)
    if pol.name == "oracle" and label is None:
        st.info("The oracle exits at the first block that is right, so it needs the true label: pick it in the "
                "form above and press Run.", icon=":material/info:")
        st.plotly_chart(charts.class_band(probs, names), key="pg_band_nolabel")
        return
    try:
        exits = decide(what_if, tr)
        base = int(decide(pol, tr).exit_block[0])
    except ValueError as e:
        state.fail(e, "Change the policy settings in the sidebar.")
    s = exit_summary(tr, exits)
    e0 = s["exit_block"]
    m = top.columns(5)
    delta = None if what_if is pol else (f"{e0 - base:+d} vs sidebar" if e0 != base else "same as sidebar")
    never = "" if s["fired"] else "; the rule never fired, so the sentence ran to the last block"
    m[0].metric("exit block", f"{e0 + 1} of {b.n_blocks}", delta=delta, delta_color="off",
                delta_arrow="off" if e0 == base else "auto", help="the last block computed" + never)
    verdict = "" if label is None else (" ✓" if s["pred"] == label else " ✗")
    m[1].metric("prediction", s["pred_name"] + verdict,
                help=f"answered by block {s['answer_block'] + 1}"
                     + ("" if label is None else f"; true: {names[label]}"))
    m[2].metric("confidence", f"{s['confidence']:.1%}", help="the answering exit's probability of its class")
    m[3].metric("layer speed-up", f"{s['layer_speedup']:.2f}×", help="L / blocks computed")
    m[4].metric("FLOPs spent, of full", f"{s['flops_spent'] / s['flops_full']:.0%}",
                help=f"{charts.fmt_flops(s['flops_spent'])} of {charts.fmt_flops(s['flops_full'])} "
                     "(embeddings + blocks + exit heads)")
    overturn.overturn_warning(tr, s["answer_block"], s["pred"], s["confidence"], label, top)
    top.markdown(f"**Why:** {what_if.reason(tr, 0, exits)}.")
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(charts.class_band(probs, names, e0), key="pg_band")
    c2.plotly_chart(charts.flops_bar(s["flops_spent"], s["flops_full"], e0, b.n_blocks), key="pg_flops")
    stats = sample_signals(tr, 0, **what_if.signal_options())
    keys = ["entropy", "entropy_norm", "frac_reduction"] + (["edr"] if "edr" in stats else [])
    if what_if.signal_key and what_if.signal_key not in keys:
        keys.insert(0, what_if.signal_key)
    st.plotly_chart(charts.signal_curves(stats, what_if.signal_key, what_if.scalar_threshold, e0,
                                         getattr(what_if, "direction", "below"), keys=keys), key="pg_signals")
    with st.expander("the numbers per block"):
        table = {"block": list(range(1, tr.n_blocks + 1)), "prediction": [names[p] for p in tr.preds[0]]}
        for k, name in enumerate(names):
            table[f"p({name})"] = np.round(probs[:, k], 4)
        for stat in stats.values():
            table[stat.name] = np.round(np.asarray(stat.value, dtype=float), 4)
        st.dataframe(table, hide_index=True)


exit_view()

c1, c2 = st.columns(2)
c1.plotly_chart(charts.probability_lines(probs, names), key="pg_probs")
if tr.proto_dist is not None:
    c2.plotly_chart(charts.prototype_distances(tr.proto_dist[0], names, distance=tr.meta.get("distance",
                                                                                              "sqeuclidean")),
                    key="pg_protos")
else:
    c2.info("This model has no prototype heads (proto_dim = 0): no DE³ distances to show.")

# ── why this exit, and what would move it (issue 14): salience, attention, the counterfactual editor ──
try:
    why_exit = int(decide(pol, tr).exit_block[0])      # the sidebar policy's exit (the what-if stays above)
except ValueError:                                      # e.g. the oracle without a label
    why_exit = None
st.divider()
explain_panel.why_panel(b, text, text_b, why_exit, tr)
st.divider()
editor.editor(b, text, text_b, label, pol, tr)

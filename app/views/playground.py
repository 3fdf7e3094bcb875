"""Playground: type a sentence (or a pair) and watch it travel through the blocks until it exits."""
import numpy as np
import streamlit as st

from app import charts, derive, sidebar, state
from app import params as P
from core.policies import POLICIES, decide, make_policy

sel = state.current()
b = sel.bundle
ss = st.session_state

st.title("Playground")
st.caption(f"**{b.name}** · policy **{POLICIES[sel.policy_name].title}**"
           + (f" at {sel.threshold:.4g}" if sel.threshold is not None else "")
           + " · every block's exit head is recorded once; the policy then decides where the sentence stops.")


@st.cache_data(show_spinner=False)
def _examples(task: str | None, is_pair: bool, n_classes: int) -> list[dict]:
    """Sentences to click: the team's probe set for SST-2-style models, the first dev pairs otherwise."""
    try:
        if not is_pair and n_classes == 2:
            from core.data import load_probes
            ds = load_probes()
            return [{"text": t, "text_b": None, "label": int(y), "group": c}
                    for t, y, c in zip(ds["text"], ds["label"], ds["category"])]
        if task:
            from core.data import load_task
            ds = load_task(task, "validation", limit=12)
            return [{"text": t, "text_b": tb, "label": int(y), "group": "dev pairs"}
                    for t, tb, y in zip(ds["text"], ds["text_b"] if is_pair else [None] * len(ds), ds["label"])]
    except (ValueError, OSError):
        return []
    return []


examples = _examples(b.task.name if b.task else None, b.is_pair, b.n_classes)
label_options = ["unknown"] + list(b.label_names)


def _use_example() -> None:
    pick = ss.get("pg_example")
    ex = next((e for e in examples if _pill(e) == pick), None)
    if ex is None:
        return
    ss["pg_text"] = ex["text"]
    if b.is_pair:
        ss["pg_text_b"] = ex["text_b"] or ""
    ss["pg_label"] = label_options[ex["label"] + 1] if 0 <= ex["label"] < b.n_classes else "unknown"
    ss["pg_run"] = {"text": ex["text"], "text_b": ex["text_b"] if b.is_pair else None, "label": ex["label"]}


def _pill(e: dict) -> str:
    return e["pill"]


for j, e in enumerate(examples):      # a short, unique label per example
    short = e["text"] if len(e["text"]) <= 48 else e["text"][:46] + "…"
    e["pill"] = short if sum(x.get("pill") == short for x in examples[:j]) == 0 else f"{short} ({j + 1})"


# a model for another task (or pairs instead of single sentences) starts over from its own examples
kind = (b.task.name if b.task else None, b.is_pair, tuple(b.label_names))
if ss.get("pg_kind") not in (None, kind):
    for k in ("pg_text", "pg_text_b", "pg_label", "pg_run", "pg_example", "pg_group"):
        ss.pop(k, None)
ss["pg_kind"] = kind

# starting values: the URL's sentence, else the first example (and run it, so the page shows something)
sidebar.page_param("pg_text", "text", lambda raw: (P.first(raw) or "", None),
                   examples[0]["text"] if examples else "a gorgeous , witty , seductive movie .")
if b.is_pair:
    sidebar.page_param("pg_text_b", "text_b", lambda raw: (P.first(raw) or "", None),
                       (examples[0]["text_b"] or "") if examples else "")
sidebar.page_param("pg_label", "label", lambda raw: P.parse_choice(raw, label_options, "unknown", "label"),
                   label_options[examples[0]["label"] + 1] if examples and not st.query_params.get("text")
                   else "unknown")
if ss.get("pg_label") not in label_options:
    ss["pg_label"] = "unknown"
if "pg_run" not in ss:
    ss["pg_run"] = {"text": ss["pg_text"], "text_b": ss.get("pg_text_b") if b.is_pair else None,
                    "label": label_options.index(ss["pg_label"]) - 1}

if examples:
    groups = list(dict.fromkeys(e["group"] for e in examples))
    with st.container(border=True):
        if len(groups) > 1:
            if ss.get("pg_group") not in groups:
                ss["pg_group"] = groups[0]
            st.segmented_control("example sentences", groups, key="pg_group")
        group = ss.get("pg_group") or groups[0]
        st.pills("click one to run it", [_pill(e) for e in examples if e["group"] == group], key="pg_example",
                 on_change=_use_example, label_visibility="visible" if len(groups) == 1 else "collapsed")

with st.form("pg_form", border=True):
    if b.is_pair:
        c1, c2 = st.columns(2)
        c1.text_area(f"first sentence ({b.task.text_columns[0]})", key="pg_text", height=90)
        c2.text_area(f"second sentence ({b.task.text_columns[1]})", key="pg_text_b", height=90)
    else:
        st.text_area("sentence", key="pg_text", height=90, placeholder="type a sentence…")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.selectbox("true label (optional: the oracle policy and the ✓/✗ need it)", label_options, key="pg_label")
    if c2.form_submit_button("Run", type="primary", icon=":material/play_arrow:", width="stretch"):
        ss["pg_run"] = {"text": ss["pg_text"], "text_b": ss.get("pg_text_b") if b.is_pair else None,
                        "label": label_options.index(ss["pg_label"]) - 1}

run = ss["pg_run"]
text, text_b = run["text"] or "", run.get("text_b")
label = run.get("label", -1)
label = None if label is None or label < 0 else int(label)
if not text.strip() or (b.is_pair and not (text_b or "").strip()):
    st.info("Type a sentence" + (" pair (both sentences)" if b.is_pair else "") + " and press **Run** — or click "
            "one of the examples.", icon=":material/edit:")
    st.stop()
sidebar.write_params({"text": text[: P.TEXT_URL_CHARS], "text_b": text_b[: P.TEXT_URL_CHARS] if text_b else None,
                      "label": b.label_names[label] if label is not None else None})

n_tok = state.token_count(b, text, text_b)
if n_tok <= b.tokenizer.num_special_tokens_to_add(b.is_pair):
    st.info("The text has no readable characters (only invisible or control characters): type a sentence and "
            "press **Run**.", icon=":material/edit:")
    st.stop()
if n_tok > b.max_len:
    st.caption(f":material/content_cut: The text has {n_tok:,} tokens ({len(text) + len(text_b or ''):,} characters); the model reads "
               f"the first {b.max_len} tokens — the rest is truncated."
               + (f" The URL keeps the first {P.TEXT_URL_CHARS} characters." if len(text) > P.TEXT_URL_CHARS else ""))

try:
    tr = state.sentence_trace(b, b.key, text, text_b, label)
except state.USER_ERRORS as e:
    state.fail(e, "Try a shorter or different text.")

probs = tr.probs[0]
names = tr.label_names


@st.fragment
def exit_view() -> None:
    """The policy-dependent part: a what-if threshold moves the exit without running the model again."""
    spec = P.slider_spec(sel.policy_name, b.n_blocks, b.n_classes)
    thr = sel.threshold
    if spec is not None:
        src = (sel.policy_name, sel.threshold, b.name)
        if ss.get("pg_whatif_src") != src or "pg_whatif" not in ss:
            ss["pg_whatif"] = int(thr) if spec.integer else thr       # follow the sidebar when it moves
            ss["pg_whatif_src"] = src
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        if spec.integer:
            c1.slider(f"what-if: {spec.label}", int(spec.lo), int(spec.hi), step=1, key="pg_whatif")
        else:
            c1.slider(f"what-if: {spec.label}", spec.lo, spec.hi, step=spec.step, key="pg_whatif", format=spec.fmt)
        thr = float(ss["pg_whatif"])
        if thr != sel.threshold and c2.button("apply to sidebar", width="stretch"):
            sidebar.request_policy(sel.policy_name, thr)
    if sel.policy_name == "oracle" and label is None:
        st.info("The oracle exits at the first block that is right, so it needs the true label: pick it in the "
                "form above and press Run.", icon=":material/info:")
        st.plotly_chart(charts.class_band(probs, names), key="pg_band_nolabel")
        return
    try:
        pol = make_policy(sel.policy_name, **P.policy_params(sel.policy_name, thr, sel.lam, sel.direction,
                                                             sel.reference, sel.earliest))
        exits = decide(pol, tr)
    except ValueError as e:
        state.fail(e, "Change the policy settings in the sidebar.")
    s = derive.exit_summary(tr, exits)
    e0 = s["exit_block"] - 1
    m = st.columns(5)
    delta = None
    if spec is not None and thr != sel.threshold:
        base = int(decide(sel.policy(), tr).exit_block[0]) + 1
        delta = f"{s['exit_block'] - base:+d} vs sidebar" if s["exit_block"] != base else "same as sidebar"
    m[0].metric("exit block", f"{s['exit_block']} of {b.n_blocks}", delta=delta, delta_color="off",
                help="the last block computed (1-based)" + ("" if s["fired"] else "; the rule never fired, so the "
                                                              "sentence ran to the last block"))
    verdict = "" if label is None else (" ✓" if s["pred"] == label else " ✗")
    m[1].metric("prediction", s["pred_name"] + verdict,
                help=f"answered by block {s['answer_block']}" + ("" if label is None else f"; true: {names[label]}"))
    m[2].metric("confidence", f"{s['confidence']:.1%}", help="the answering exit's probability of its class")
    m[3].metric("layer speed-up", f"{s['layer_speedup']:.2f}×", help="L / blocks computed")
    m[4].metric("FLOPs spent", f"{s['flops_spent'] / s['flops_full']:.0%} of full",
                help=f"{s['flops_spent']:,.0f} of {s['flops_full']:,.0f} FLOPs (embeddings + blocks + exit heads)")
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(charts.class_band(probs, names, e0), key="pg_band")
    c2.plotly_chart(charts.flops_bar(s["flops_spent"], s["flops_full"], e0, b.n_blocks), key="pg_flops")
    stats = derive.sample_signals(tr, 0, pol)
    keys = ["entropy", "entropy_norm", "frac_reduction"] + (["edr"] if "edr" in stats else [])
    st.plotly_chart(charts.signal_curves(stats, derive.policy_signal_key(pol), derive.threshold_of(pol), e0,
                                         pol.direction if hasattr(pol, "direction") else "below", keys=keys),
                    key="pg_signals")


exit_view()

c1, c2 = st.columns(2)
c1.plotly_chart(charts.probability_lines(probs, names), key="pg_probs")
if tr.proto_dist is not None:
    c2.plotly_chart(charts.prototype_distances(tr.proto_dist[0], names, distance=tr.meta.get("distance",
                                                                                              "sqeuclidean")),
                    key="pg_protos")
else:
    c2.info("This model has no prototype heads (proto_dim = 0): no DE³ distances to show.")

with st.expander("the numbers per block"):
    stats = derive.sample_signals(tr, 0, sel.policy() if sel.policy_name != "oracle" else None)
    table = {"block": derive.block_labels(tr.n_blocks), "prediction": [names[p] for p in tr.preds[0]]}
    for k, name in enumerate(names):
        table[f"p({name})"] = np.round(probs[:, k], 4)
    for key, stat in stats.items():
        table[stat.name] = np.round(np.asarray(stat.value, dtype=float), 4)
    st.dataframe(table, hide_index=True)
    st.text(f"input ({n_tok} tokens): {text[:300]}" + ("…" if len(text) > 300 else "")
            + (f"\nsecond: {text_b[:300]}" if text_b else ""))

"""The "why" panel: which words each block read (salience per word and block, the exit's salience on the
sentence itself) and where each block and head looks (attention) — plus the Learn page's early-vs-late view.

The numbers come from core.explain, cached per model, sentence and method (``st.cache_data``). Gradient ×
input is fast (one backward pass for all blocks) and shown first; integrated gradients (Sundararajan et al.
2017) runs the model ~32 times per block, so it waits for a button and reports its progress in a
``st.status``. Every block explains its *own* predicted class (core.explain.salience), which is what tells an early
exit's reading from the last block's.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, widgets
from core import explain
from core.explain import Salience
from core.run import ModelBundle

IG_STEPS = 32
METHOD_LABELS = {"grad_x_input": "gradient × input", "rollout": "attention rollout", "ig": "integrated gradients"}
METHOD_NOTES = {
    "grad_x_input": "Gradient × input (Shrikumar et al. 2016): a first-order guess of each word's push on the "
                    "block's logit for its own class — fast, but only local.",
    "rollout": "Attention rollout (Abnar & Zuidema 2020): how much of each word flows into the block's pooled "
               "state through the attention of the blocks so far. Unsigned and the same for every class: it says "
               "what a block *looked at*, not what it decided on.",
    "ig": "Integrated gradients (Sundararajan et al. 2017) from a [PAD] baseline: the scores of a block add up to "
          "its logit's change from the baseline (completeness), so they can be compared word by word.",
}
ERRORS = (ValueError, TypeError)      # core.explain: unreadable text, a model class nobody registered


@st.cache_resource(max_entries=16, show_spinner=False)
def sentence_run(_bundle: ModelBundle, model_id: str, text: str, text_b: str | None, _trace) -> explain.SentenceRun:
    """The sentence run once (core.explain.sentence): the page's own recording, one tokenization and one
    word-embedding forward, shared by salience and attention."""
    return explain.run_sentence(_bundle.model, _bundle.tokenizer, text, text_b, trace=_trace)


@st.cache_data(max_entries=64, show_spinner=False)
def salience(_bundle: ModelBundle, model_id: str, text: str, text_b: str | None, method: str,
             _run: explain.SentenceRun | None = None) -> Salience:
    """core.explain.salience of every block, cached per model digest, sentence and method."""
    return explain.salience(_bundle.model, _bundle.tokenizer, text, text_b, method=method, steps=IG_STEPS, run=_run)


@st.cache_data(max_entries=32, show_spinner=False)
def attention(_bundle: ModelBundle, model_id: str, text: str, text_b: str | None,
              _run: explain.SentenceRun | None = None) -> tuple[np.ndarray, list[str]]:
    """(L, H, T, T) attention weights and the T word pieces they are over ([CLS]/[SEP] included)."""
    if _run is not None:
        return _run.attention(), _run.enc.tokens
    maps = explain.attention(_bundle.model, _bundle.tokenizer, text, text_b)
    tokens = explain.encode_words(_bundle.tokenizer, text, text_b, explain.max_tokens(_bundle.model)).tokens
    return maps, tokens


# ── pieces shared by the Playground and the Learn page ───────────────────────────────────────────────

def shown_words(sal: Salience) -> tuple[list[str], np.ndarray]:
    """The words a page shows ([CLS]/[SEP] hidden) and their scores, (L', W')."""
    keep = ~sal.is_special
    return [w for w, k in zip(sal.words, keep) if k], sal.word_scores[:, keep]


def row_of(sal: Salience, block: int) -> int:
    return int(np.flatnonzero(np.asarray(sal.blocks) == block)[0])


def highlight(sal: Salience, block: int, text: str, text_b: str | None) -> str:
    """HTML: the sentence (and its pair) with block ``block``'s salience as the words' background."""
    r = row_of(sal, block)
    keep = ~sal.is_special
    top = float(np.abs(sal.word_scores[r, keep]).max()) if keep.any() else 0.0
    parts = []
    for g, t in enumerate([text] if text_b is None else [text, text_b]):
        on = sal.word_segment == g
        parts.append(charts.highlighted_text(t, sal.word_spans[on], sal.word_scores[r, on], top))
    return "".join(parts)


def top_words(sal: Salience, block: int, n: int = 3) -> list[str]:
    """The ``n`` words that pushed block ``block`` hardest toward its own class (most positive scores; a word
    that occurs twice is named once, at its stronger place)."""
    words, scores = shown_words(sal)
    row = scores[row_of(sal, block)]
    ranked = [words[j] for j in np.argsort(-row, kind="stable") if row[j] > 0]
    return list(dict.fromkeys(ranked))[:n]


def numbers_table(sal: Salience, label_names) -> pd.DataFrame:
    """Words × blocks, the raw scores the heatmap shows (column: "block b (its class)")."""
    words, scores = shown_words(sal)
    table = {"word": words}
    for r, b in enumerate(sal.blocks):
        table[f"block {b + 1} ({label_names[int(sal.target[b])]})"] = scores[r]
    return pd.DataFrame(table)


# ── the Playground's why panel ────────────────────────────────────────────────────────────────────────

def why_panel(b: ModelBundle, text: str, text_b: str | None, exit_block: int | None, trace=None) -> None:
    """Salience per word and block (with a method choice; integrated gradients on demand), the exit block's
    salience on the sentence, and the attention of one block and head. ``exit_block``: the sidebar
    policy's exit (0-based), None when it cannot decide."""
    st.subheader(":material/manage_search: Why: what each block read")
    st.caption("Every block's exit is explained for **its own** predicted class — the class it would answer if the "
               "sentence stopped there. Blue words pushed the block toward that class, red ones away from it.")
    method = widgets.choice(st, "salience method", list(METHOD_LABELS), "pg_why_method", "grad_x_input",
                            kind="segmented", format_func=METHOD_LABELS.get)
    run = None
    if trace is not None:                        # the page's recording of this sentence: run it no second time
        try:
            run = sentence_run(b, b.key, text, text_b, trace)
        except ERRORS:
            run = None
    sal = _salience_on_demand(b, text, text_b, method, run)
    if sal is not None:
        _show_salience(sal, b.label_names, exit_block, text, text_b)
    attention_view(b, text, text_b, exit_block, run)


def _salience_on_demand(b: ModelBundle, text: str, text_b: str | None, method: str, run=None) -> Salience | None:
    """The fast methods at once; integrated gradients after its button, with progress (then cached)."""
    done = st.session_state.setdefault("_pg_ig_done", set())
    key = (b.key, text, text_b)
    try:
        if method != "ig" or key in done:
            return salience(b, b.key, text, text_b, method, run)
        ask = st.empty()                                 # the offer goes away once the button is pressed
        with ask.container():
            st.info(f"Integrated gradients runs every block's exit along a {IG_STEPS}-point path from [PAD] to the "
                    "sentence (more points where it is not yet complete to 1 %): a few seconds on a large model.",
                    icon=":material/timer:")
            if not st.button(":material/play_arrow: compute integrated gradients", key="pg_why_ig"):
                return None
        ask.empty()
        with st.status(f"Integrated gradients for {b.n_blocks} exits…", expanded=True) as status:
            st.write(f"{IG_STEPS} interpolation steps per exit, all exits in one batch (captum).")
            t0 = time.perf_counter()
            sal = salience(b, b.key, text, text_b, "ig", run)
            status.update(label=f"Integrated gradients: {time.perf_counter() - t0:.1f} s · completeness gap ≤ "
                                f"{float(np.max(sal.completeness_gap)):.2%}", state="complete", expanded=False)
        done.add(key)
        return sal
    except ERRORS as e:
        st.warning(f"No salience for this sentence: {e}", icon=":material/warning:")
        return None


def _show_salience(sal: Salience, names, exit_block: int | None, text: str, text_b: str | None) -> None:
    words, scores = shown_words(sal)
    last = int(sal.blocks[-1])
    marks = {} if exit_block is None else {exit_block: "exit"}
    c1, c2 = st.columns([3, 2], gap="large")
    c1.plotly_chart(charts.salience_heatmap(scores, words, sal.target, names, sal.blocks, marks,
                                            scaled=True, title=f"{METHOD_LABELS[sal.method]} per word and block"),
                    key="pg_why_heat")
    with c2:
        if exit_block == last:
            shown = [(last, "the exit, and the last block")]
        else:
            shown = ([] if exit_block is None else [(exit_block, "the exit")]) + [(last, "the last block")]
        for blk, what in shown:
            cls = names[int(sal.target[blk])]
            st.markdown(f"**Block {blk + 1}** ({what}) reads it as **{cls}**:")
            st.markdown(highlight(sal, blk, text, text_b), unsafe_allow_html=True)
        st.caption(METHOD_NOTES[sal.method] + " Each column of the heatmap is scaled to its own strongest word; "
                   "hover a cell for the raw score. [CLS]/[SEP] are hidden.")
        if sal.completeness_gap is not None:
            st.caption(f"Completeness: every block's scores add up to its logit change f(x) − f([PAD]) within "
                       f"{float(np.max(sal.completeness_gap)):.2%} (captum's convergence delta); steps per block: "
                       + ", ".join(str(int(s)) for s in sal.steps) + ".")
    with st.expander("the numbers (words × blocks)"):
        st.dataframe(numbers_table(sal, names), hide_index=True, key="pg_why_table")


def attention_view(b: ModelBundle, text: str, text_b: str | None, exit_block: int | None, run=None) -> None:
    """One block's attention (one head, or the average of its heads) over the word pieces."""
    st.markdown("##### :material/visibility: Attention: where each block looks")
    try:
        maps, tokens = attention(b, b.key, text, text_b, run)
    except ERRORS as e:
        st.info(f"No attention for this model: {e}", icon=":material/info:")
        return
    n_blocks, n_heads = maps.shape[:2]
    start = (exit_block if exit_block is not None else n_blocks - 1) + 1
    if st.session_state.get("_pg_att_src") != (b.key, text, text_b):        # a new sentence opens at its exit
        widgets.set_value("pg_att_block", start)
        st.session_state["_pg_att_src"] = (b.key, text, text_b)
    c1, c2 = st.columns([1, 3], gap="large")
    blk = widgets.choice(c1, "block", list(range(1, n_blocks + 1)), "pg_att_block", start,
                         format_func=lambda k: f"block {k}" + (" (the exit)" if exit_block == k - 1 else ""))
    head = widgets.choice(c1, "head", list(range(n_heads + 1)), "pg_att_head", 0,
                          format_func=lambda h: "average of the heads" if h == 0 else f"head {h}")
    w = maps[blk - 1].mean(0) if head == 0 else maps[blk - 1, head - 1]          # (T, T)
    c1.caption(f"Row = the word piece that looks (query), column = the one it looks at (key); every row sums to "
               f"1. {n_heads} heads per block. Many heads park their attention on [CLS] or [SEP] when nothing "
               "else is relevant (Clark et al. 2019).")
    causal = bool(getattr(b.model, "causal", False))
    if causal:
        c1.caption("A decoder: each token sees only itself and the tokens before it (the blank triangle is the "
                   "future it cannot see), and the exit reads the last real token.")
    who = "average of the heads" if head == 0 else f"head {head}"
    c2.plotly_chart(charts.attention_heatmap(w, tokens, title=f"Block {blk}, {who}" + (" (causal)" if causal else ""),
                                             causal=causal), key="pg_att")


# ── the Learn page: what the early block saw and the late block changed ────────────────────────────────

def early_vs_late(b: ModelBundle, text: str, text_b: str | None, early: int, late: int, label: int,
                  key: str = "ln_over") -> Salience | None:
    """For a destructive-overthinking sample: the words block ``early`` (right) and block ``late`` (wrong)
    leaned on, as highlighted text and as the heatmap over every block (gradient × input)."""
    if getattr(b, "model", None) is None:            # a recorded trace opened without its model
        st.info("Which words each block read needs the model itself: open the model this trace was recorded "
                "with in the sidebar to see them.", icon=":material/folder_open:")
        return None
    try:
        sal = salience(b, b.key, text, text_b, "grad_x_input")
    except ERRORS as e:
        st.warning(f"No salience for this sample: {e}", icon=":material/warning:")
        return None
    names = b.label_names
    for blk in (early, late):
        cls = int(sal.target[blk])
        verdict = "✓ right" if cls == label else "✗ wrong"
        st.markdown(f"**Block {blk + 1}** says **{names[cls]}** ({verdict}) — the words it leaned on:")
        st.markdown(highlight(sal, blk, text, text_b), unsafe_allow_html=True)
    a, z = top_words(sal, early), top_words(sal, late)
    st.caption(f"Block {early + 1} leaned most on " + (", ".join(f"“{w}”" for w in a) or "no word")
               + f" for {names[int(sal.target[early])]}; block {late + 1} on "
               + (", ".join(f"“{w}”" for w in z) or "no word") + f" for {names[int(sal.target[late])]}. "
               + METHOD_NOTES["grad_x_input"])
    words, scores = shown_words(sal)
    st.plotly_chart(charts.salience_heatmap(scores, words, sal.target, names, sal.blocks,
                                            {early: "right", late: "wrong"},
                                            title="What every block read (gradient × input)"), key=f"{key}_heat")
    return sal

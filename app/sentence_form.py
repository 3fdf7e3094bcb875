"""The Playground's input: example sentences, the form, the true label, and what the model reads.

The true label belongs to the text it was given for: an example brings its own label, and a text typed
over it goes back to "unknown" unless the user picks a label for it — so a typed sentence is never judged
(✓/✗) against a label nobody gave it, and no such label goes into the shared URL.
"""
from __future__ import annotations

import streamlit as st

from app import params as P
from app import sidebar, widgets
from core.model import TokenInfo
from core.run import ModelBundle

UNKNOWN_WARN_SHARE = 0.5       # warn when at least this share of the word pieces is unknown to the model


@st.cache_data(show_spinner=False)
def examples(task: str | None, is_pair: bool, n_classes: int) -> list[dict]:
    """Sentences to click: the team's probe set for SST-2-style models, the first dev pairs otherwise."""
    try:
        if not is_pair and n_classes == 2:
            from core.data import load_probes
            ds = load_probes()
            out = [{"text": t, "text_b": None, "label": int(y), "group": c}
                   for t, y, c in zip(ds["text"], ds["label"], ds["category"])]
        elif task:
            from core.data import load_task
            ds = load_task(task, "validation", limit=12)
            out = [{"text": t, "text_b": tb, "label": int(y), "group": "dev pairs"}
                   for t, tb, y in zip(ds["text"], ds["text_b"] if is_pair else [None] * len(ds), ds["label"])]
        else:
            return []
    except (ValueError, OSError):
        return []
    for j, e in enumerate(out):       # a short, unique label per example
        short = e["text"] if len(e["text"]) <= 48 else e["text"][:46] + "…"
        e["pill"] = short if sum(x.get("pill") == short for x in out[:j]) == 0 else f"{short} ({j + 1})"
    return out


def draw(b: ModelBundle) -> dict:
    """Examples and the form; returns the run {"text", "text_b", "label" (None when unknown)}; stops the page
    with a hint when there is nothing to run."""
    ss = st.session_state
    exs = examples(b.task.name if b.task else None, b.is_pair, b.n_classes)
    options = ["unknown"] + list(b.label_names)
    kind = (b.task.name if b.task else None, b.is_pair, tuple(b.label_names))
    if ss.get("pg_kind") not in (None, kind):          # another task's model starts over from its own examples
        widgets.forget("pg_text", "pg_text_b", "pg_label", "pg_run", "pg_example", "pg_group", "pg_auto")
    ss["pg_kind"] = kind
    first = exs[0] if exs else {"text": "a gorgeous , witty , seductive movie .", "text_b": "", "label": -1}
    from_url = st.query_params.get("text") is not None
    sidebar.page_param("pg_text", "text", lambda raw: (P.first(raw) or "", None), first["text"])
    if b.is_pair:
        sidebar.page_param("pg_text_b", "text_b", lambda raw: (P.first(raw) or "", None), first["text_b"] or "")
    sidebar.page_param("pg_label", "label", lambda raw: P.parse_choice(raw, options, "unknown", "label"),
                       options[first["label"] + 1] if not from_url and first["label"] >= 0 else "unknown")
    if ss.get("pg_label") not in options:
        ss["pg_label"] = "unknown"
    if "pg_auto" not in ss:                            # the label the page set, and for which text
        ss["pg_auto"] = (ss["pg_text"], ss["pg_label"])
    if "pg_run" not in ss:
        ss["pg_run"] = _run(b, options)
    if exs:
        _example_pills(b, exs, options)
    with st.form("pg_form", border=True):
        if b.is_pair:
            c1, c2 = st.columns(2)
            c1.text_area(f"first sentence ({b.task.text_columns[0]})", key="pg_text", height=90)
            c2.text_area(f"second sentence ({b.task.text_columns[1]})", key="pg_text_b", height=90)
        else:
            st.text_area("sentence", key="pg_text", height=90, placeholder="type a sentence…")
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.selectbox("true label (optional: the oracle policy and the ✓/✗ need it)", options, key="pg_label")
        c2.form_submit_button("Run", type="primary", width="stretch", on_click=_submitted, args=(b, options))
    run = ss["pg_run"]
    if not run["text"].strip() or (b.is_pair and not (run["text_b"] or "").strip()):
        st.info("Type a sentence" + (" pair (both sentences)" if b.is_pair else "") + " and press **Run** — or "
                "click one of the examples.", icon=":material/edit:")
        st.stop()
    return run


def _submitted(b: ModelBundle, options: list[str]) -> None:
    """Run: a text typed over the one the label was given for goes back to "unknown" (unless the user picked
    a label for it)."""
    ss = st.session_state
    auto_text, auto_label = ss["pg_auto"]
    if ss["pg_text"] != auto_text and ss["pg_label"] == auto_label:
        ss["pg_label"] = "unknown"
    ss["pg_auto"] = (ss["pg_text"], ss["pg_label"])
    ss["pg_run"] = _run(b, options)


def _run(b: ModelBundle, options: list[str]) -> dict:
    ss = st.session_state
    y = options.index(ss["pg_label"]) - 1
    return {"text": ss["pg_text"] or "", "text_b": (ss.get("pg_text_b") or "") if b.is_pair else None,
            "label": None if y < 0 else y}


def _example_pills(b: ModelBundle, exs: list[dict], options: list[str]) -> None:
    ss = st.session_state

    def use() -> None:
        ex = next((e for e in exs if e["pill"] == ss.get("pg_example")), None)
        if ex is None:
            return
        ss["pg_text"] = ex["text"]
        if b.is_pair:
            ss["pg_text_b"] = ex["text_b"] or ""
        ss["pg_label"] = options[ex["label"] + 1] if 0 <= ex["label"] < b.n_classes else "unknown"
        ss["pg_auto"] = (ss["pg_text"], ss["pg_label"])
        ss["pg_run"] = _run(b, options)

    groups = list(dict.fromkeys(e["group"] for e in exs))
    with st.container(border=True):
        if len(groups) > 1:
            if ss.get("pg_group") not in groups:
                ss["pg_group"] = groups[0]
            st.segmented_control("example sentences", groups, key="pg_group")
        group = ss.get("pg_group") or groups[0]
        st.pills("click one to run it", [e["pill"] for e in exs if e["group"] == group], key="pg_example",
                 on_change=use, label_visibility="visible" if len(groups) == 1 else "collapsed")


def token_notes(tokens: TokenInfo, text: str, text_b: str | None) -> None:
    """What the model reads: truncation, and the word pieces with the unknown ones marked."""
    if tokens.truncated:
        st.caption(f":material/content_cut: The text has {tokens.n_tokens:,} tokens "
                   f"({len(text) + len(text_b or ''):,} characters); "
                   f"the model reads the first {tokens.max_len} tokens — the rest is truncated."
                   + (f" The URL keeps the first {P.TEXT_URL_CHARS} characters."
                      if len(text) > P.TEXT_URL_CHARS else ""))
    if tokens.n_text and tokens.unknown_share >= UNKNOWN_WARN_SHARE:
        st.warning(f"{unknown_words(tokens.n_unknown, tokens.n_text)} unknown to this model ([UNK]): its prediction "
                   "says little about this text. Try words in the model's language.", icon=":material/warning:")
    pieces = " ".join(f"⚠{p}" if u else p for p, u, s in zip(tokens.pieces, tokens.unknown, tokens.special) if not s)
    with st.expander(f"what the model reads: {pieces_word(tokens.n_text)}"
                     + (f", {tokens.n_unknown} unknown" if tokens.n_unknown else "")):
        st.text(f"input ({tokens.n_tokens} tokens): {text[:300]}" + ("…" if len(text) > 300 else "")
                + (f"\nsecond: {text_b[:300]}" if text_b else ""))
        st.text(pieces)                     # plain text: the user's characters are never parsed as markdown/HTML
        if tokens.n_unknown:
            st.caption("⚠ marks a word piece the model does not know ([UNK]): it reads nothing from it.")


def pieces_word(n: int) -> str:
    return f"{n:,} word piece" + ("" if n == 1 else "s")


def unknown_words(unknown: int, total: int) -> str:
    """'the only word piece is' / 'all 3 word pieces are' / '2 of the 5 word pieces are' — for 'unknown…'."""
    if unknown == total:
        return "The only word piece is" if total == 1 else f"All {total:,} word pieces are"
    return f"{unknown:,} of the {pieces_word(total)} " + ("is" if unknown == 1 else "are")

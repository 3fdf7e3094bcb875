"""The counterfactual editor: change a word of the sentence and compare the two trips through the blocks,
or let core.explain.counterfactuals find the one-word edits that move the exit, flip the prediction, or
create/remove destructive overthinking (SDN, Kaya et al. 2019) — and load one with a click.

Both trips are recorded and decided by the same code as the Playground (app.state.sentence, core.policies.rules
.decide), so the exit block shown for an edit is the one the Playground shows when that edit is typed in.
"""
from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, state, widgets
from core.analysis import exit_summary
from core.explain import Edit, counterfactuals, read_prefix, word_context
from core.policies import Policy, decide, sample_signals
from core.run import ModelBundle
from core.trace import Trace

MAX_EDITS = 20
KIND_LABELS = {"exit_moved": ":material/fast_forward: moves the exit",
               "prediction_flipped": ":material/swap_horiz: flips the prediction",
               "overthinking_created": ":material/warning: creates overthinking",
               "overthinking_removed": ":material/check_circle: removes overthinking"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """User text inside Markdown (a button label, a caption): every Markdown character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


@st.cache_data(max_entries=32, show_spinner=False)
def find_edits(_bundle: ModelBundle, model_id: str, text: str, text_b: str | None, policy_id: str, _policy: Policy,
               label: int | None) -> list[Edit]:
    """core.explain.counterfactuals, cached per model digest, sentence, policy (its repr) and true label."""
    return counterfactuals(_bundle.model, _bundle.tokenizer, text, _policy, text_b, max_edits=MAX_EDITS, label=label)


def editor(b: ModelBundle, text: str, text_b: str | None, label: int | None, policy: Policy, tr: Trace) -> None:
    """The editor below the Playground's why panel: ``tr`` is the Playground's trace of ``text`` (and
    ``text_b``), ``policy`` the sidebar's."""
    st.subheader(":material/edit: Counterfactual editor: what would move the exit?")
    st.caption("Change a word in the box — or let **find edits** try every one-word deletion, swap (negations, "
               "intensifiers, antonyms) and insertion of “not” / “very” — and compare the two trips through the "
               f"blocks under the sidebar's policy ({policy.name}).")
    edited, edited_b = _edit_boxes(b, text, text_b)
    _search(b, text, text_b, label, policy, edited, edited_b)
    if not edited.strip() or (text_b is not None and not (edited_b or "").strip()):
        st.info("The edited sentence is empty: type a word back, or press **reset**.", icon=":material/edit:")
    else:
        _compare(b, tr, text, text_b, edited, edited_b, policy)


def _load(t: str, tb: str | None) -> None:
    widgets.set_value("pg_cf_text", t)
    if tb is not None:
        widgets.set_value("pg_cf_text_b", tb)


def _edit_boxes(b: ModelBundle, text: str, text_b: str | None) -> tuple[str, str | None]:
    """The edited sentence (and pair), starting as the Playground's and reset when that one changes."""
    ss = st.session_state
    src = (b.key, text, text_b)
    if ss.get("_pg_cf_src") != src:
        _load(text, text_b)
        ss["_pg_cf_src"] = src
    widgets.restore("pg_cf_text", text)
    label = "edited sentence — change a word and press Enter"
    if text_b is None:
        c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
        c1.text_input(label, key="pg_cf_text")
    else:
        widgets.restore("pg_cf_text_b", text_b)
        c1, c1b, c2 = st.columns([3, 3, 1], vertical_alignment="bottom")
        c1.text_input("edited first sentence", key="pg_cf_text")
        c1b.text_input("edited second sentence", key="pg_cf_text_b")
    c2.button(":material/undo: reset", key="pg_cf_reset", on_click=_load, args=(text, text_b), width="stretch",
              help="back to the Playground's sentence")
    edited_b = (widgets.remember("pg_cf_text_b") or "") if text_b is not None else None
    return widgets.remember("pg_cf_text") or "", edited_b


def _signal(tr: Trace, policy: Policy):
    """The policy's own per-block signal as a labelled Stat (max probability for a rule without one)."""
    stats = sample_signals(tr, 0, **policy.signal_options())
    return stats.get(policy.signal_key or "max_prob", stats["max_prob"])


def _shared_range(a: np.ndarray, b: np.ndarray, threshold: float | None) -> list[float] | None:
    v = np.concatenate([np.asarray(a, float), np.asarray(b, float), [] if threshold is None else [threshold]])
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    pad = 0.08 * ((v.max() - v.min()) or 1.0)
    return [float(v.min() - pad), float(v.max() + pad)]


def _compare(b: ModelBundle, tr: Trace, text: str, text_b: str | None, edited: str, edited_b: str | None,
             policy: Policy) -> None:
    """The two trips side by side: exit block, prediction and FLOPs, then class and signal per block."""
    try:
        tr2 = tr if (edited, edited_b) == (text, text_b) else state.sentence(b, b.key, edited, edited_b, None)[0]
        missing = policy.missing(tr2)
        if missing:
            st.info(f"The {policy.name} policy cannot decide an edited sentence: it {missing}. Pick another policy "
                    "in the sidebar to compare trips.", icon=":material/info:")
            return
        ex1, ex2 = decide(policy, tr), decide(policy, tr2)
    except state.USER_ERRORS as e:
        st.warning(f"Cannot run the edited sentence: {e}", icon=":material/warning:")
        return
    names = tr.label_names
    s1, s2 = exit_summary(tr, ex1), exit_summary(tr2, ex2)
    joined = lambda a, z: a if z is None else f"{a}  ‖  {z}"
    if joined(edited, edited_b) != joined(text, text_b):
        st.markdown('<div style="line-height:2"><b>edited:</b> ' + charts.diff_html(joined(text, text_b),
                    joined(edited, edited_b)) + "</div>", unsafe_allow_html=True)
    m = st.columns(6)
    full = s1["flops_full"]
    de, df = s2["exit_block"] - s1["exit_block"], (s2["flops_spent"] - s1["flops_spent"]) / full
    for col, side, s in ((0, "original", s1), (3, "edited", s2)):
        d = side == "edited"          # the edited side says how it differs (nothing when it does not)
        m[col].metric(f"exit block ({side})", f"{s['exit_block'] + 1} of {b.n_blocks}",
                      delta=f"{de:+d} block{'s' if abs(de) != 1 else ''}" if d and de else None,
                      delta_color="inverse")
        m[col + 1].metric(f"prediction ({side})", s["pred_name"],
                          delta="flipped" if d and s2["pred"] != s1["pred"] else None, delta_color="off",
                          delta_arrow="off")
        m[col + 2].metric(f"FLOPs ({side})", f"{s['flops_spent'] / full:.0%}",
                          delta=f"{100 * df:+.0f} points" if d and round(100 * df) else None, delta_color="inverse",
                          help=f"share of the full depth: {charts.fmt_flops(s['flops_spent'])} of "
                               f"{charts.fmt_flops(full)}")
    g1, g2 = _signal(tr, policy), _signal(tr2, policy)
    thr = policy.scalar_threshold
    yr = _shared_range(g1.value, g2.value, thr)
    c1, c2 = st.columns(2)
    for col, side, t, s, g in ((c1, "original", tr, s1, g1), (c2, "edited", tr2, s2, g2)):
        col.plotly_chart(charts.trip_chart(t.probs[0], g.value, names, s["exit_block"], g.name, thr, yr,
                                           title=f"{side}: class and {g.name} per block"), key=f"pg_cf_trip_{side}")
    with st.expander("the two trips per block"):
        st.dataframe(pd.DataFrame({"block": np.arange(1, tr.n_blocks + 1),
                                   "class (original)": [names[p] for p in tr.preds[0]],
                                   "class (edited)": [names[p] for p in tr2.preds[0]],
                                   f"{g1.name} (original)": np.asarray(g1.value, float),
                                   f"{g2.name} (edited)": np.asarray(g2.value, float)}), hide_index=True)


def _search(b: ModelBundle, text: str, text_b: str | None, label: int | None, policy: Policy, edited: str,
            edited_b: str | None) -> None:
    """The "find edits" button, its progress, and the list of edits found (each one loads on a click)."""
    ss = st.session_state
    pid = (b.key, text, text_b, repr(policy), label)
    clicked = st.button(":material/search: find edits", key="pg_cf_find", type="primary",
                        help="one batched run of every one-word edit of the sentence (and its pair)")
    read, read_b = read_prefix(b.tokenizer, text, text_b, b.max_len)   # words past what the model reads: no use
    rest, rest_b = text[len(read):], (text_b[len(read_b):] if text_b is not None else None)
    if rest or rest_b:
        st.caption(f":material/content_cut: The model reads {b.max_len} tokens: the search edits only the words it "
                   "reads — the first "
                   f"{len(read.split()):,} of {len(text.split()):,} words"
                   + (f" (and {len(read_b.split()):,} of {len(text_b.split()):,} of the second sentence)"
                      if rest_b else "") + ". Later words cannot change its answer.")
    try:
        if clicked:
            with st.status("Trying one-word edits of the sentence…", expanded=True) as status:
                st.write("deleting each word, swapping it for a negation, intensifier or antonym, inserting “not” "
                         "or “very” before it — all in one batch, decided by the sidebar's policy")
                t0 = time.perf_counter()
                found = find_edits(b, b.key, read, read_b, repr(policy), policy, label)
                status.update(label=f"{len(found)} edit{'s' if len(found) != 1 else ''} found in "
                                    f"{time.perf_counter() - t0:.1f} s", state="complete", expanded=False)
            ss["_pg_cf_found"] = pid
        elif ss.get("_pg_cf_found") == pid:
            found = find_edits(b, b.key, read, read_b, repr(policy), policy, label)       # cached: instant
        else:
            return
    except (ValueError, TypeError) as e:
        st.warning(f"The search cannot run: {e}", icon=":material/warning:")
        return
    _edit_list(found, b.label_names, edited, edited_b, (read, read_b), (rest, rest_b), label is not None)


def _effect(e: Edit, names) -> str:
    """What an edit does, in words: "exit 2 → 4, negative → positive", "exit stays 1, still negative; the
    last block says positive"."""
    out = [f"exit {e.old_exit + 1} → {e.new_exit + 1}" if e.new_exit != e.old_exit else f"exit stays {e.old_exit + 1}",
           f"{plain(names[e.old_pred])} → {plain(names[e.new_pred])}" if e.new_pred != e.old_pred
           else f"still {plain(names[e.old_pred])}"]
    if any(k.startswith("overthinking") for k in e.kinds):
        out.append(f"the last block says {plain(names[int(e.preds[-1])])}")
    return ", ".join(out)


def _kind_label(kind: str, labelled: bool) -> str:
    """Without a true label nothing is known to be right: an "overthinking" edit only changes whether the last
    block agrees with the early exit's answer, and says so."""
    if labelled or not kind.startswith("overthinking"):
        return KIND_LABELS[kind]
    return {"overthinking_created": ":material/undo: the last block now overturns the early answer",
            "overthinking_removed": ":material/handshake: the last block now agrees with the early answer"}[kind]


def _edit_list(found: list[Edit], names, edited: str, edited_b: str | None, originals: tuple[str, str | None],
               rest: tuple[str, str | None] = ("", None), labelled: bool = True) -> None:
    """The edits found, each a button that loads it (with the unread rest of the text put back); a word that
    occurs more than once says which occurrence it is."""
    if not found:
        st.info("No one-word edit moves the exit, flips the prediction or changes overthinking under this policy.",
                icon=":material/search:")
        return
    found = sorted(found, key=lambda e: "prediction_flipped" not in e.kinds)      # flips first (stable otherwise)
    counts = {k: sum(k in e.kinds for e in found) for k in KIND_LABELS}
    st.caption(f"{len(found)} edits — " + ", ".join(f"{n} {_kind_label(k, labelled).split(' ', 1)[1]}"
                                                    for k, n in counts.items() if n)
               + ". Prediction flips first, then fewest words changed and the smallest change of the policy's signal. "
               "Click one to load it into the editor."
               + ("" if labelled else " No true label is given: the early answer is not known to be right or wrong, "
                                      "so no edit is called overthinking — pick the label above to judge."))
    for j, e in enumerate(found):
        full, full_b = e.text + rest[0], (e.text_b + rest[1]) if e.text_b is not None and rest[1] else e.text_b
        c1, c2 = st.columns([2, 3], vertical_alignment="center")
        on = full == edited and full_b == edited_b
        where = word_context(originals[e.side] or "", e.position)
        c1.button(plain(e.describe), key=f"pg_cf_edit_{j}", on_click=_load, args=(full, full_b),
                  type="primary" if on else "secondary", width="stretch", help=where)
        c2.markdown(" · ".join(_kind_label(k, labelled) for k in e.kinds) + " — " + _effect(e, names))
        if where:
            c2.caption(plain(where))

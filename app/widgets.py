"""Widgets whose value outlives them, starts from the URL, and (for thresholds) can be typed.

Streamlit forgets a widget's value when the widget is not drawn for one run (a page that stopped early, a
data source that hides the split box). Every widget here keeps its value in a plain session key
(``"_v_" + key``) as well, and is re-seeded from it when it is drawn again — so "limit 1000" survives a
switch to the probe sentences and back, and a what-if threshold survives an empty Run.

``from_url`` starts a key from a query parameter on a session's first run (once), with the warning
app.params wrote when the URL held nonsense.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from core.policies import ThresholdSpec


def _store(key: str) -> str:
    return "_v_" + key


def restore(key: str, default: Any, valid: Callable[[Any], bool] | None = None) -> Any:
    """Give the widget ``key`` its remembered value (or ``default``) before it is drawn; a value that
    ``valid`` rejects (an option that no longer exists) falls back to ``default``."""
    ss = st.session_state
    value = ss[key] if key in ss else ss.get(_store(key), default)
    if valid is not None and not valid(value):
        value = default
    # Written back every run, not only when missing: a widget that was not drawn for a run keeps its key on
    # the server, but the browser draws it anew from its *default* (the first option, the minimum) unless the
    # value is sent again — and the next click would then send that default back as the user's choice.
    ss[key] = value
    ss[_store(key)] = value
    return value


def remember(key: str) -> Any:
    """After drawing: keep the widget's value for the runs in which it is not drawn."""
    ss = st.session_state
    ss[_store(key)] = ss.get(key)
    return ss[key]


def forget(*keys: str) -> None:
    """Drop widgets' values and their remembered copies: they start from their defaults when next drawn."""
    for key in keys:
        st.session_state.pop(key, None)
        st.session_state.pop(_store(key), None)


def set_value(key: str, value: Any) -> None:
    """Change a widget's value from code, before it is drawn in this run (and for later runs)."""
    st.session_state[key] = value
    st.session_state[_store(key)] = value


def from_url(key: str, qp_name: str, parse: Callable[[Any], tuple[Any, str | None]], warns: list[str]) -> None:
    """On the session's first look at ``key``: its value from the URL's ``qp_name`` (when present), parsed by
    ``parse(raw) → (value, warning)``; warnings are appended to ``warns``."""
    ss = st.session_state
    flag = f"_qp_{key}"
    if flag in ss:
        return
    ss[flag] = True
    raw = st.query_params.get(qp_name)
    if raw is None:
        return
    value, warn = parse(raw)
    if warn:
        warns.append(warn)
    set_value(key, value)


def choice(container, label: str, options: Sequence, key: str, default, *, kind: str = "selectbox",
           **kw) -> Any:
    """A select box / radio / segmented control over ``options`` that keeps its value (see module doc)."""
    options = list(options)
    restore(key, default if default in options else options[0], lambda v: v in options)
    draw = {"selectbox": container.selectbox, "radio": container.radio,
            "segmented": container.segmented_control, "pills": container.pills}[kind]
    draw(label, options, key=key, **kw)
    if kind in ("segmented", "pills") and st.session_state.get(key) is None:   # clicked off: keep the last
        set_value(key, st.session_state.get(_store(key), default))
    return remember(key)


def number(container, label: str, key: str, default, **kw) -> Any:
    """A number input that keeps its value (see module doc)."""
    restore(key, default)
    container.number_input(label, key=key, **kw)
    return remember(key)


def threshold(container, spec: ThresholdSpec, key: str, label: str | None = None, help: str = "") -> float:
    """A threshold as a slider with a number input beside it (for the keyboard, and for the moments when
    the slider reports the value before its latest move). The value lives in ``"_v_" + key``; the slider
    (``key``) and the number (``key + "_num"``) are both set from it each run and write it when moved."""
    ss = st.session_state
    cast = int if spec.integer else float
    value = cast(spec.clamp(ss.get(_store(key), ss.get(key, spec.default))))
    num = key + "_num"
    ss[_store(key)] = value
    ss[key] = value
    ss[num] = value

    def moved(src: str) -> Callable[[], None]:
        def cb() -> None:
            ss[_store(key)] = cast(spec.clamp(ss[src]))
        return cb

    c1, c2 = container.columns([3, 1.25], vertical_alignment="bottom")
    step = 1 if spec.integer else spec.step
    lo, hi = cast(spec.lo), cast(spec.hi)
    c1.slider(label or spec.label, lo, hi, step=step, key=key, format=spec.fmt, help=help or None,
              on_change=moved(key))
    c2.number_input(f"{spec.symbol} =", min_value=lo, max_value=hi, step=step, key=num, format=spec.fmt,
                    on_change=moved(num), help=f"type {spec.symbol} exactly (between {spec.lo:g} and {spec.hi:g})")
    return float(ss[_store(key)])


def current_threshold(key: str, spec: ThresholdSpec) -> float:
    """The remembered value of a ``threshold`` widget, without drawing it."""
    ss = st.session_state
    return float(spec.clamp(ss.get(_store(key), ss.get(key, spec.default))))

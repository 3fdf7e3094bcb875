"""Query-parameter (de)serialisation and sanitising — pure functions, no Streamlit.

The shareable state of a view lives in the URL (``st.query_params``): model, data, exit policy and its
parameters, and a few page keys. Anything a user can type into a URL is checked here: an unknown name
falls back to the default, a NaN / negative / huge number is clamped into range or replaced by the
default — and every such change comes back as a sentence the app shows with ``st.warning``.

The policy's URL keys come from the policy's own description (core.policies.base): ``threshold``,
``earliest`` (1-based) and one key per extra parameter (``lam``, ``direction``, ``reference`` …), so a new
policy needs nothing here. Block numbers are 1-based in the URL and the UI, 0-based in core.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from core.policies import POLICIES, Param, Policy, Shape, ThresholdPolicy, make_policy

# Query-parameter names (shared by the sidebar and the pages)
QP_MODEL, QP_CKPT = "model", "ckpt"
QP_DATA, QP_TASK, QP_SPLIT, QP_LIMIT = "data", "task", "split", "limit"
QP_POLICY, QP_THRESHOLD, QP_EARLIEST = "policy", "threshold", "earliest"
DATA_SOURCES = {"glue": "GLUE split", "probes": "probe sentences", "upload": "uploaded CSV"}
MAX_LIMIT = 1_000_000
DEFAULT_LIMIT = 1000
TEXT_URL_CHARS = 500            # the longest sentence kept in a shareable URL


def first(raw: Any) -> str | None:
    """A query parameter's value: ``st.query_params`` gives str, AppTest may give a list."""
    if raw is None:
        return None
    if isinstance(raw, (list, tuple)):
        return str(raw[-1]) if raw else None
    return str(raw)


def parse_choice(raw: Any, options: Sequence[str], default: str, what: str) -> tuple[str, str | None]:
    """``raw`` if it is one of ``options`` (case-insensitive), else ``default`` and a warning."""
    value = first(raw)
    if value is None or value == "":
        return default, None
    for opt in options:
        if value.strip().lower() == str(opt).lower():
            return opt, None
    shown = ", ".join(map(str, options[:8])) + ("…" if len(options) > 8 else "")
    return default, f"Unknown {what} {value[:60]!r} in the URL: using {default!r} (choose one of {shown})."


def parse_float(raw: Any, lo: float, hi: float, default: float, what: str) -> tuple[float, str | None]:
    """A finite number clamped into [lo, hi]; NaN, inf or text → ``default``, with a warning either way."""
    value = first(raw)
    if value is None or value == "":
        return default, None
    try:
        x = float(value)
    except ValueError:
        return default, f"The {what} {value[:40]!r} in the URL is not a number: using {default:g}."
    if not math.isfinite(x):
        return default, f"The {what} {value[:40]!r} in the URL is not a finite number: using {default:g}."
    if x < lo or x > hi:
        c = min(max(x, lo), hi)
        return c, f"The {what} {x:g} in the URL is outside [{lo:g}, {hi:g}]: clamped to {c:g}."
    return x, None


def parse_int(raw: Any, lo: int, hi: int, default: int, what: str) -> tuple[int, str | None]:
    x, warn = parse_float(raw, lo, hi, default, what)
    if warn is None and not float(x).is_integer():
        warn = f"The {what} {x:g} in the URL is not a whole number: rounded to {round(x)}."
    return int(round(x)), warn


def encode(value: Any) -> str:
    """A value as it is written into the URL (floats without trailing noise)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def changed(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, str]:
    """The entries of ``wanted`` (encoded) that differ from the URL's ``current`` ones."""
    out = {}
    for k, v in wanted.items():
        if v is None:
            continue
        enc = encode(v)
        if first(current.get(k)) != enc:
            out[k] = enc
    return out


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Policies, from their own description

def supported_policies(has_prototypes: bool, has_lte: bool) -> list[str]:
    """Every registered policy a model with these heads can run (the oracle needs labels: pages check)."""
    return [name for name, cls in POLICIES.items() if cls.runs_on(has_prototypes, has_lte)]


def parse_param(raw: Any, p: Param, what: str) -> tuple[Any, str | None]:
    """One extra policy parameter from the URL, by its description."""
    if p.kind == "choice":
        return parse_choice(raw, list(p.options), p.default, what)
    return parse_float(raw, p.lo, p.hi, p.default, what)


def parse_policy(qp: Mapping[str, Any], policies: Sequence[str], default_policy: str,
                 shape: Shape) -> tuple[dict, list[str]]:
    """The policy's name, threshold, extra parameters and earliest exit block (1-based) from the URL,
    sanitised for a model of this shape. Returns (values, warnings): values holds ``policy``,
    ``earliest``, ``threshold`` (threshold policies) and one entry per extra parameter."""
    warns: list[str] = []

    def note(pair):
        value, w = pair
        if w:
            warns.append(w)
        return value

    name = note(parse_choice(qp.get(QP_POLICY), list(policies), default_policy, "exit policy"))
    cls = POLICIES[name]
    out: dict[str, Any] = {"policy": name}
    if issubclass(cls, ThresholdPolicy):
        spec = cls.threshold_spec(shape)
        thr = note(parse_float(qp.get(QP_THRESHOLD), spec.lo, spec.hi, spec.default, f"{cls.symbol} threshold"))
        if spec.integer and not float(thr).is_integer():
            warns.append(f"The {cls.threshold_label} {thr:g} in the URL is not a whole number: rounded to "
                         f"{round(thr)}.")
        out["threshold"] = spec.clamp(thr)
    for p in cls.extra:
        out[p.name] = note(parse_param(qp.get(p.name), p, p.name))
    out["earliest"] = note(parse_int(qp.get(QP_EARLIEST), 1, shape.n_blocks, 1, "earliest exit block"))
    return out, warns


def build_policy(name: str, threshold: float | None, earliest: int, extra: Mapping[str, Any]) -> Policy:
    """``make_policy`` from what the sidebar holds (earliest is 1-based, min_block 0-based)."""
    cls = POLICIES[name]
    params: dict[str, Any] = {"min_block": max(int(earliest) - 1, 0)}
    if issubclass(cls, ThresholdPolicy):
        params["threshold"] = float(threshold)
    for p in cls.extra:
        params[p.name] = float(extra[p.name]) if p.kind == "float" else extra[p.name]
    return make_policy(name, **params)


def policy_url(policy: Policy, all_extra_keys: Sequence[str] = ()) -> dict[str, Any]:
    """The URL entries of ``policy``; the extra keys of other policies are removed (None)."""
    out: dict[str, Any] = {k: None for k in all_extra_keys}
    out[QP_POLICY] = policy.name
    out[QP_THRESHOLD] = policy.threshold if isinstance(policy, ThresholdPolicy) else None
    out[QP_EARLIEST] = policy.min_block + 1 if policy.min_block > 0 else None
    for p in type(policy).extra:
        out[p.name] = getattr(policy, p.name)
    return out


def extra_keys() -> list[str]:
    """Every extra-parameter URL key of every registered policy."""
    return sorted({p.name for cls in POLICIES.values() for p in cls.extra})


def sweep_params(policies: Sequence[str], current: Policy) -> dict[str, dict]:
    """``core.analysis.sweep_all(params=…)``: the current policy with its own parameters, every other
    policy with its defaults — all with the current earliest exit block."""
    out = {}
    for name in policies:
        cls = POLICIES[name]
        if name == current.name:
            params = {k: v for k, v in current.params.items() if k != "threshold"}
        else:
            params = {"min_block": current.min_block, **{p.name: p.default for p in cls.extra}}
        out[name] = params
    return out

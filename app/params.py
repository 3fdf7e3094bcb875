"""Query-parameter (de)serialisation and sanitising — pure functions, no Streamlit.

The shareable state of a view lives in the URL (``st.query_params``): model, data, exit policy and its
threshold, and a few page keys. Anything a user can type into a URL is checked here: an unknown name
falls back to the default, a NaN / negative / huge number is clamped into range or replaced by the
default — and every such change comes back as a sentence the app shows with ``st.warning``.

Block numbers are 1-based in the URL and the UI, 0-based in core.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

from core.policies import POLICIES, Patience, ThresholdPolicy

# Query-parameter names (shared by the sidebar and the pages)
QP_MODEL, QP_CKPT = "model", "ckpt"
QP_DATA, QP_TASK, QP_SPLIT, QP_LIMIT = "data", "task", "split", "limit"
QP_POLICY, QP_THRESHOLD, QP_LAM, QP_DIRECTION, QP_REFERENCE, QP_EARLIEST = (
    "policy", "threshold", "lam", "direction", "reference", "earliest")
DATA_SOURCES = {"glue": "GLUE split", "probes": "probe sentences", "upload": "uploaded CSV"}

# Sweeps and sliders share one grid, so that a point clicked on the Pareto chart is a slider position:
# linspace(lo, hi, SWEEP_POINTS) — 201 points give steps of exactly 0.005 on [0, 1].
SWEEP_POINTS = 201

DEFAULT_THRESHOLDS = {          # a reasonable first view per policy (clamped into the model's range)
    "entropy": 0.25, "norm_entropy": 0.4, "maxprob": 0.9, "patience": 2.0,
    "frac_reduction": 0.1, "edr": 0.4, "lte": 0.5,
}
MAX_LAMBDA = 10.0
MAX_LIMIT = 1_000_000
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
# Policies: what the sidebar offers for a model, and each threshold slider's range

def shape_stub(n_blocks: int, n_classes: int):
    """What ``ThresholdPolicy.threshold_range(trace)`` reads off a trace (its shape), without a trace."""
    return SimpleNamespace(n_blocks=int(n_blocks), n_classes=int(n_classes))


def supported_policies(has_prototypes: bool, has_lte: bool) -> list[str]:
    """Every policy in core.policies that a model with these heads can run (the oracle needs labels,
    which the pages check)."""
    out = []
    for name, cls in POLICIES.items():
        if "proto_dist" in cls.needs and not has_prototypes:
            continue
        if "lte" in cls.needs and not has_lte:
            continue
        out.append(name)
    return out


@dataclass(frozen=True)
class SliderSpec:
    """A threshold slider: [lo, hi] in ``step``s, its default, label and unit (from the policy class)."""

    policy: str
    lo: float
    hi: float
    step: float
    default: float
    label: str
    unit: str
    integer: bool = False

    def clamp(self, x: float) -> float:
        x = min(max(float(x), self.lo), self.hi)
        return float(round(x)) if self.integer else x

    @property
    def fmt(self) -> str:
        return "%d" if self.integer else ("%.3f" if self.step >= 0.001 else "%.4f")


def slider_spec(policy: str, n_blocks: int, n_classes: int) -> SliderSpec | None:
    """The threshold slider of ``policy`` for a model of this shape (None for the oracle).

    The slider's grid is the sweep's grid (``SWEEP_POINTS`` evenly spaced thresholds over
    ``threshold_range``), so every point of the Pareto chart is a slider position. Patience is a whole
    number 1..L (t = L never fires: the full model)."""
    cls = POLICIES[policy]
    if not issubclass(cls, ThresholdPolicy):
        return None
    label = f"{cls.threshold_label} ({cls.unit})" if cls.unit else cls.threshold_label
    if issubclass(cls, Patience):
        hi = float(max(n_blocks, 2))
        return SliderSpec(policy, 1.0, hi, 1.0, min(DEFAULT_THRESHOLDS["patience"], hi - 1), label, cls.unit, True)
    lo, hi = cls.threshold_range(shape_stub(n_blocks, n_classes))
    lo, hi = float(lo), float(hi)
    step = (hi - lo) / (SWEEP_POINTS - 1)
    default = min(max(DEFAULT_THRESHOLDS.get(policy, lo), lo), hi)
    return SliderSpec(policy, lo, hi, step, default, label, cls.unit)


def sweep_grid(spec: SliderSpec):
    """The thresholds a sweep uses for this slider: exactly its positions."""
    import numpy as np
    if spec.integer:
        return np.arange(spec.lo, spec.hi + 0.5)
    return np.linspace(spec.lo, spec.hi, SWEEP_POINTS)


def parse_policy(qp: Mapping[str, Any], policies: Sequence[str], default_policy: str, n_blocks: int,
                 n_classes: int) -> tuple[dict, list[str]]:
    """Policy, threshold, λ, direction, reference and earliest exit block from the URL, sanitised for
    a model with ``n_blocks`` blocks and ``n_classes`` classes. Returns (values, warnings)."""
    warns: list[str] = []

    def note(pair):
        value, w = pair
        if w:
            warns.append(w)
        return value

    policy = note(parse_choice(qp.get(QP_POLICY), list(policies), default_policy, "exit policy"))
    out: dict[str, Any] = {"policy": policy}
    spec = slider_spec(policy, n_blocks, n_classes)
    if spec is not None:
        thr = note(parse_float(qp.get(QP_THRESHOLD), spec.lo, spec.hi, spec.default,
                               f"{POLICIES[policy].symbol} threshold"))
        if spec.integer and not float(thr).is_integer():
            warns.append(f"The patience {thr:g} in the URL is not a whole number of blocks: rounded to {round(thr)}.")
        out["threshold"] = spec.clamp(thr)
    out["lam"] = note(parse_float(qp.get(QP_LAM), 0.0, MAX_LAMBDA, 1.0, "EDR λ"))
    out["direction"] = note(parse_choice(qp.get(QP_DIRECTION), ["below", "above"], "below", "direction"))
    out["reference"] = note(parse_choice(qp.get(QP_REFERENCE), ["previous", "first"], "previous", "reference"))
    out["earliest"] = note(parse_int(qp.get(QP_EARLIEST), 1, n_blocks, 1, "earliest exit block"))
    return out, warns


def policy_params(policy: str, threshold: float | None, lam: float, direction: str, reference: str,
                  earliest: int) -> dict:
    """Keyword arguments for ``core.policies.make_policy`` (earliest is 1-based, min_block 0-based)."""
    p: dict[str, Any] = {"min_block": max(int(earliest) - 1, 0)}
    if threshold is not None and issubclass(POLICIES[policy], ThresholdPolicy):
        p["threshold"] = float(threshold)
    if policy == "edr":
        p["lam"] = float(lam)
    if policy == "frac_reduction":
        p["direction"], p["reference"] = direction, reference
    return p


def fixed_params(policy: str, lam: float, direction: str, reference: str, earliest: int) -> dict:
    """The parameters other than the threshold, for a sweep of ``policy``."""
    return policy_params(policy, None, lam, direction, reference, earliest)


def sweep_params(policies: Sequence[str], lam: float, direction: str, reference: str, earliest: int) -> dict:
    """``core.analysis.sweep_all(params=…)``: every policy with the sidebar's fixed parameters."""
    return {name: fixed_params(name, lam, direction, reference, earliest) for name in policies}

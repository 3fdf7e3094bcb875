"""What an exit policy is: the base classes, their self-description, and ``decide``.

The contract every policy keeps — the model's real early-exit inference (core.inference) calls the very
same objects, so simulated and real exits agree sample for sample:

* ``policy.fires(trace) -> (N, l) bool`` says, for every sample and every block recorded so far, whether
  the policy's own exit condition holds there. It is **causal**: column i reads blocks ≤ i only, so it is
  the same whether ``trace`` holds all L blocks or just the first l. No Python loop over samples.
* ``policy.min_block`` (0-based) is the first block allowed to exit.
* ``policy.fallback(trace) -> (N,)`` the block whose prediction answers when the rule fired nowhere in
  blocks min_block..L-1; the default is the last block (SDN's option: the most confident exit).
* ``decide(policy, trace) -> Exits`` applies min_block, forces an exit at the last block, and returns
  per sample the exit block (blocks computed = exit_block + 1) and the answering block.

A policy class describes itself, so that the sidebar, the URL, the charts and the Learn page are built
from the description and adding a policy is one class: ``name``, ``title``, ``paper``, ``colour``, the
``signal`` it tests (a key of core.policies.signals.SIGNALS), the test as a ``formula``, its threshold
(``symbol``, ``threshold_label``, ``unit``, ``direction``, ``default_threshold``, ``threshold_spec``:
range, step and the sweep grid) and its other parameters (``extra``: :class:`Param`). ``reason`` says
in words why a sample exited where it did.

Block indices are 0-based here, 1-based in the UI.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.policies.signals import SIGNALS, class_argmax
from core.trace import Trace

DEFAULT_GRID_SIZE = 201   # evenly spaced thresholds per sweep: steps of exactly 0.005 on [0, 1]
_TOL = 1e-6          # slack when checking a threshold against a range end computed in float32 / float64


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Results and descriptions

@dataclass(frozen=True)
class Exits:
    exit_block: np.ndarray    # (N,) int64, 0-based: the last block computed
    answer_block: np.ndarray  # (N,) int64, the block whose exit head answers (== exit_block except SDN fallback)
    pred: np.ndarray          # (N,) int64, predicted class
    fired: np.ndarray | None = None  # (N,) bool: the rule fired (False: forced at the last block → fallback)


def _per_block(threshold, n_blocks: int) -> np.ndarray:
    """A scalar or a per-block vector of thresholds → (n_blocks,) float array (the first n_blocks used).

    Taking the first n_blocks of a vector keeps ``fires`` causal on a partial trace."""
    t = np.asarray(threshold, dtype=np.float64)
    if t.ndim == 0:
        return np.broadcast_to(t, (n_blocks,))
    if t.ndim != 1:
        raise ValueError(f"a threshold must be a scalar or a per-block vector, got shape {t.shape}")
    if len(t) < n_blocks:
        raise ValueError(f"the per-block threshold has {len(t)} entries but the trace has {n_blocks} blocks: "
                         "give one threshold per block (or a scalar)")
    return t[:n_blocks]


def _check_min_block(min_block) -> int:
    if isinstance(min_block, (bool, np.bool_)) or not float(min_block).is_integer() or min_block < 0:
        raise ValueError(f"min_block must be an integer ≥ 0 (the 0-based first block allowed to exit), "
                         f"got {min_block!r}")
    return int(min_block)


def _fmt_range(lo: float, hi: float) -> str:
    return f"[{lo:.6g}, {hi:.6g}]"



@dataclass(frozen=True)
class Shape:
    """What a threshold range reads off a trace — its shape — when there is no trace (a slider, a URL)."""

    n_blocks: int
    n_classes: int


@dataclass(frozen=True)
class Param:
    """A policy parameter other than the threshold and min_block: a number in [lo, hi] or a choice."""

    name: str
    label: str
    default: Any
    kind: str = "float"                  # "float" | "choice"
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    options: tuple = ()
    help: str = ""


@dataclass(frozen=True)
class ThresholdSpec:
    """A policy's threshold for a model of one shape: [lo, hi] in ``step``s (the sweep grid, so every
    point of a Pareto chart is a slider position), its default, label and unit."""

    lo: float
    hi: float
    step: float
    default: float
    label: str
    unit: str
    symbol: str
    integer: bool = False

    def clamp(self, x: float) -> float:
        x = min(max(float(x), self.lo), self.hi)
        return float(round(x)) if self.integer else x

    @property
    def fmt(self) -> str:
        return "%d" if self.integer else ("%.3f" if self.step >= 0.001 else "%.4f")

    def grid(self) -> np.ndarray:
        if self.integer:
            return np.arange(self.lo, self.hi + 0.5)
        return np.linspace(self.lo, self.hi, int(round((self.hi - self.lo) / self.step)) + 1)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Policies

class Policy:
    """Base class. Subclasses set ``name`` and implement ``fires``; the class attributes below describe
    the policy to the app (see the module docstring)."""

    name = "policy"
    title = "policy"
    paper = ""
    colour = "#495057"
    signal_key: str | None = None        # the core.policies.signals.SIGNALS entry the rule tests (None: no signal)
    formula = ""                         # the exit test, e.g. "H(p_i) < S"
    extra: tuple[Param, ...] = ()        # parameters besides threshold and min_block
    needs: tuple[str, ...] = ()   # Trace fields it reads beyond the logits: "proto_dist", "lte", "labels"

    def __init__(self, min_block: int = 0):
        self.min_block = _check_min_block(min_block)

    @property
    def params(self) -> dict:
        """The constructor arguments: ``type(p)(**p.params)`` rebuilds the policy."""
        return {"min_block": self.min_block}

    def replace(self, **changes) -> Policy:
        return type(self)(**{**self.params, **changes})

    def signal_options(self) -> dict:
        """The signal variants this rule tests, for core.policies.sample_signals: EDR's λ and the reference of
        the entropy reduction (policies that test them override this)."""
        return {"lam": 1.0, "reference": "previous"}

    @property
    def scalar_threshold(self) -> float | None:
        """The one threshold a chart can draw as a line (None: no threshold, or one per block)."""
        return None

    def fires(self, trace: Trace) -> np.ndarray:  # (N, l) bool
        raise NotImplementedError

    def fallback(self, trace: Trace) -> np.ndarray:  # (N,)
        return np.full(trace.n, trace.n_blocks - 1, dtype=np.int64)

    @classmethod
    def missing(cls, trace: Trace) -> str | None:
        """Why this policy cannot run on ``trace`` (None if it can)."""
        for f in cls.needs:
            if f == "labels" and not trace.has_labels:
                return "needs labels"
            if f != "labels" and getattr(trace, f) is None:
                return f"needs trace.{f}"
        return None

    @classmethod
    def runs_on(cls, has_prototypes: bool, has_lte: bool) -> bool:
        """Whether a model with these heads can run the policy (labels are the pages' business)."""
        return not (("proto_dist" in cls.needs and not has_prototypes) or ("lte" in cls.needs and not has_lte))

    def reason(self, trace: Trace, i: int, exits: Exits) -> str:
        """Why sample ``i`` exited where it did, in words (1-based blocks)."""
        e = int(exits.exit_block[i])
        return f"exited at block {e + 1} of {trace.n_blocks}: {self.formula or self.title}"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _num(x: float, fmt: str) -> str:
    return format(int(round(x)), "d") if fmt == "d" else format(float(x), fmt)


def _values(v: np.ndarray, fmt: str) -> str:
    return ", ".join(_num(x, fmt) if np.isfinite(x) else "—" for x in v)


class ThresholdPolicy(Policy):
    """A rule "exit where signal_i < threshold" (direction "below") or "signal_i >= threshold" ("above").

    Subclasses implement ``signal(trace) -> (N, l)`` and the ranges. The threshold is a scalar or a
    per-block vector (BERxiT's per-layer thresholds). NaN in the signal never fires."""

    direction = "below"
    symbol = "τ"
    threshold_label = "threshold"
    unit = ""
    hint = ""                # what to do when out of range
    default_threshold = 0.5  # a reasonable first view (clamped into the model's range)
    integer = False          # whole-number thresholds (patience)

    def __init__(self, threshold, min_block: int = 0):
        super().__init__(min_block)
        self.threshold = self._validated(threshold, None)

    @property
    def params(self) -> dict:
        return {"threshold": self.threshold, "min_block": self.min_block}

    @property
    def scalar_threshold(self) -> float | None:
        return float(self.threshold) if np.ndim(self.threshold) == 0 else None

    # ranges: ``threshold_range`` is what a slider / sweep spans; ``valid_range`` what is accepted
    @classmethod
    def threshold_range(cls, trace: Trace | Shape | None = None) -> tuple[float, float]:
        raise NotImplementedError

    @classmethod
    def valid_range(cls, trace: Trace | Shape | None = None) -> tuple[float, float]:
        return cls.threshold_range(trace)

    @classmethod
    def threshold_spec(cls, shape: Trace | Shape) -> ThresholdSpec:
        """The threshold's range, step (= the sweep grid's), default, label and unit for this shape."""
        lo, hi = (float(v) for v in cls.threshold_range(shape))
        label = f"{cls.threshold_label} ({cls.unit})" if cls.unit else cls.threshold_label
        step = 1.0 if cls.integer else (hi - lo) / (DEFAULT_GRID_SIZE - 1)
        default = min(max(float(cls.default_threshold), lo), hi)
        return ThresholdSpec(lo, hi, step, default, label, cls.unit, cls.symbol, cls.integer)

    @classmethod
    def grid(cls, trace: Trace | Shape, n: int = DEFAULT_GRID_SIZE) -> np.ndarray:
        """The default sweep: n evenly spaced thresholds over ``threshold_range(trace)``."""
        lo, hi = cls.threshold_range(trace)
        return np.linspace(lo, hi, n)

    def _validated(self, value, trace: Trace | None):
        arr = np.asarray(value, dtype=np.float64)
        lo, hi = self.valid_range(trace)
        what = f"{self.name}: threshold {self.symbol}"
        if arr.ndim > 1 or arr.size == 0:
            raise ValueError(f"{what} must be a scalar or a per-block vector, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} must be a finite number, got {value!r}; the valid range is "
                             f"{_fmt_range(lo, hi)} {self.unit}. {self.hint}".rstrip())
        bad = arr[(arr < lo - _TOL) | (arr > hi + _TOL)]
        if bad.size:
            raise ValueError(f"{what} = {float(bad.flat[0]):.6g} is outside the valid range {_fmt_range(lo, hi)} "
                             f"{self.unit}. {self.hint}".rstrip())
        return float(arr) if arr.ndim == 0 else arr.copy()

    def check_thresholds(self, thresholds, trace: Trace) -> np.ndarray:
        """Validate thresholds against the trace (e.g. ln K) → float64 array of the same shape."""
        thr = np.asarray(thresholds, dtype=np.float64)
        if thr.size:
            self._validated(thr.reshape(-1), trace)     # element-wise, so any shape is checked at once
        return thr

    def signal(self, trace: Trace) -> np.ndarray:  # (N, l)
        raise NotImplementedError

    def fires(self, trace: Trace) -> np.ndarray:
        self._validated(self.threshold, trace)
        thr = _per_block(self.threshold, trace.n_blocks)[None, :]      # (1, l)
        s = self.signal(trace)                                          # (N, l)
        return s < thr if self.direction == "below" else s >= thr

    def reason(self, trace: Trace, i: int, exits: Exits) -> str:
        """E.g. "exited at block 3: entropy 0.12 < S = 0.25 (blocks 1–2: 0.40, 0.65 ≥ S)"."""
        s = np.asarray(self.signal(trace.subset([i]))[0], dtype=np.float64)      # (L,)
        thr = _per_block(self.threshold, trace.n_blocks)
        e, fmt = int(exits.exit_block[i]), ("d" if self.integer else ".3g")
        what = self.signal_name()
        hit, miss = ("<", "≥") if self.direction == "below" else ("≥", "<")
        sym = self.symbol if np.ndim(self.threshold) == 0 else f"{self.symbol}_i"
        if len(self.symbol) > 2 and self.symbol.isalpha():     # a word (FastBERT's "speed"): not an equation
            sym = f"the {self.symbol} threshold"
        first = self.min_block
        eq = " " if sym.startswith("the ") else " = "
        before = ""
        if e > first:
            span = f"block {first + 1}" if e == first + 1 else f"blocks {first + 1}–{e}"
            before = f" ({span}: {_values(s[first:e], fmt)} {miss} {sym})"
        early = f"; blocks 1–{first} may not exit" if first > 0 else ""
        fired = exits.fired is None or bool(exits.fired[i])
        if fired:
            return (f"exited at block {e + 1}: {what} {_num(s[e], fmt)} {hit} {sym}{eq}"
                    f"{_num(thr[e], fmt)}{before}{early}")
        a = int(exits.answer_block[i])
        answer = "" if a == e else f"; block {a + 1} answers (the policy's fallback)"
        vals = _values(s[first:], fmt)
        return (f"ran all {trace.n_blocks} blocks: {what} never went {hit} {sym}{eq}{_num(thr[-1], fmt)} "
                f"(blocks {first + 1}–{trace.n_blocks}: {vals}){early}{answer}")

    def signal_name(self) -> str:
        """The tested signal's label (core.policies.signals.SIGNALS), e.g. "entropy H(p)"."""
        info = SIGNALS.get(self.signal_key or "")
        return info.label if info else self.threshold_label


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Deciding

def decide(policy: Policy, trace: Trace) -> Exits:
    """Per sample: the first block ≥ min_block where the rule fires, else the last block (answered by the
    policy's fallback when the rule fired nowhere in min_block..L-1)."""
    n, n_blocks = trace.n, trace.n_blocks
    raw = np.asarray(policy.fires(trace), dtype=bool)               # (N, L), asked once
    allowed = raw.copy()
    allowed[:, : policy.min_block] = False
    fired = allowed.any(axis=1)                                     # (N,)
    exit_block = np.where(fired, allowed.argmax(axis=1), n_blocks - 1).astype(np.int64)
    answer = exit_block.copy()
    if not fired.all():
        answer[~fired] = np.asarray(policy.fallback(trace), dtype=np.int64)[~fired]
    pred = class_argmax(trace.logits[np.arange(n), answer])           # (N,) == trace.preds[n, answer]
    return Exits(exit_block=exit_block, answer_block=answer, pred=pred, fired=fired)


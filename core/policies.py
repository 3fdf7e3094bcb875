"""Exit policies as pure, vectorized functions of a Trace (methods.md §4–§5, README §3).

The contract every policy keeps — the model's real early-exit inference (core.inference) calls the
very same objects, so simulated and real exits agree sample for sample:

* ``policy.fires(trace) -> (N, l) bool`` says, for every sample and every block recorded so far, whether
  the policy's own exit condition holds there. It is **causal**: column i reads blocks ≤ i only, so it is
  the same whether ``trace`` holds all L blocks or just the first l (real inference calls it on the blocks
  computed so far). No Python loop over samples.
* ``policy.min_block`` (0-based) is the first block allowed to exit.
* ``policy.fallback(trace) -> (N,)`` the block whose prediction answers when the rule fired nowhere in
  blocks min_block..L-1; the default is the last block (SDN's option: the most confident exit).
* ``decide(policy, trace) -> Exits`` applies min_block, forces an exit at the last block, and returns
  per sample the exit block (blocks computed = exit_block + 1) and the answering block.
* ``decide_many(policy, trace, thresholds) -> ExitSegments`` is ``decide`` for T thresholds at once without
  a (T, N, L) tensor: the sweeps in core.analysis are built on it.

The rules (registry name → class; the signal s_i and the test, methods.md §5):

    entropy         EntropyThreshold     DeeBERT / COST-EFF (§4.1, §3.5)   H(p_i) < S          S in [0, ln K] nats
    norm_entropy    NormalizedEntropy    FastBERT (§4.4)                   H(p_i)/ln K < speed  speed in [0, 1]
    maxprob         MaxProb              SDN (§4.5)                        max_k p_ik >= q      q in [1/K, 1]
    patience        Patience             PABEE (§4.2)                      cnt_i >= t          t in {1..L-1}
    frac_reduction  FractionalReduction  BEExformer (§1.5)                 ΔH_i < δ (or >= δ)  δ <= 1
    edr             HybridEDR            DE³-BERT (§2.2)                   EDR_i(λ) < τ        τ in [0, 1]
    lte             LearnedExit          BERxiT (§4.3)                     u_i < τ             τ in [0, 1]
    oracle          Oracle               upper bound (§6)                  argmax p_i == y     —

Block indices are 0-based here, 1-based in the UI.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.trace import EPS, Trace, fractional_reduction

DEFAULT_GRID_SIZE = 200
_TOL = 1e-6          # slack when checking a threshold against a range end computed in float32 / float64


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Results

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


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Signals: module functions so the app can plot them per block (all (N, l), causal)

def class_argmax(x: np.ndarray) -> np.ndarray:
    """argmax over the last (class) axis, (..., K) → (...) int64, the first maximum on ties — the same as
    ``x.argmax(-1)`` (so the same as ``Trace.preds``) for finite x, but a loop over the K classes: numpy's
    reduction over a short last axis is ~8× slower on (N, L, 2)."""
    n_classes = x.shape[-1]
    best = x[..., 0]
    out = np.zeros(best.shape, dtype=np.int64)
    for k in range(1, n_classes):
        xk = x[..., k]
        better = xk > best                       # strict: an earlier class keeps a tie
        out = better.astype(np.int64) if k == 1 else np.where(better, k, out)
        if k < n_classes - 1:
            best = np.maximum(best, xk)
    return out


def class_max(x: np.ndarray) -> np.ndarray:
    """max over the last (class) axis, (..., K) → (...), as a loop over the K classes (see class_argmax)."""
    out = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        np.maximum(out, x[..., k], out=out)
    return out


def max_prob(trace: Trace) -> np.ndarray:
    """SDN confidence max_k p_{i,k}, (N, l)."""
    return class_max(trace.probs)


def patience_count(trace: Trace) -> np.ndarray:
    """PABEE counter, (N, l) int64: cnt_0 = 0, cnt_i = cnt_{i-1} + 1 if argmax_i == argmax_{i-1} else 0.

    A loop over blocks (the recurrence), vectorized over samples, in block-major layout so every step
    reads contiguous memory; returned as an (N, l) view."""
    preds = class_argmax(trace.logits.transpose(1, 0, 2))               # (l, N)
    cnt = np.zeros(preds.shape, dtype=np.int64)
    for i in range(1, preds.shape[0]):
        cnt[i] = np.where(preds[i] == preds[i - 1], cnt[i - 1] + 1, 0)
    return cnt.T


def frac_reduction_signal(trace: Trace, reference: str = "previous") -> np.ndarray:
    """BEExformer ΔH_i per block, (N, l) float64, NaN at block 0 (no predecessor, so it never fires)."""
    s = fractional_reduction(trace.entropy, reference).astype(np.float64)
    s[:, :1] = np.nan
    return s


def _require(trace: Trace, field: str, policy: str, why: str) -> np.ndarray:
    a = getattr(trace, field)
    if a is None:
        raise ValueError(f"policy {policy!r} needs trace.{field} ({why}), but this trace has none: "
                         f"record it with a model that has {why}, or pick another policy")
    return a


def prototype_radii(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """DE³ r1, r2, each (N, l): r1 = distance to the prototype of the exit's predicted class, r2 = the
    smallest distance to any other class's prototype (methods §2.2, the reading that lets r1 > r2)."""
    dist = _require(trace, "proto_dist", "edr", "DE³ prototype heads")                       # (N, l, K)
    if dist.shape != trace.logits.shape:
        raise ValueError(f"trace.proto_dist has shape {dist.shape} but the logits are {trace.logits.shape}")
    pred = class_argmax(trace.logits)                                                        # (N, l)
    if dist.shape[-1] == 2:                  # the common binary case in two selects
        is_1 = pred == 1
        return np.where(is_1, dist[..., 1], dist[..., 0]), np.where(is_1, dist[..., 0], dist[..., 1])
    r1 = np.take_along_axis(dist, pred[..., None], axis=-1)[..., 0]
    r2 = np.full(pred.shape, np.inf, dtype=dist.dtype)
    for k in range(dist.shape[-1]):          # a loop over classes, not samples
        np.minimum(r2, np.where(pred == k, np.inf, dist[..., k]), out=r2)
    return r1, r2


def dr(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """DE³ distance ratio DR = ½·(1 + (r1 − r2)/max(r1, r2)) in [0, 1] for non-negative distances.

    0.5 = equidistant, → 0 = much closer to the predicted class, > 0.5 = the nearest prototype disagrees
    with the classifier. r1 = r2 = 0 gives 0.5 (eps guard)."""
    r1, r2 = np.asarray(r1), np.asarray(r2)
    dtype = np.result_type(r1, r2, np.float32)          # float32 traces stay float32 (half the memory)
    r1, r2 = r1.astype(dtype, copy=False), r2.astype(dtype, copy=False)
    return 0.5 * (1.0 + (r1 - r2) / np.maximum(np.maximum(r1, r2), EPS))


def edr_from(dr_: np.ndarray, h_norm: np.ndarray, lam: float) -> np.ndarray:
    """EDR = (λ+1) / (λ/DR + 1/H̃), the λ-weighted harmonic mean of DR and the normalized entropy.

    Written as (λ+1)·DR·H̃ / (λ·H̃ + DR) so DR = 0 or H̃ = 0 give 0 (exit) without dividing by zero;
    λ = 0 is exactly H̃ (DR gets no weight)."""
    dr_, h = np.asarray(dr_), np.asarray(h_norm)
    dtype = np.result_type(dr_, h, np.float32)
    dr_, h = dr_.astype(dtype, copy=False), h.astype(dtype, copy=False)
    if lam == 0:
        return h.copy()
    den = np.asarray(lam * h + dr_)
    ok = den > EPS
    num = np.asarray((lam + 1.0) * dr_ * h)
    return np.where(ok, num / np.where(ok, den, 1.0), 0.0).astype(dtype, copy=False)


def dr_signal(trace: Trace) -> np.ndarray:
    """DE³ DR per block, (N, l)."""
    return dr(*prototype_radii(trace))


def edr(trace: Trace, lam: float = 1.0) -> np.ndarray:
    """DE³-BERT hybrid indicator EDR_i(λ) per block, (N, l), from the trace's prototype distances and
    normalized entropy (COSEE's entropy, methods §2.2)."""
    return edr_from(dr_signal(trace), trace.entropy_norm, lam)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Policies

class Policy:
    """Base class. Subclasses set ``name`` and implement ``fires``.

    Metadata for charts: ``name`` (registry key), ``title``, ``paper``, and for threshold rules
    ``symbol``, ``threshold_label``, ``unit``, ``direction`` and ``threshold_range(trace)``."""

    name = "policy"
    title = "policy"
    paper = ""
    needs: tuple[str, ...] = ()   # Trace fields it reads beyond the logits: "proto_dist", "lte", "labels"

    def __init__(self, min_block: int = 0):
        self.min_block = _check_min_block(min_block)

    @property
    def params(self) -> dict:
        """The constructor arguments: ``type(p)(**p.params)`` rebuilds the policy."""
        return {"min_block": self.min_block}

    def replace(self, **changes) -> "Policy":
        return type(self)(**{**self.params, **changes})

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

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class ThresholdPolicy(Policy):
    """A rule "exit where signal_i < threshold" (direction "below") or "signal_i >= threshold" ("above").

    Subclasses implement ``signal(trace) -> (N, l)`` and the ranges. The threshold is a scalar or a
    per-block vector (BERxiT's per-layer thresholds). NaN in the signal never fires."""

    direction = "below"
    symbol = "τ"
    threshold_label = "threshold"
    unit = ""
    hint = ""                # what to do when out of range

    def __init__(self, threshold, min_block: int = 0):
        super().__init__(min_block)
        self.threshold = self._validated(threshold, None)

    @property
    def params(self) -> dict:
        return {"threshold": self.threshold, "min_block": self.min_block}

    # ranges: ``threshold_range`` is what a slider / sweep spans; ``valid_range`` what is accepted
    @classmethod
    def threshold_range(cls, trace: Trace | None = None) -> tuple[float, float]:
        raise NotImplementedError

    @classmethod
    def valid_range(cls, trace: Trace | None = None) -> tuple[float, float]:
        return cls.threshold_range(trace)

    @classmethod
    def grid(cls, trace: Trace, n: int = DEFAULT_GRID_SIZE) -> np.ndarray:
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


class EntropyThreshold(ThresholdPolicy):
    """DeeBERT / COST-EFF (methods §4.1, §3.5): exit at the first block with H(p_i) < S, in nats."""

    name = "entropy"
    title = "Entropy (DeeBERT)"
    paper = "DeeBERT, Xin et al. ACL 2020; COST-EFF, Shen et al. EMNLP 2022"
    symbol = "S"
    threshold_label = "entropy threshold S"
    unit = "nats"
    hint = "S is an entropy in nats, at most ln K (0.693 for K=2, 1.099 for K=3); use norm_entropy for [0, 1]."

    @classmethod
    def threshold_range(cls, trace=None):
        return (0.0, float(np.log(trace.n_classes)) if trace is not None else np.inf)

    def signal(self, trace):
        return trace.entropy


class NormalizedEntropy(ThresholdPolicy):
    """FastBERT (methods §4.4): uncertainty U_i = H(p_i)/ln K; exit when U_i < speed. speed 0 = full model."""

    name = "norm_entropy"
    title = "Normalized entropy (FastBERT)"
    paper = "FastBERT, Liu et al. ACL 2020"
    symbol = "speed"
    threshold_label = "speed (normalized-entropy threshold)"
    unit = "× ln K"
    hint = "speed is a normalized entropy H/ln K in [0, 1]; use entropy for a threshold in nats."

    @classmethod
    def threshold_range(cls, trace=None):
        return (0.0, 1.0)

    def signal(self, trace):
        return trace.entropy_norm


class MaxProb(ThresholdPolicy):
    """Shallow-Deep Networks (methods §4.5): exit at the first block with max_k p_{i,k} >= q.

    fallback="most_confident" is SDN's ``early_exit``: when no block fired, answer with the block of the
    highest max-probability among all blocks (the earliest on ties); "last" answers with the last block."""

    name = "maxprob"
    title = "Max probability (SDN)"
    paper = "Shallow-Deep Networks, Kaya et al. ICML 2019"
    direction = "above"
    symbol = "q"
    threshold_label = "confidence threshold q"
    unit = "probability"
    hint = "q is a probability between 1/K and 1 (every sample has max p >= 1/K)."
    FALLBACKS = ("last", "most_confident")

    def __init__(self, threshold, min_block: int = 0, fallback: str = "last"):
        super().__init__(threshold, min_block)
        if fallback not in self.FALLBACKS:
            raise ValueError(f"maxprob: fallback must be one of {self.FALLBACKS}, got {fallback!r}")
        self.fallback_rule = fallback

    @property
    def params(self):
        return {**super().params, "fallback": self.fallback_rule}

    @classmethod
    def threshold_range(cls, trace=None):
        return (1.0 / trace.n_classes if trace is not None else 0.0, 1.0)

    def signal(self, trace):
        return max_prob(trace)

    def fallback(self, trace):
        if self.fallback_rule == "most_confident":
            return max_prob(trace).argmax(axis=1).astype(np.int64)
        return super().fallback(trace)


class Patience(ThresholdPolicy):
    """PABEE (methods §4.2): exit when the prediction has stayed the same for t consecutive blocks,
    i.e. at the first block with cnt_i >= t (cnt_i = cnt_{i-1}+1 on agreement, else 0)."""

    name = "patience"
    title = "Patience (PABEE)"
    paper = "PABEE, Zhou et al. NeurIPS 2020"
    direction = "above"
    symbol = "t"
    threshold_label = "patience t"
    unit = "blocks"
    hint = "t is a whole number of agreeing blocks, ≥ 1 (t ≥ L never fires: the full model)."

    @classmethod
    def threshold_range(cls, trace=None):
        return (1.0, float(max(trace.n_blocks - 1, 1)) if trace is not None else np.inf)

    @classmethod
    def valid_range(cls, trace=None):
        return (1.0, np.inf)

    @classmethod
    def grid(cls, trace, n=DEFAULT_GRID_SIZE):
        return np.arange(1, max(trace.n_blocks, 2), dtype=np.float64)   # 1..L-1, n is ignored

    def _validated(self, value, trace):
        out = super()._validated(value, trace)
        frac = np.asarray(out)[np.mod(np.asarray(out), 1) != 0]
        if frac.size:
            raise ValueError(f"patience: t must be a whole number of blocks ≥ 1, got {float(frac.flat[0]):.6g}")
        return out

    def signal(self, trace):
        return patience_count(trace)


class FractionalReduction(ThresholdPolicy):
    """BEExformer (methods §1.5): fractional entropy reduction ΔH_i = (H_ref − H_i)/H_ref.

    direction="below" (default, diminishing returns: the block stopped sharpening): exit when ΔH_i < δ.
    direction="above": exit when ΔH_i >= δ. reference "previous" (H_{i-1}) or "first" (H_0, cumulative).
    Block 0 has no predecessor and never fires by this rule."""

    name = "frac_reduction"
    title = "Fractional entropy reduction (BEExformer)"
    paper = "BEExformer, Ansar et al. arXiv 2412.05225 (reconstruction, methods §1.5)"
    symbol = "δ"
    threshold_label = "entropy-reduction threshold δ"
    unit = "fraction of H_ref"
    hint = "ΔH = (H_ref − H_i)/H_ref is at most 1, so δ must be ≤ 1 (negative δ = entropy rose)."
    DIRECTIONS = ("below", "above")
    REFERENCES = ("previous", "first")

    def __init__(self, threshold, min_block: int = 0, direction: str = "below", reference: str = "previous"):
        if direction not in self.DIRECTIONS:
            raise ValueError(f"frac_reduction: direction must be one of {self.DIRECTIONS} "
                             f"('below': exit when ΔH < δ, 'above': when ΔH ≥ δ), got {direction!r}")
        if reference not in self.REFERENCES:
            raise ValueError(f"frac_reduction: reference must be one of {self.REFERENCES}, got {reference!r}")
        self.direction, self.reference = direction, reference      # instance attribute shadows the class's
        super().__init__(threshold, min_block)

    @property
    def params(self):
        return {**super().params, "direction": self.direction, "reference": self.reference}

    @classmethod
    def threshold_range(cls, trace=None):
        return (0.0, 1.0)

    @classmethod
    def valid_range(cls, trace=None):
        return (-np.inf, 1.0)

    def signal(self, trace):
        return frac_reduction_signal(trace, self.reference)


class HybridEDR(ThresholdPolicy):
    """DE³-BERT (methods §2.2): exit when EDR_i(λ) = (λ+1)/(λ/DR_i + 1/H̃_i) < τ.

    Needs trace.proto_dist. λ = 0 is FastBERT's normalized entropy; λ → ∞ is DR alone."""

    name = "edr"
    title = "Hybrid EDR (DE³-BERT)"
    paper = "DE³-BERT, He et al. arXiv 2402.05948 (reconstruction, methods §2.2)"
    needs = ("proto_dist",)
    symbol = "τ"
    threshold_label = "EDR threshold τ"
    unit = "EDR (0–1)"
    hint = "EDR is a harmonic mean of two numbers in [0, 1], so τ is in [0, 1]."

    def __init__(self, threshold, min_block: int = 0, lam: float = 1.0):
        lam_f = float(lam)
        if not np.isfinite(lam_f) or lam_f < 0:
            raise ValueError(f"edr: λ (lam) weights DR against the entropy and must be a finite number ≥ 0 "
                             f"(0 = entropy only; about 0.5–2 is typical), got {lam!r}")
        self.lam = lam_f
        super().__init__(threshold, min_block)

    @property
    def params(self):
        return {**super().params, "lam": self.lam}

    @classmethod
    def threshold_range(cls, trace=None):
        return (0.0, 1.0)

    def signal(self, trace):
        return edr(trace, self.lam)


class LearnedExit(ThresholdPolicy):
    """BERxiT learning-to-exit (methods §4.3): exit when the LTE score u_i < τ (u = predicted "wrong")."""

    name = "lte"
    title = "Learned exit (BERxiT)"
    paper = "BERxiT, Xin et al. EACL 2021"
    needs = ("lte",)
    symbol = "τ"
    threshold_label = "LTE threshold τ"
    unit = "LTE score (0–1)"
    hint = "u = σ(·) is in [0, 1], so τ is in [0, 1] (BERxiT's default is 0.005)."

    @classmethod
    def threshold_range(cls, trace=None):
        return (0.0, 1.0)

    def signal(self, trace):
        return _require(trace, "lte", "lte", "a BERxiT learn-to-exit head").astype(np.float64)


class Oracle(Policy):
    """The upper bound (methods §6): exit at the first block whose prediction equals the label; when no
    block is right, the last block answers. Needs labels."""

    name = "oracle"
    title = "Oracle (first correct exit)"
    paper = "SDN overthinking; DE³-BERT oracle"
    needs = ("labels",)

    def fires(self, trace):
        if not trace.has_labels:
            raise ValueError("policy 'oracle' needs the label of every sample (trace.labels has -1): "
                             "record the trace on a labelled split")
        return trace.correct


POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (EntropyThreshold, NormalizedEntropy, MaxProb, Patience, FractionalReduction,
                              HybridEDR, LearnedExit, Oracle)
}


def make_policy(name: str, **params) -> Policy:
    """``make_policy("entropy", threshold=0.3, min_block=1)``."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}")
    try:
        return POLICIES[name](**params)
    except TypeError as e:   # a misspelt or missing parameter
        raise ValueError(f"policy {name!r}: {e}") from None


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


@dataclass(frozen=True)
class ExitSegments:
    """``decide`` for T thresholds at once, stored as intervals instead of a (T, N) table.

    Thresholds are put in the order in which the rule fires *later* ("below": ascending, "above":
    descending). ``unfired[i, n]`` counts the sorted thresholds for which the rule has not fired on
    sample n through block i; it is non-increasing in i, so sample n exits at block s exactly for the
    sorted positions unfired[s, n] <= j < unfired[s-1, n] (segment s), and never fires for j <
    unfired[L-1, n] (segment L: exit at the last block, answered by the fallback). The segments of a
    sample partition [0, T), so any per-threshold sum over samples is two ``np.bincount`` calls plus a
    ``cumsum`` — O(N·L + T) instead of O(N·L·T). Arrays are block-major (·, N): per-block steps read
    contiguous memory."""

    thresholds: np.ndarray    # (T,) in the caller's order
    order: np.ndarray         # (T,) sorted position j → index into thresholds
    unfired: np.ndarray       # (L, N) int64
    fallback: np.ndarray      # (N,) int64: the answering block when the rule never fired

    @property
    def lo(self) -> np.ndarray:
        """(L+1, N) first sorted position of each segment."""
        return np.concatenate([self.unfired, np.zeros((1, self.unfired.shape[1]), np.int64)])

    @property
    def hi(self) -> np.ndarray:
        """(L+1, N) one past the last sorted position of each segment."""
        top = np.full((1, self.unfired.shape[1]), len(self.thresholds), np.int64)
        return np.concatenate([top, self.unfired])

    @property
    def exit_block(self) -> np.ndarray:
        """(L+1,) exit block of each segment: s for s < L, L-1 for the never-fired one."""
        n_blocks = self.unfired.shape[0]
        return np.append(np.arange(n_blocks), n_blocks - 1).astype(np.int64)

    @property
    def fired(self) -> np.ndarray:
        """(L+1,) the rule fired in the segment (False only for the never-fired one)."""
        return np.append(np.ones(self.unfired.shape[0], bool), False)

    def position(self, t: int) -> int:
        """Sorted position of the caller's threshold index t."""
        return int(np.flatnonzero(self.order == t)[0])

    def exits_at(self, t: int, trace: Trace) -> Exits:
        """The Exits for the caller's threshold index t (what ``decide`` returns for that threshold)."""
        j = self.position(t)
        seg = ((self.lo <= j) & (j < self.hi)).argmax(axis=0)        # (N,)
        fired = self.fired[seg]
        answer = np.where(fired, seg, self.fallback)
        return Exits(exit_block=self.exit_block[seg], answer_block=answer,
                     pred=class_argmax(trace.logits[np.arange(trace.n), answer]), fired=fired)


def count_le(sorted_thr: np.ndarray, x: np.ndarray) -> np.ndarray:
    """How many of the ascending thresholds are <= x, for every x: ``np.searchsorted(sorted_thr, x,
    "right")``. For an evenly spaced grid (the default sweeps) the bin is computed directly and then
    corrected by one step either way where rounding put it off, about 3× faster than a binary search."""
    t_count = len(sorted_thr)
    if t_count >= 3:
        a, b = float(sorted_thr[0]), float(sorted_thr[-1])
        step = (b - a) / (t_count - 1)
        if step > 0 and np.allclose(np.diff(sorted_thr), step, rtol=1e-9, atol=0):
            with np.errstate(invalid="ignore", over="ignore"):
                guess = x - a                  # in place from here: fresh (N, L) temporaries cost more
                guess *= 1.0 / step
                np.floor(guess, out=guess)
                guess += 1.0
            np.clip(guess, 0, t_count, out=guess)
            idx = guess.astype(np.int64)
            ext = np.concatenate([[-np.inf], sorted_thr, [np.inf, np.inf]])   # ext[j] = sorted_thr[j-1]
            idx -= np.take(ext, idx) > x       # one too many: the last counted threshold is above x
            idx += np.take(ext[1:], idx) <= x  # one too few: the next threshold is still <= x
            return np.minimum(idx, t_count, out=idx)    # x = +inf passed the ext[T+1] = inf sentinel
    return np.searchsorted(sorted_thr, x, side="right")


def decide_many(policy: ThresholdPolicy, trace: Trace, thresholds) -> ExitSegments:
    """Exits of ``policy`` on ``trace`` for every scalar threshold in ``thresholds`` (the policy's own
    threshold is ignored; its other parameters, min_block and fallback are used).

    Why it works: the rule has fired by block i iff the running min (below) / max (above) of the signal
    over blocks min_block..i passes the threshold, and that running extreme is monotone in i."""
    if not isinstance(policy, ThresholdPolicy):
        raise TypeError(f"decide_many needs a threshold policy, got {type(policy).__name__}")
    thr = policy.check_thresholds(np.asarray(thresholds, dtype=np.float64).reshape(-1), trace)
    n, n_blocks, t_count = trace.n, trace.n_blocks, len(thr)
    below = policy.direction == "below"
    never = np.inf if below else -np.inf
    s = np.asarray(policy.signal(trace))                                         # (N, L), may be the trace's own
    if s.dtype.kind != "f":
        s = s.astype(np.float64)
    s = np.array(s.T, order="C", copy=True)  # (L, N) copy: block-major, so per-block steps are contiguous
    s[np.isnan(s)] = never                                                       # NaN never fires
    s[: policy.min_block] = never
    extreme = np.minimum if below else np.maximum
    for i in range(1, n_blocks):             # running min / max over blocks, in place (faster than accumulate)
        extreme(s[i - 1], s[i], out=s[i])
    if below:   # fires where s < τ; not fired through i ⇔ τ <= min_{j≤i} s_j
        order = np.argsort(thr, kind="stable")
        unfired = count_le(thr[order], s)                                        # (L, N) #τ <= run
    else:       # fires where s >= τ; not fired through i ⇔ τ > max_{j≤i} s_j
        order = np.argsort(-thr, kind="stable")
        unfired = t_count - count_le(np.sort(thr), s)                            # (L, N) #τ > run
    return ExitSegments(thresholds=thr, order=order, unfired=unfired,
                        fallback=np.asarray(policy.fallback(trace), dtype=np.int64))

"""The exit policies: one self-describing class each, the registry, and ``make_policy``.

The rules (registry name → class; the signal s_i and the test, methods.md §5):

    entropy         EntropyThreshold     DeeBERT / COST-EFF (§4.1, §3.5)   H(p_i) < S          S in [0, ln K] nats
    norm_entropy    NormalizedEntropy    FastBERT (§4.4)                   H(p_i)/ln K < speed  speed in [0, 1]
    maxprob         MaxProb              SDN (§4.5)                        max_k p_ik >= q      q in [1/K, 1]
    margin          Margin               margin confidence                 p(1) − p(2) >= m     m in [0, 1]
    patience        Patience             PABEE (§4.2)                      cnt_i >= t          t in {1..L-1}
    frac_reduction  FractionalReduction  BEExformer (§1.5)                 ΔH_i < δ (or >= δ)  δ <= 1
    edr             HybridEDR            DE³-BERT (§2.2)                   EDR_i(λ) < τ        τ in [0, 1]
    lte             LearnedExit          BERxiT (§4.3)                     u_i < τ             τ in [0, 1]
    oracle          Oracle               upper bound (§6)                  argmax p_i == y     —

What a policy is and how it describes itself: core.policies.base. Deciding for many thresholds at once:
core.policies.batch. The per-block signals: core.policies.signals. Their names are re-exported here, so
``from core.policies import decide, decide_many, make_policy`` keeps working.
Adding a policy is one class below (plus its entry in ``POLICIES``) and its tests.
"""
from __future__ import annotations

import numpy as np

from core.policies.base import DEFAULT_GRID_SIZE, Exits, Param, Policy, Shape, ThresholdPolicy, ThresholdSpec, decide  # noqa: F401
from core.policies.batch import ExitSegments, count_le, decide_many  # noqa: F401
from core.policies.signals import (  # noqa: F401
    _require,
    class_argmax,
    class_max,
    dr,
    dr_signal,
    edr,
    edr_from,
    frac_reduction_signal,
    margin,
    max_prob,
    patience_count,
    prototype_radii,
)
from core.trace import Trace


class EntropyThreshold(ThresholdPolicy):
    """DeeBERT / COST-EFF (methods §4.1, §3.5): exit at the first block with H(p_i) < S, in nats."""

    name = "entropy"
    title = "Entropy (DeeBERT)"
    colour = "#1c7ed6"
    signal_key = "entropy"
    formula = "exit at the first block with H(p_i) < S"
    default_threshold = 0.25
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
    colour = "#15aabf"
    signal_key = "entropy_norm"
    formula = "exit at the first block with H(p_i) / ln K < speed"
    default_threshold = 0.4
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
    colour = "#f59f00"
    signal_key = "max_prob"
    formula = "exit at the first block with max_k p_ik ≥ q"
    default_threshold = 0.9
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


class Margin(ThresholdPolicy):
    """Margin confidence: exit at the first block where the top-1 probability leads the top-2 by ≥ m.
    For K = 2 it ranks samples exactly as max-probability does (m = 2q − 1); for K > 2 it also looks at
    the runner-up, which max-probability ignores."""

    name = "margin"
    title = "Margin (top-1 − top-2)"
    paper = "margin sampling, Scheffer et al. IDA 2001 (as an exit confidence)"
    colour = "#e64980"
    signal_key = "margin"
    formula = "exit at the first block with p_i(1) − p_i(2) ≥ m"
    direction = "above"
    symbol = "m"
    threshold_label = "margin threshold m"
    unit = "probability"
    hint = "m is a difference of two probabilities, in [0, 1]."
    default_threshold = 0.8

    @classmethod
    def threshold_range(cls, trace=None):
        return (0.0, 1.0)

    def signal(self, trace):
        return margin(trace)


class Patience(ThresholdPolicy):
    """PABEE (methods §4.2): exit when the prediction has stayed the same for t consecutive blocks,
    i.e. at the first block with cnt_i >= t (cnt_i = cnt_{i-1}+1 on agreement, else 0)."""

    name = "patience"
    title = "Patience (PABEE)"
    colour = "#ae3ec9"
    signal_key = "patience"
    formula = "exit when the prediction has stayed the same for t consecutive blocks (cnt_i ≥ t)"
    default_threshold = 2.0
    integer = True
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

    @classmethod
    def threshold_spec(cls, shape):
        """Whole numbers 1..L: t = L never fires, so the slider's right end is the full model."""
        hi = float(max(shape.n_blocks, 2))
        return ThresholdSpec(1.0, hi, 1.0, min(cls.default_threshold, hi - 1), f"{cls.threshold_label} ({cls.unit})",
                             cls.unit, cls.symbol, True)

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
    colour = "#2f9e44"
    signal_key = "frac_reduction"
    formula = "exit at the first block with ΔH_i = (H_ref − H_i)/H_ref < δ (or ≥ δ)"
    default_threshold = 0.1
    extra = (Param("direction", "exit when ΔH is", "below", "choice", options=("below", "above"),
                   help="below: the block stopped sharpening (diminishing returns); above: it sharpened by ≥ δ"),
             Param("reference", "reference", "previous", "choice", options=("previous", "first"),
                   help="ΔH against the previous block's entropy, or against block 1's (cumulative)"))
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

    def signal_options(self) -> dict:
        return {**super().signal_options(), "reference": self.reference}

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
    colour = "#e8590c"
    signal_key = "edr"
    formula = "exit at the first block with EDR_i(λ) = (λ+1)/(λ/DR_i + 1/H̃_i) < τ"
    default_threshold = 0.4
    extra = (Param("lam", "λ (weight of DR against the entropy)", 1.0, "float", 0.0, 10.0, 0.1,
                   help="DE³-BERT: EDR = (λ+1)/(λ/DR + 1/H̃); λ = 0 is the normalized entropy alone"),)
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

    def signal_options(self) -> dict:
        return {**super().signal_options(), "lam": self.lam}

    @classmethod
    def threshold_range(cls, trace=None):
        return (0.0, 1.0)

    def signal(self, trace):
        return edr(trace, self.lam)


class LearnedExit(ThresholdPolicy):
    """BERxiT learning-to-exit (methods §4.3): exit when the LTE score u_i < τ (u = predicted "wrong")."""

    name = "lte"
    title = "Learned exit (BERxiT)"
    colour = "#8f5b2e"
    signal_key = "lte"
    formula = "exit at the first block whose learn-to-exit score u_i < τ"
    default_threshold = 0.5
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
    colour = "#212529"
    formula = "exit at the first block whose prediction is right (an upper bound; needs labels)"
    paper = "SDN overthinking; DE³-BERT oracle"
    needs = ("labels",)

    def fires(self, trace):
        if not trace.has_labels:
            raise ValueError("policy 'oracle' needs the label of every sample (trace.labels has -1): "
                             "record the trace on a labelled split")
        return trace.correct

    def reason(self, trace, i, exits):
        e = int(exits.exit_block[i])
        if exits.fired is not None and not exits.fired[i]:
            return f"no block is right: ran all {trace.n_blocks} blocks (the oracle's bound)"
        return f"exited at block {e + 1}: the first block whose prediction equals the label"


POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (EntropyThreshold, NormalizedEntropy, MaxProb, Margin, Patience,
                              FractionalReduction, HybridEDR, LearnedExit, Oracle)
}


def make_policy(name: str, **params) -> Policy:
    """``make_policy("entropy", threshold=0.3, min_block=1)``."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}")
    try:
        return POLICIES[name](**params)
    except TypeError as e:   # a misspelt or missing parameter
        raise ValueError(f"policy {name!r}: {e}") from None



def threshold_policy(policy, trace: Trace, purpose: str) -> ThresholdPolicy:
    """A policy name (default parameters, threshold at the low end of its range on ``trace``) or a
    ThresholdPolicy instance (its parameters kept), checked to run on ``trace``.

    ``purpose`` says what the caller lacks when the policy has no threshold (the oracle): it ends the
    "policy … has no <purpose>" error, e.g. "threshold to certify" or "confidence signal"."""
    if isinstance(policy, str):
        cls = POLICIES.get(policy)
        if cls is None:
            raise ValueError(f"unknown policy {policy!r}; choose one of {sorted(POLICIES)}")
        if issubclass(cls, ThresholdPolicy):
            policy = make_policy(policy, threshold=cls.threshold_range(trace)[0])
    if not isinstance(policy, ThresholdPolicy):
        raise ValueError(f"policy {getattr(policy, 'name', policy)!r} has no {purpose}: choose one of "
                         f"{sorted(k for k, c in POLICIES.items() if issubclass(c, ThresholdPolicy))}")
    why = type(policy).missing(trace)
    if why:
        raise ValueError(f"policy {policy.name!r} cannot run on this trace ({why}): pick another policy")
    return policy

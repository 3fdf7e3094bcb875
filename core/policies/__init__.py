"""Exit policies as pure functions of a Trace: the Policy contract (base), the per-block signals (signals),
every policy (rules) and vectorised decisions over many thresholds (batch).

Other packages import this package, never its modules."""
from core.policies.base import (
    DEFAULT_GRID_SIZE,
    Exits,
    Param,
    Policy,
    Shape,
    ThresholdPolicy,
    ThresholdSpec,
    decide,
)
from core.policies.batch import (
    OutcomeCodes,
    count_le,
    decide_many,
    exits_counts,
    outcome_codes,
    segment_counts,
)
from core.policies.rules import (
    POLICIES,
    EntropyThreshold,
    FractionalReduction,
    HybridEDR,
    LearnedExit,
    Margin,
    MaxProb,
    NormalizedEntropy,
    Oracle,
    Patience,
    make_policy,
    threshold_policy,
)
from core.policies.signals import (
    SIGNALS,
    class_argmax,
    class_max,
    dr,
    edr,
    edr_from,
    frac_reduction_signal,
    margin,
    patience_count,
    sample_signals,
)

__all__ = ["DEFAULT_GRID_SIZE", "EntropyThreshold", "Exits", "FractionalReduction", "HybridEDR", "LearnedExit",
           "Margin", "MaxProb", "NormalizedEntropy", "Oracle", "OutcomeCodes", "POLICIES", "Param", "Patience",
           "Policy", "SIGNALS", "Shape", "ThresholdPolicy", "ThresholdSpec", "class_argmax", "class_max", "count_le",
           "decide", "decide_many", "dr", "edr", "edr_from", "exits_counts", "frac_reduction_signal", "make_policy",
           "margin", "outcome_codes", "patience_count", "sample_signals", "segment_counts", "threshold_policy"]

"""Which exit policies make the same decisions on a trace — so a chart can say so instead of hiding a curve.

For two classes, entropy, normalized entropy, max-prob and margin are all monotone functions of the top
probability: every threshold of one exits exactly the samples that some threshold of another exits, so their
accuracy-vs-speed curves lie on one line and the later-drawn ones hide the earlier. Two threshold policies make
the same decisions on a trace when

* they start at the same block and fall back to the same answer when nothing fires, and
* one's signal is a monotone function of the other's over every (sample, block) of the trace — increasing when
  both fire on the same side of the threshold, decreasing when one fires below and the other above — except
  for float32 rounding (near its maximum, entropy rounds nearby p_max together): at most 5 % of the neighbour
  pairs in signal order may disagree, where really different signals disagree on 40-100 %.

This is checked on the data, not assumed from the number of classes (numpy only).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.policies import Policy, ThresholdPolicy
from core.trace import Trace

_TOL = 1e-4          # of a signal's range: below this two values are one for any practical threshold
# float32 entropy is flat near its maximum and rounds nearby p_max together or apart: a model whose every
# probability is near 1/2 breaks ~2 % of the neighbour pairs by rounding alone, while two really different
# signals (3 classes, or patience) break 40-100 % of them.
_SLACK = 0.05


def same_decisions(trace: Trace, a: Policy, b: Policy) -> bool:
    """True when every threshold of ``a`` exits the same samples at the same blocks, with the same answers, as
    some threshold of ``b`` (and the other way round) on ``trace``."""
    if not (isinstance(a, ThresholdPolicy) and isinstance(b, ThresholdPolicy)) or a.min_block != b.min_block:
        return False
    try:
        sa = np.asarray(a.signal(trace), dtype=np.float64)
        sb = np.asarray(b.signal(trace), dtype=np.float64)
        if sa.shape != sb.shape or not np.array_equal(a.fallback(trace), b.fallback(trace)):
            return False
    except (ValueError, NotImplementedError):
        return False
    x, y = sa.ravel(), sb.ravel()
    if not np.array_equal(np.isnan(x), np.isnan(y)):
        return False
    keep = ~np.isnan(x)
    x, y = x[keep], y[keep]
    if not len(x):
        return True
    rising = a.direction == b.direction
    return _violations(x, y, rising) + _violations(y, x, rising) <= int(_SLACK * len(x))


def _violations(x: np.ndarray, y: np.ndarray, rising: bool) -> int:
    """How many neighbours, in the order of ``x``, break "y is a monotone function of x": y going the wrong way,
    or equal x with different y (x merges values y separates) — beyond float rounding."""
    order = np.lexsort((y if rising else -y, x))
    dx, dy = np.diff(x[order]), np.diff(y[order])
    tol = _TOL * max(float(np.ptp(y)), 1e-12)
    wrong = (dy < -tol) if rising else (dy > tol)
    merged = (dx == 0) & (np.abs(dy) > tol)
    return int((wrong | merged).sum())


def groups(trace: Trace, policies: Sequence[Policy]) -> dict[str, str]:
    """{policy name: the name of the first earlier policy in ``policies`` with the same decisions}, for every
    policy that has one (the others are not keys)."""
    out: dict[str, str] = {}
    reps: list[Policy] = []
    for p in policies:
        rep = next((r for r in reps if same_decisions(trace, r, p)), None)
        if rep is None:
            reps.append(p)
        else:
            out[p.name] = rep.name
    return out

"""``decide`` for many thresholds at once, and the outcome counts per threshold — one algorithm, one file.

``decide_many(policy, trace, thresholds) -> ExitSegments`` stores, per sample, the interval of sorted
thresholds for which it exits at each block (no (T, N, L) tensor); ``segment_counts`` turns the segments
into (T, L, 2, K, K) counts — exit block × final exit right × label × answer — from which every sweep
column (metric, accuracy, cost, exit-induced errors) follows by summing (core.analysis.sweep). O(N·L + T).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.policies.base import Exits, ThresholdPolicy
from core.policies.signals import class_argmax
from core.trace import Trace


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
    if t_count >= 2 and (np.diff(sorted_thr) == 0).any():   # repeated thresholds: count the distinct ones, then
        uniq, reps = np.unique(sorted_thr, return_counts=True)          # weigh each by how often it repeats
        return np.concatenate([[0], np.cumsum(reps)])[count_le(uniq, x)]
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
    n_blocks, t_count = trace.n_blocks, len(thr)
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


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Outcome counts per threshold

def outcome_base(trace: Trace, final_pred: np.ndarray) -> tuple[np.ndarray, bool]:
    """(N,) int64 (final exit right · K + label) · K: with the answered class added, a code in [0, 2K²)
    that is enough to get the confusion matrix and the exit-induced / exit-fixed errors by counting."""
    k = trace.n_classes
    labelled = trace.has_labels
    if not labelled:
        return np.zeros(trace.n, np.int64), False
    final_ok = (final_pred == trace.labels).astype(np.int64)
    return (final_ok * k + trace.labels) * k, True


@dataclass(frozen=True)
class OutcomeCodes:
    """What ``segment_counts`` needs of a trace besides the segments, the same for every policy: a sweep of
    many policies over one chunk (core.analysis.chunked) computes it once."""

    preds: np.ndarray        # (L, N) int64, block-major
    base: np.ndarray         # (N,) int64 (final right · K + label) · K  (outcome_base)
    blocks: np.ndarray       # (L, N) int64 code of exiting at block s: s · 2K² + base + preds[s]
    labelled: bool


def outcome_codes(trace: Trace) -> OutcomeCodes:
    k, n_blocks = trace.n_classes, trace.n_blocks
    preds = class_argmax(trace.logits.transpose(1, 0, 2))                    # (L, N), block-major like seg
    base, labelled = outcome_base(trace, preds[-1])
    blocks = preds + base[None, :]
    blocks += (np.arange(n_blocks) * (2 * k * k))[:, None]
    return OutcomeCodes(preds, base, blocks, labelled)


def segment_counts(seg, trace: Trace, codes: OutcomeCodes | None = None) -> tuple[np.ndarray, bool]:
    """(T, L, 2, K, K) int64 counts per *sorted* threshold: exit block × final right × label × answer.

    Segment s starts at sorted position unfired[s] (segment L at 0) and ends where segment s-1 starts
    (segment 0 at T), so the +1 of segment s and the −1 of segment s+1 land on the same position: both
    bincounts use the one key array unfired · bins. In-place arithmetic: fresh (L, N) int64 temporaries
    cost more than the arithmetic. ``codes``: ``outcome_codes(trace)``, when the caller has it already."""
    n, n_blocks, k, t_count = trace.n, trace.n_blocks, trace.n_classes, len(seg.thresholds)
    codes = codes or outcome_codes(trace)
    c = 2 * k * k
    bins = n_blocks * c
    default = bool((seg.fallback == n_blocks - 1).all())
    never = codes.preds[-1] if default else codes.preds[seg.fallback, np.arange(n)]   # the never-fired segment's
    never = never + codes.base + (n_blocks - 1) * c                                   # code, in [0, bins)
    size = (t_count + 1) * bins
    pos = np.multiply(seg.unfired, bins)                                     # (L, N)
    key = pos + codes.blocks
    delta = np.bincount(key.ravel(), minlength=size)                         # + segment s at unfired[s]
    delta[:bins] += np.bincount(never, minlength=bins)                       # + never-fired at 0
    np.add(pos[:-1], codes.blocks[1:], out=key[:-1])
    np.add(pos[-1], never, out=key[-1])
    delta -= np.bincount(key.ravel(), minlength=size)                        # − segment s+1 at unfired[s]
    counts = np.cumsum(delta.reshape(t_count + 1, bins), axis=0)[:t_count]
    return counts.reshape(t_count, n_blocks, 2, k, k), codes.labelled


def exits_counts(exits: Exits, trace: Trace) -> tuple[np.ndarray, bool]:
    """The same (1, L, 2, K, K) counts for one set of exits."""
    k = trace.n_classes
    base, labelled = outcome_base(trace, class_argmax(trace.logits[:, -1]))
    c = 2 * k * k
    codes = base + np.asarray(exits.pred, np.int64)
    counts = np.bincount(np.asarray(exits.exit_block, np.int64) * c + codes, minlength=trace.n_blocks * c)
    return counts.reshape(1, trace.n_blocks, 2, k, k), labelled



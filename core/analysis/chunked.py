"""The dataset-level analyses of a TraceStore (core.trace.store), one chunk at a time, equal to the same
analyses of its in-memory Trace to the last digit.

Why they are equal, not close: each one reduces the samples to sums that do not depend on how they are
grouped — outcome counts per threshold (core.policies.batch, the sweeps), error counts along the grid
(core.certify.risk_counts), bin counts (core.analysis.metrics.calibration_sums: the float64 confidence sums are
exact), index sets (cohorts) — and the chunk's own arrays (probabilities, entropies, signals) are row-wise,
so a sample's numbers are the same in any chunk. The per-chunk work reuses the in-memory functions; only
the summing is here. Memory: one chunk (≈ 32 MB of rows) plus the per-threshold counts.

    sweep(store, policy, thresholds)       sweep_all(store, n, …, grids)       decide(store, policy) → Exits
    calibration(store, n_bins)             cohorts(store, policy)
    cohort_strata(store, policy)           sample_embeddings(store, block, n, policy): the projection's points
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis.metrics import Calibration, calibration_from_sums, calibration_sums, check_bins, need_labels
from core.analysis.overthinking import COHORTS
from core.analysis.overthinking import cohorts as cohorts_in_memory
from core.analysis.sweep import SWEEP_COLUMNS, policy_template, sweep_counts, sweep_frame, sweep_thresholds
from core.policies import DEFAULT_GRID_SIZE, POLICIES, Exits, Oracle, Policy, ThresholdPolicy, outcome_codes
from core.policies import decide as decide_in_memory
from core.trace import TraceStore


def _zeros(store: TraceStore, thr) -> np.ndarray:
    t = 1 if thr is None else len(thr)
    return np.zeros((t, store.n_blocks, 2, store.n_classes, store.n_classes), np.int64)


def sweep_many(store: TraceStore, requests: list[tuple]) -> list[pd.DataFrame]:
    """Several sweeps in one pass over the chunks (each chunk read, and its signals computed, once):
    ``requests`` = [(policy, thresholds or None, {fixed params})], answered in order."""
    pols = [policy_template(p, store, dict(fixed)) for p, _, fixed in requests]
    thrs = [sweep_thresholds(pol, store, t) for pol, (_, t, _) in zip(pols, requests)]
    totals = [_zeros(store, thr) for thr in thrs]
    for chunk in store.chunks():
        codes = outcome_codes(chunk.trace)            # shared by every policy of the chunk
        for pol, thr, total in zip(pols, thrs, totals):
            total += sweep_counts(pol, chunk.trace, thr, codes)[0]
    # labelled as the whole store is (a labelled chunk of a partly labelled store counts only exit blocks then)
    return [sweep_frame(pol, thr, total, store.has_labels, store) for pol, thr, total in zip(pols, thrs, totals)]


def sweep(store: TraceStore, policy, thresholds=None, **fixed_params) -> pd.DataFrame:
    """``core.analysis.sweep.sweep`` of the store's Trace, read chunk by chunk."""
    return sweep_many(store, [(policy, thresholds, fixed_params)])[0]


def sweep_all(store: TraceStore, n: int = DEFAULT_GRID_SIZE, include_oracle: bool = False,
              params: dict[str, dict] | None = None, grids: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """``core.analysis.sweep.sweep_all`` of the store's Trace in one pass; ``grids`` = {policy: thresholds} replaces a
    policy's default grid of ``n``."""
    params, grids = params or {}, grids or {}
    requests = []
    for name, cls in POLICIES.items():
        if cls.missing(store) or (cls is Oracle and not include_oracle):
            continue
        thr = grids.get(name, cls.grid(store, n) if issubclass(cls, ThresholdPolicy) else None)
        requests.append((name, thr, params.get(name, {})))
    df = pd.concat(sweep_many(store, requests), ignore_index=True)
    df.attrs["columns"] = SWEEP_COLUMNS
    return df


def decide(store: TraceStore, policy: Policy) -> Exits:
    """``core.policies.decide`` over every chunk, (N,) arrays in the caller's row order."""
    out = {k: np.zeros(store.n, np.int64) for k in ("exit_block", "answer_block", "pred")}
    fired = np.zeros(store.n, bool)
    for chunk in store.chunks():
        ex = decide_in_memory(policy, chunk.trace)
        for k, a in out.items():
            a[chunk.rows] = getattr(ex, k)
        fired[chunk.rows] = ex.fired
    return Exits(fired=fired, **out)


def calibration(store: TraceStore, n_bins: int = 15) -> Calibration:
    """``core.analysis.metrics.calibration`` of the store's Trace: bin counts and sums added chunk by chunk."""
    need_labels(store, "calibration")
    m = check_bins(n_bins)
    sums = [np.zeros((store.n_blocks, m), np.int64), np.zeros((store.n_blocks, m)), np.zeros((store.n_blocks, m))]
    for chunk in store.chunks():
        for total, part in zip(sums, calibration_sums(chunk.trace, m)):
            total += part
    return calibration_from_sums(*sums, store.n)


def cohorts(store: TraceStore, policy: Policy | None = None) -> dict[str, np.ndarray]:
    """``core.analysis.overthinking.cohorts(trace, decide(policy, trace))``: sorted caller rows per cohort."""
    found: dict[str, list] = {}
    for chunk in store.chunks():
        ex = None if policy is None else decide_in_memory(policy, chunk.trace)
        for name, idx in cohorts_in_memory(chunk.trace, ex).items():
            found.setdefault(name, []).append(chunk.rows[idx])
    keep = [k for k in COHORTS if k in found and (store.has_labels or k == "multi_flip")]
    return {k: np.sort(np.concatenate(found[k])) for k in keep}


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Points for the projection pages: a sample stratified by cohort, never every embedding

STRATA = ("destructive", "exit_induced_errors", "exit_fixed_errors", "wasteful", "multi_flip", "wrong", "correct",
          "other")   # a sample's stratum is its first cohort in this order (the rarest, most telling first)


def cohort_strata(store: TraceStore, policy: Policy | None = None) -> np.ndarray:
    """(N,) int8: the index in ``STRATA`` of each sample's first cohort (``cohorts``), "other" when none."""
    code = np.full(store.n, len(STRATA) - 1, np.int8)
    for chunk in store.chunks():
        ex = None if policy is None else decide_in_memory(policy, chunk.trace)
        found = cohorts_in_memory(chunk.trace, ex) if store.has_labels else \
            {"multi_flip": cohorts_in_memory(chunk.trace)["multi_flip"]}
        local = np.full(chunk.trace.n, len(STRATA) - 1, np.int8)
        for s in reversed(range(len(STRATA) - 1)):        # earlier strata overwrite later ones
            if STRATA[s] in found:
                local[found[STRATA[s]]] = s
        code[chunk.rows] = local
    return code


@dataclass(frozen=True)
class EmbeddingSample:
    """What a projection page draws for a store: a stratified sample of rows and their embeddings."""

    rows: np.ndarray                 # (n,) caller rows, sorted
    x: np.ndarray                    # (n, D) float32 embeddings at ``block``
    prototypes: np.ndarray | None    # (K, P) in the same space, when recorded
    space: str                       # "prototype space e_m" or "pooled hidden state"
    stratum: np.ndarray              # (n,) int8 index into STRATA
    block: int


def sample_embeddings(store: TraceStore, block: int, n: int = 5000, policy: Policy | None = None,
                      seed: int = 0, floor: int = 20) -> EmbeddingSample:
    """About ``n`` samples stratified by cohort (every cohort keeps at least ``floor`` of its members) and their
    embeddings at ``block``: one pass over the small columns, then one block's column of the sampled rows."""
    strata = cohort_strata(store, policy)
    rows = stratified_rows(strata, n, seed, floor)
    x, protos, space = store.embeddings(block, rows)
    return EmbeddingSample(rows=rows, x=x, prototypes=protos, space=space, stratum=strata[rows], block=int(block))


def stratified_rows(strata: np.ndarray, n: int, seed: int = 0, floor: int = 20) -> np.ndarray:
    """Sorted rows of a sample of ``n`` drawn without replacement, stratified by ``strata`` (N,) (any labels,
    e.g. each sample's cohort): proportional allocation by largest remainder, but at least ``floor`` rows of
    every stratum that has them, so a rare cohort (destructive overthinking: a few %) still shows on the map.
    (scikit-learn's stratified splits allocate proportionally only and refuse strata of one member.)"""
    strata = np.asarray(strata).reshape(-1)
    if n >= len(strata):
        return np.arange(len(strata))
    keys, inv, sizes = np.unique(strata, return_inverse=True, return_counts=True)
    base = np.minimum(sizes, floor)
    spare = max(n - int(base.sum()), 0)
    extra = (sizes - base) * spare / max(int((sizes - base).sum()), 1)
    take = base + np.floor(extra).astype(np.int64)
    short = n - int(take.sum())
    if short > 0:                                      # largest remainders first, where rows are left
        room = np.flatnonzero(take < sizes)
        take[room[np.argsort(-(extra - np.floor(extra))[room], kind="stable")[:short]]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(inv == s), size=int(min(take[s], sizes[s])), replace=False)
              for s in range(len(keys))]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)

"""Slices, prediction depth and grouped certificates of a TraceStore (core.trace.store), one chunk at a time —
equal to the in-memory results (core.analysis.slices, core.analysis.depth, core.certify.groups) to the last digit.

Why they are equal: every result is a sum over samples of integer counts per slice (samples, right answers,
exit-induced errors, exit blocks, depth histograms, confusions, errors along the grid), and a sample's slice and
exit depend on its own row only (a "length" or "regex" slice reads the chunk's texts; an array slicing is indexed
by the chunk's caller rows). The KL means are float sums: equal to ~1e-12 relative, not to the last digit.

    slice_table(store, policy, groups)         prediction_depth(store)           depth_histogram(store, groups)
    mean_kl(store, groups)                     confusion_per_exit(store)         confusion_at_exit(store, policy)
    certify(store, policy, ε, δ, groups=g)     risk_by_slice(store, policy, groups, ε, δ)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis import (
    SUMS,
    Slicing,
    depth_counts,
    depth_table,
    kl_sums,
    kl_table,
    need_labels,
    rows_label,
    slice_sums,
    sweep_counts,
    sweep_frame,
    table_from_sums,
)
from core.analysis import confusion_at_exit as confusion_at_exit_in_memory
from core.analysis import confusion_per_exit as confusion_per_exit_in_memory
from core.analysis import prediction_depth as prediction_depth_in_memory
from core.certify.groups import (
    GroupCertificate,
    as_slicing,
    certify_from_group_counts,
    group_risk_counts,
    risk_sums,
    risk_table,
)
from core.policies import Policy
from core.policies import decide as decide_in_memory
from core.trace import TraceStore


def _pieces(store: TraceStore, slicing: Slicing | None):
    """(chunk, its slice codes) for every chunk, reading the texts only when the slicing needs them."""
    for chunk in store.chunks(texts=slicing is not None and slicing.needs_texts):
        codes = np.zeros(chunk.trace.n, np.int64) if slicing is None else slicing.codes(chunk.trace, chunk.rows)
        yield chunk, codes


def slice_table(store: TraceStore, policy: Policy, groups, delta: float = 0.05) -> pd.DataFrame:
    """``core.analysis.slices.slice_table`` of the store's Trace: the counts per slice added chunk by chunk."""
    slicing = as_slicing(store, groups)
    total = {k: np.zeros(len(slicing), np.int64) for k in SUMS}
    for chunk, codes in _pieces(store, slicing):
        for k, v in slice_sums(chunk.trace, decide_in_memory(policy, chunk.trace), codes, len(slicing)).items():
            total[k] += v
    return table_from_sums(total, slicing, store.n_blocks, delta, rows_label(store))


def prediction_depth(store: TraceStore) -> np.ndarray:
    """(N,) ``core.analysis.depth.prediction_depth`` in the caller's row order."""
    out = np.zeros(store.n, np.int64)
    for chunk in store.chunks():
        out[chunk.rows] = prediction_depth_in_memory(chunk.trace)
    return out


def depth_histogram(store: TraceStore, groups=None) -> pd.DataFrame:
    """``core.analysis.depth.depth_histogram``: (slices × blocks) counts added chunk by chunk."""
    slicing = None if groups is None else as_slicing(store, groups)
    g = 1 if slicing is None else len(slicing)
    total = np.zeros((g, store.n_blocks), np.int64)
    for chunk, codes in _pieces(store, slicing):
        total += depth_counts(chunk.trace, codes, g)
    return depth_table(total, ["all samples"] if slicing is None else slicing.values)


def mean_kl(store: TraceStore, groups=None) -> pd.DataFrame:
    """``core.analysis.depth.mean_kl``: KL sums and counts per slice added chunk by chunk."""
    slicing = None if groups is None else as_slicing(store, groups)
    g = 1 if slicing is None else len(slicing)
    sums, n = np.zeros((g, store.n_blocks)), np.zeros(g, np.int64)
    for chunk, codes in _pieces(store, slicing):
        s, c = kl_sums(chunk.trace, codes, g)
        sums += s
        n += c
    return kl_table(sums, n, ["all samples"] if slicing is None else slicing.values)


def confusion_per_exit(store: TraceStore, rows=None) -> np.ndarray:
    """(L, K, K) ``core.analysis.depth.confusion_per_exit`` (of the caller ``rows`` only, when given)."""
    need_labels(store, "the confusion matrix per exit")
    keep = None if rows is None else np.isin(np.arange(store.n), rows)
    total = np.zeros((store.n_blocks, store.n_classes, store.n_classes), np.int64)
    for chunk in store.chunks():
        total += confusion_per_exit_in_memory(chunk.trace, None if keep is None else keep[chunk.rows])
    return total


def confusion_at_exit(store: TraceStore, policy: Policy) -> np.ndarray:
    """(K, K) ``core.analysis.depth.confusion_at_exit`` of the policy's answers."""
    need_labels(store, "the confusion matrix at the policy's exit")
    total = np.zeros((store.n_classes, store.n_classes), np.int64)
    for chunk in store.chunks():
        total += confusion_at_exit_in_memory(chunk.trace, decide_in_memory(policy, chunk.trace))
    return total


def certify(store: TraceStore, policy, epsilon: float, delta: float = 0.1, risk: str = "induced",
            method: str = "ltt", grid=None, groups=None) -> GroupCertificate:
    """``core.certify.ltt.certify(..., groups=groups)`` on the store: errors per slice along the grid and the sweep's
    outcome counts added chunk by chunk, in one pass. (Without groups: core.analysis.chunked.certify.)"""
    from core.certify.ltt import certify_grid  # MAPIE/scikit-learn: ~90 MB, only here (as core.analysis.chunked)

    if groups is None:
        raise ValueError("certify of a store without groups is core.analysis.chunked.certify")
    pol, thr = certify_grid(store, policy, epsilon, delta, risk, method, grid)
    slicing = as_slicing(store, groups)
    g = len(slicing)
    ordered, errors, mono, counts, n_g = None, 0, 0, None, np.zeros(g, np.int64)
    for chunk, codes in _pieces(store, slicing):
        o, e, m = group_risk_counts(chunk.trace, pol, thr, codes, g)
        if ordered is None:                       # the grid from conservative to fast: the same for every chunk
            ordered = o
            counts = np.zeros((len(o), store.n_blocks, 2, store.n_classes, store.n_classes), np.int64)
        errors, mono = errors + e[risk], mono + m[risk]
        n_g += np.bincount(codes, minlength=g)
        counts += sweep_counts(pol, chunk.trace, ordered)[0]
    sw = sweep_frame(pol, ordered, counts, store.has_labels, store)
    return certify_from_group_counts(pol, slicing, n_g, ordered, errors, mono, sw, epsilon, delta, risk, method,
                                     rows_label(store))


def risk_by_slice(store: TraceStore, policy: Policy | None, groups, epsilon: float, delta: float | None = None,
                  risk: str = "induced") -> pd.DataFrame:
    """``core.certify.groups.risk_by_slice`` of the store's Trace."""
    slicing = as_slicing(store, groups)
    n_g, errors = np.zeros(len(slicing), np.int64), np.zeros(len(slicing), np.int64)
    for chunk, codes in _pieces(store, slicing):
        a, b = risk_sums(chunk.trace, policy, codes, len(slicing), risk)
        n_g += a
        errors += b
    return risk_table(n_g, errors, slicing, epsilon, delta, rows_label(store))

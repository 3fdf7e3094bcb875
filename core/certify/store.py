"""Certification of a trace store (core.trace.store), chunk by chunk: the same Certificate as
``core.certify.certify`` on the whole Trace, since risks and outcome counts are integer sums."""
from __future__ import annotations

import numpy as np

from core.analysis import sweep_counts, sweep_frame
from core.certify.ltt import certify_counts, certify_grid, risk_counts
from core.trace import TraceStore


def certify(store: TraceStore, policy, epsilon: float, delta: float = 0.1, risk: str = "induced",
            method: str = "ltt", grid=None):
    """``core.certify.certify`` on the store's Trace (a ``Certificate``): risk and outcome counts added chunk by
    chunk, in one pass."""
    pol, thr = certify_grid(store, policy, epsilon, delta, risk, method, grid)
    ordered, errors, mono, counts = None, 0, 0, None
    for chunk in store.chunks():
        o, e, m = risk_counts(chunk.trace, pol, thr)
        if ordered is None:                       # the grid from conservative to fast: the same for every chunk
            ordered = o
            counts = np.zeros((len(o), store.n_blocks, 2, store.n_classes, store.n_classes), np.int64)
        errors, mono = errors + e[risk], mono + m[risk]
        counts += sweep_counts(pol, chunk.trace, ordered)[0]
    sw = sweep_frame(pol, ordered, counts, store.has_labels, store)
    return certify_counts(pol, store.n, ordered, errors, mono, sw, epsilon, delta, risk, method)

"""2-D maps of one block's embeddings with the class prototypes: PCA at once, UMAP cached on disk.

* ``embeddings_at(trace, block)`` — what is projected: DE³'s prototype space e_m when the trace has it (the
  prototypes live there too), else the pooled hidden state;
* ``pca_2d`` — numpy SVD, deterministic signs, instant;
* ``umap_2d`` — umap-learn on scikit-learn's exact k-nearest-neighbour graph (which skips pynndescent's
  numba compilation, most of a first UMAP's time here), prototypes fitted together with the samples;
* ``project(trace, trace_id, block, method)`` — either, cached on disk under core.util.paths.cache_dir() /
  projections, written atomically; a cache that cannot be written never fails the map;
* ``warm_umap()`` — compiles UMAP's numba code once per process in a background thread.

``EXITLENS_PROJECTION=pca`` turns UMAP off (tests, machines without numba).
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import warnings
from pathlib import Path

import numpy as np

from core.trace import Trace
from core.util import cache_dir, save_npz_atomic

METHODS = ("PCA", "UMAP")


def umap_enabled() -> bool:
    return os.environ.get("EXITLENS_PROJECTION", "").strip().lower() != "pca"


def embeddings_at(trace: Trace, block: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The samples' embedding at ``block`` (0-based) for the projection, the class prototypes in the same
    space (or None) and which space it is: DE³'s prototype space when recorded, else the pooled state."""
    if trace.proto_emb is not None:
        protos = None if trace.prototypes is None else np.asarray(trace.prototypes[block], dtype=np.float32)
        return np.asarray(trace.proto_emb[:, block], dtype=np.float32), protos, "prototype space e_m"
    return np.asarray(trace.pooled[:, block], dtype=np.float32), None, "pooled hidden state"


def pca_2d(x: np.ndarray, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """2-D PCA by numpy SVD of the centred samples; ``extra`` points (prototypes) go through the same map."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=0, keepdims=True) if len(x) else np.zeros((1, x.shape[1]))
    xc = x - mu
    if len(x) < 2 or not np.isfinite(xc).all():
        comps = np.eye(x.shape[1])[:2].T if x.shape[1] >= 2 else np.ones((x.shape[1], 2))
    else:
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        comps = vt[:2].T
        if comps.shape[1] < 2:
            comps = np.pad(comps, ((0, 0), (0, 2 - comps.shape[1])))
        comps = comps * np.sign(comps[np.abs(comps).argmax(axis=0), range(2)] + 1e-30)   # deterministic signs
    xy = (xc @ comps).astype(np.float32)
    ex = None if extra is None else ((np.asarray(extra, np.float64) - mu) @ comps).astype(np.float32)
    return xy, ex


def umap_2d(x: np.ndarray, extra: np.ndarray | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """UMAP of the samples and the prototypes fitted together (so the stars sit in the same map)."""
    import umap
    from sklearn.neighbors import NearestNeighbors

    pts = np.asarray(x if extra is None else np.vstack([x, extra]), dtype=np.float32)
    if len(pts) < 5:                             # too few points for a neighbour graph: PCA says it all
        return pca_2d(x, extra)
    n_neighbors = int(min(15, max(2, len(pts) - 1)))
    dist, idx = NearestNeighbors(n_neighbors=n_neighbors).fit(pts).kneighbors(pts)
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=0.1, random_state=seed,
                        init="spectral" if len(pts) > n_neighbors + 2 else "random", n_jobs=1,
                        n_epochs=200 if len(pts) > 2000 else None,      # UMAP's own choice for large sets
                        precomputed_knn=(idx, dist, None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "no search index: transform() unavailable" — not used
        emb = reducer.fit_transform(pts).astype(np.float32)
    return (emb, None) if extra is None else (emb[: len(x)], emb[len(x):])


def projection_path(trace_id: str, block: int, method: str, n: int) -> Path:
    safe = hashlib.sha256(trace_id.encode()).hexdigest()[:20]
    return cache_dir() / "projections" / f"{safe}-b{block}-{method}-{n}.npz"


def is_cached(trace_id: str, block: int, method: str, n: int) -> bool:
    return projection_path(trace_id, block, method, n).is_file()


def project(trace: Trace, trace_id: str, block: int, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """2-D coordinates of the samples (and prototypes) at ``block`` (0-based), from the disk cache or
    computed and cached. ``trace_id`` names the (model, data) recording the trace is of."""
    if method not in METHODS:
        raise ValueError(f"projection method must be one of {METHODS}, got {method!r}")
    path = projection_path(trace_id, block, method, trace.n)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return z["xy"], (z["proto"] if "proto" in z.files else None)
        except Exception:
            path.unlink(missing_ok=True)        # damaged: compute it again
    x, protos, _ = embeddings_at(trace, block)
    xy, pxy = (pca_2d if method == "PCA" else umap_2d)(x, protos)
    arrays = {"xy": xy} if pxy is None else {"xy": xy, "proto": pxy}
    try:
        save_npz_atomic(path, **arrays)
    except OSError as e:            # the disk copy is only a cache: the map is drawn without it
        print(f"ExitLens: could not cache the projection at {path}: {e}", file=sys.stderr)
    return xy, pxy


_WARM: dict = {"thread": None}


def warm_umap() -> threading.Thread | None:
    """Compile UMAP's numba code once per process in a background thread, so the user's first UMAP pays the
    fit only (the compilation is ~5–20 s on a loaded CPU). Returns the thread (None when UMAP is off)."""
    if _WARM["thread"] is not None or not umap_enabled():
        return _WARM["thread"]

    def run():
        try:
            umap_2d(np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32), None)
        except Exception:     # UMAP will report its own problem when it is really asked for
            pass

    _WARM["thread"] = threading.Thread(target=run, name="exitlens-umap-warmup", daemon=True)
    _WARM["thread"].start()
    return _WARM["thread"]

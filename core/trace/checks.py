"""Validation of a trace read from the exchange format (core.trace.io), shared by the Parquet and NPZ readers:
shapes, finite numbers, labels in range, costs and file-level facts — each refusal says what the format expects."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.trace.base import Trace, TraceError

SEE = "see the format in core/trace/io.py"


def _finite(a: np.ndarray, what: str, name: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        at = np.argwhere(bad)[0]
        dims = ("row", "block", "class")[:a.ndim] if a.ndim <= 3 else tuple(f"axis {i}" for i in range(a.ndim))
        where = ", ".join(f"{d} {int(i)}" for d, i in zip(dims, at))
        raise TraceError(f"{name}: '{what}' holds {int(bad.sum())} NaN or infinite value(s), the first at {where}")


def _array(parts: dict, key: str, shape: tuple, name: str, what: str) -> np.ndarray | None:
    if key not in parts:
        return None
    a = np.asarray(parts[key])
    if a.dtype.kind not in "biuf":
        raise TraceError(f"{name}: '{key}' must be numbers, found {a.dtype}")
    a = a.astype(np.float64)
    if a.shape[:len(shape)] != shape or a.ndim != len(shape) + (key == "pooled"):
        raise TraceError(f"{name}: '{key}' must be {what}, but it is {a.shape}")
    _finite(a, key, name)
    return a


def build(parts: dict, meta: dict, name: str) -> Trace:
    logits = np.asarray(parts["logits"])
    if logits.dtype.kind not in "biuf" or logits.ndim != 3:
        raise TraceError(f"{name}: 'logits' must be numbers shaped (N samples, L exits, K classes), but it is "
                         f"{logits.dtype} {logits.shape}")
    n, l, k = logits.shape
    if n == 0 or l == 0:
        raise TraceError(f"{name}: the trace is empty ({n} samples × {l} exits); it needs at least one of each")
    if k < 2:
        raise TraceError(f"{name}: 'logits' has K={k} class per exit; an exit trace needs K ≥ 2 classes")
    _finite(logits.astype(np.float64), "logits", name)
    labels = np.full(n, -1, np.int64)
    if "label" in parts:
        lab = np.asarray(parts["label"], dtype=np.float64).reshape(-1)
        if len(lab) != n:
            raise TraceError(f"{name}: {len(lab)} labels for {n} samples")
        if (lab != np.round(lab)).any():
            raise TraceError(f"{name}: labels must be whole class indices; row {int(np.argmax(lab != np.round(lab)))}"
                             f" has {lab[lab != np.round(lab)][0]}")
        out = (lab < -1) | (lab >= k)
        if out.any():
            i = int(np.argmax(out))
            raise TraceError(f"{name}: labels must be -1 (unknown) or a class 0..{k - 1} (K={k} from the logits); "
                             f"row {i} has {int(lab[i])}")
        labels = lab.astype(np.int64)
    texts = parts.get("text") or [f"#{i}" for i in range(n)]
    texts_b = parts.get("text_b")
    for key, t in (("texts", texts), ("texts_b", texts_b)):
        if t is not None and len(t) != n:
            raise TraceError(f"{name}: {len(t)} {key} for {n} samples")
    dist = _array(parts, "proto_dist", (n, l, k), name, f"(N, L, K) = {(n, l, k)} like the logits")
    if dist is not None and (dist < 0).any():
        raise TraceError(f"{name}: 'proto_dist' holds negative distances (the first at row "
                         f"{int(np.argwhere(dist < 0)[0][0])}); distances are ≥ 0")
    lte = _array(parts, "lte", (n, l), name, f"(N, L) = {(n, l)}")
    if lte is not None and ((lte < 0) | (lte > 1)).any():
        raise TraceError(f"{name}: 'lte' scores must lie in [0, 1]")
    pooled = _array(parts, "pooled", (n, l), name, f"(N, L, D) with N, L = {(n, l)}")
    return Trace(logits=logits.astype(np.float32), labels=labels, texts=list(texts), texts_b=texts_b,
                 pooled=(pooled if pooled is not None else np.zeros((n, l, 1))).astype(np.float16),
                 proto_dist=None if dist is None else dist.astype(np.float32),
                 lte=None if lte is None else lte.astype(np.float32), **_costs(meta, l, k, name),
                 meta={**{k_: v for k_, v in meta.items() if k_ not in _COST_KEYS}, **_meta_extra(meta, k, name)})


_COST_KEYS = ("flops_per_block", "flops_embed", "prototypes")


def _costs(meta: dict, l: int, k: int, name: str) -> dict:
    cost = meta.get("flops_per_block")
    if cost is None:
        per_block = np.ones(l)
    else:
        per_block = np.asarray(cost, dtype=np.float64).reshape(-1) if np.size(cost) else np.zeros(0)
        if len(per_block) != l:
            raise TraceError(f"{name}: flops_per_block has {len(per_block)} entries but the logits have L={l} exits")
        if not np.isfinite(per_block).all() or (per_block < 0).any():
            raise TraceError(f"{name}: flops_per_block must be finite numbers ≥ 0, got {per_block.tolist()}")
    embed = float(meta.get("flops_embed", 0.0))
    if not np.isfinite(embed) or embed < 0:
        raise TraceError(f"{name}: flops_embed must be a finite number ≥ 0, got {embed}")
    protos = meta.get("prototypes")
    if protos is not None:
        protos = np.asarray(protos, dtype=np.float32)
        if protos.ndim != 3 or protos.shape[:2] != (l, k):
            raise TraceError(f"{name}: prototypes must be (L, K, P) with L, K = {(l, k)}, but it is {protos.shape}")
    return {"flops_per_block": per_block, "flops_embed": embed, "prototypes": protos}


def _meta_extra(meta: dict, k: int, name: str) -> dict:
    names = meta.get("label_names")
    if names is not None and (not isinstance(names, list) or len(names) != k):
        raise TraceError(f"{name}: label_names must list K={k} class names, got {names!r}")
    unit = meta.get("cost_unit") or ("FLOPs" if "flops_per_block" in meta else "blocks")
    return {"source": "imported", "file": Path(name).name, "cost_unit": unit}

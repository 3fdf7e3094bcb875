"""Traces shipped with the models (``assets/traces/``), so a fresh machine opens every page without recording.

The Threshold debugger needs a model's dev trace and its calibration trace (872 + 2,000 SST-2 sentences): recorded
on a CPU that is 20-30 s before the page first shows. The shipped models come with both, written by
``python -m core.cli.ship_traces`` under names that hold a SHA-256 digest of the weights file's *content* (not the
cache's key, which holds the file's path and time and so differs on every checkout), so a shipped trace is found on
any machine and only ever used for the exact weights it was recorded from. ``index.json`` says how
many samples each holds: an "all" trace also serves a limit at least that large (the first N samples of a split
are all of it).

Slim, to keep ``assets/`` small: the pooled hidden states are left out when the trace has DE³ prototype-space
embeddings (the map of the Prototypes page draws those), and a calibration trace keeps what certification reads
(logits, labels, prototype distances, LTE scores, texts) — no embeddings at all.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.data import REPO_ROOT
from core.trace import Trace, TraceError

SHIPPED = REPO_ROOT / "assets" / "traces"
INDEX = "index.json"


@lru_cache(maxsize=64)
def _content_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def weights_digest(model_dir: str | os.PathLike) -> str:
    """A digest of model.safetensors' bytes: the same on every machine for the same weights (hashed once per
    file version and process)."""
    p = Path(model_dir) / "model.safetensors"
    st = p.stat()
    return _content_digest(str(p.resolve()), st.st_size, st.st_mtime_ns)


def shipped_file(model_dir: str | os.PathLike, task: str, split: str, version: str) -> str:
    """A whole-split trace's shipped name: ``<model>-w<weights digest>-<task>-<split>-all-r<v>.npz``."""
    return f"{Path(model_dir).name}-w{weights_digest(model_dir)}-{task}-{split}-all-r{version}.npz"


def shipped_for(model_dir, task: str, split: str, limit: int | None, version: str,
                folder: Path | None = None) -> str | None:
    """The shipped file that serves this recording of ``model_dir`` (its weights' content), or None."""
    whole = shipped_file(model_dir, task, split, version)
    return shipped_name(whole if limit is None else f"{whole}#{limit}", whole, limit, folder)


def _index(folder: Path | None = None) -> dict:
    folder = folder or SHIPPED
    try:
        return json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def shipped_name(name: str, all_name: str, limit: int | None, folder: Path | None = None) -> str | None:
    """The shipped file for the cache name ``name`` (``all_name``: the same recording without a limit), or None."""
    folder = folder or SHIPPED
    index = _index(folder)
    for candidate in (name, all_name):
        info = index.get(candidate)
        if info is None or not (folder / candidate).is_file():
            continue
        if candidate == name or limit is None or int(info.get("n", 1 << 62)) <= limit:
            return candidate
    return None


def shipped_trace(name: str, all_name: str, limit: int | None, folder: Path | None = None) -> Trace | None:
    """The shipped Trace for a cache name (see :func:`shipped_name`), or None; a damaged file is skipped."""
    folder = folder or SHIPPED
    found = shipped_name(name, all_name, limit, folder)
    if found is None:
        return None
    try:
        return Trace.load(folder / found)
    except TraceError:
        return None


def slim(trace: Trace, split: str) -> Trace:
    """The trace as shipped: no pooled states when prototype-space embeddings stand in for them (dev), no
    embeddings at all for a calibration split."""
    keep_pooled = trace.proto_emb is None and split != "calibration"
    pooled = trace.pooled if keep_pooled else np.zeros((trace.n, trace.n_blocks, 1), dtype=np.float16)
    return Trace(logits=trace.logits, pooled=pooled, labels=trace.labels, texts=trace.texts,
                 flops_per_block=trace.flops_per_block, flops_embed=trace.flops_embed, texts_b=trace.texts_b,
                 proto_emb=None if split == "calibration" else trace.proto_emb, proto_dist=trace.proto_dist,
                 prototypes=None if split == "calibration" else trace.prototypes, lte=trace.lte,
                 meta=dict(trace.meta, shipped=True))


def add_to_index(path: Path, trace: Trace, folder: Path | None = None) -> None:
    folder = folder or SHIPPED
    index = _index(folder)
    index[path.name] = {"n": trace.n, "blocks": trace.n_blocks, "model": trace.meta.get("model"),
                        "split": trace.meta.get("split")}
    (folder / INDEX).write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n", encoding="utf-8")

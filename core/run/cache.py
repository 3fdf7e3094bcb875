"""The on-disk cache of recorded Traces and projections, outside git.

A Trace is keyed by the model's weights file (its size, mtime and a hash of its header), the data (task,
split, limit) and the recorder's version, so a re-trained model never reuses a stale trace. The folder is
``$EXITLENS_CACHE`` or ``~/.cache/exitlens``. Files are written atomically (Trace.save). A recording too large
for memory goes to a store folder (core.trace.store) at ``store_path`` (``python -m core.inference record``
under torchrun, or with ``--out``).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from core.trace import Trace, TraceError
from core.util import cache_dir  # noqa: F401  (re-exported: the cache's folder)

RECORDER_VERSION = "1"
Inputs = tuple[list, "list | None", list, dict]      # texts, texts_b, labels, meta


def model_key(model_dir: str | os.PathLike) -> str:
    """A short digest of the weights file: changes whenever the model is re-saved."""
    p = Path(model_dir) / "model.safetensors"
    st = p.stat()
    h = hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    with open(p, "rb") as f:
        h.update(f.read(1 << 16))
    return h.hexdigest()[:16]


def trace_path(model_dir, task: str, split: str, limit: int | None = None, precision: str = "fp32") -> Path:
    """The cached Trace's file; a half-precision recording (core.run.recorder.autocast) is a different file."""
    half = "" if precision == "fp32" else f"-{precision}"
    name = (f"{Path(model_dir).name}-{model_key(model_dir)}-{task}-{split}-{limit or 'all'}{half}"
            f"-r{RECORDER_VERSION}.npz")
    return cache_dir() / "traces" / name


def store_path(model_dir, task: str, split: str, limit: int | None = None, precision: str = "fp32") -> Path:
    """The folder of the recording's out-of-core store (core.trace.store), next to the cached Traces."""
    return cache_dir() / "stores" / trace_path(model_dir, task, split, limit, precision).stem


def recording_inputs(model_dir, task: str, split: str, limit: int | None = None) -> Inputs:
    """(texts, texts_b or None, labels, meta) of a dataset split, as every recording of ``model_dir`` reads it."""
    from core.data import columns, get_task, load_split

    t = get_task(task)
    texts, texts_b, labels = columns(load_split(task, split, limit=limit))
    meta = {"model": Path(model_dir).name, "model_key": model_key(model_dir), "task": t.name, "split": split,
            "label_names": list(t.label_names), "metric": t.metric}
    return texts, texts_b, labels.tolist(), meta


def trace_for(model_dir, task: str, split: str = "validation", limit: int | None = None, *,
              progress: bool = False, callback=None, max_len: int = 128, device: str | None = None,
              precision: str = "fp32") -> Trace:
    """The dev-set (or any split's, "calibration" included: core.data.splits) Trace of a model directory: from the
    cache, or recorded (on ``device`` at ``precision``, core.run.recorder.record) and cached."""
    from core.model import checkpoint
    from core.run.recorder import record

    path = trace_path(model_dir, task, split, limit, precision)
    if path.is_file():
        try:
            return Trace.load(path)
        except TraceError:
            path.unlink(missing_ok=True)      # damaged: record it again
    from core.run.shipped import shipped_trace  # shipped with the model (assets/traces): no recording
    shipped = None
    if precision == "fp32":
        from core.run.shipped import shipped_file
        whole = shipped_file(model_dir, task, split, RECORDER_VERSION)
        shipped = shipped_trace(whole if limit is None else f"{whole}#{limit}", whole, limit)   # = shipped_for
    if shipped is not None:
        return shipped
    model = checkpoint.load(model_dir)
    tok = checkpoint.load_tokenizer(model_dir)
    texts, texts_b, labels, meta = recording_inputs(model_dir, task, split, limit)
    tr = record(model, tok, texts, texts_b, labels, max_len=max_len, meta=meta, progress=progress, callback=callback,
                device=device, precision=precision)
    save_cached(tr, path)
    return tr


def save_cached(trace: Trace, path: Path) -> None:
    """Write a Trace to the cache; the disk copy is only a cache: a full or read-only disk costs a re-record later."""
    try:
        trace.save(path)
    except OSError as e:
        import sys
        print(f"ExitLens: could not cache the trace at {path}: {e}", file=sys.stderr)

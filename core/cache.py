"""The on-disk cache of recorded Traces and projections, outside git.

A Trace is keyed by the model's weights file (its size, mtime and a hash of its header), the data (task,
split, limit) and the recorder's version, so a re-trained model never reuses a stale trace. The folder is
``$EXITLENS_CACHE`` or ``~/.cache/exitlens``. Files are written atomically (Trace.save).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from core.trace import Trace, TraceError

RECORDER_VERSION = "1"


def cache_dir() -> Path:
    d = Path(os.environ.get("EXITLENS_CACHE", Path.home() / ".cache" / "exitlens"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def model_key(model_dir: str | os.PathLike) -> str:
    """A short digest of the weights file: changes whenever the model is re-saved."""
    p = Path(model_dir) / "model.safetensors"
    st = p.stat()
    h = hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    with open(p, "rb") as f:
        h.update(f.read(1 << 16))
    return h.hexdigest()[:16]


def trace_path(model_dir, task: str, split: str, limit: int | None = None) -> Path:
    name = f"{Path(model_dir).name}-{model_key(model_dir)}-{task}-{split}-{limit or 'all'}-r{RECORDER_VERSION}.npz"
    return cache_dir() / "traces" / name


def trace_for(model_dir, task: str, split: str = "validation", limit: int | None = None, *,
              progress: bool = False, callback=None, max_len: int = 128) -> Trace:
    """The dev-set (or any split's, "calibration" included: core.splits) Trace of a model directory: from the
    cache, or recorded and cached."""
    from core import checkpoint
    from core.data import get_task
    from core.runner import record
    from core.splits import load_split

    path = trace_path(model_dir, task, split, limit)
    if path.is_file():
        try:
            return Trace.load(path)
        except TraceError:
            path.unlink(missing_ok=True)      # damaged: record it again
    model = checkpoint.load(model_dir)
    tok = checkpoint.load_tokenizer(model_dir)
    t = get_task(task)
    ds = load_split(task, split, limit=limit)
    texts_b = list(ds["text_b"]) if "text_b" in ds.column_names else None
    meta = {"model": Path(model_dir).name, "model_key": model_key(model_dir), "task": t.name, "split": split,
            "label_names": list(t.label_names), "metric": t.metric}
    tr = record(model, tok, list(ds["text"]), texts_b, list(ds["label"]), max_len=max_len, meta=meta,
                progress=progress, callback=callback)
    try:
        tr.save(path)
    except OSError as e:        # the disk copy is only a cache: a full or read-only disk costs a re-record later
        import sys
        print(f"ExitLens: could not cache the trace at {path}: {e}", file=sys.stderr)
    return tr

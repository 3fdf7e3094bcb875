"""Atomic file writes: a temporary sibling, then ``os.replace`` — a reader never sees half a file, and a
failure (disk full, an exception while serialising) leaves the old file, or none, and no debris."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file next to ``path`` and move it into place when it succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_npz_atomic(path: str | os.PathLike, compressed: bool = False, **arrays) -> Path:
    import numpy as np

    return write_atomic(path, lambda f: (np.savez_compressed if compressed else np.savez)(f, **arrays))

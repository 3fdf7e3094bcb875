"""Where ExitLens keeps files outside git: the cache folder (``$EXITLENS_CACHE``, default ~/.cache/exitlens)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    d = Path(os.environ.get("EXITLENS_CACHE", Path.home() / ".cache" / "exitlens"))
    d.mkdir(parents=True, exist_ok=True)
    return d

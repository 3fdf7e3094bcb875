"""The folders a server reads typed paths from — nothing else on its disk.

A path typed into the app (a checkpoint directory, a Hugging Face folder to import, a trace file or store) is
read only when it lies inside one of the folders the operator allows:

* the models folder (``$EXITLENS_MODELS_DIR``, default assets/models) and the whole ``assets/`` folder;
* the trace cache (``$EXITLENS_CACHE``), where imported models go;
* every folder named in ``$EXITLENS_ALLOWED_DIRS`` (separated by ``os.pathsep``, ":" on Linux).

Anything else gets :class:`PathNotAllowed`, raised before the path is opened or even tested for existence, so
a refusal says nothing of the file (not whether it exists, not a byte of it). Symbolic links are resolved first:
a link inside an allowed folder to a file outside it is refused.
"""
from __future__ import annotations

import os
from pathlib import Path

from core.data import REPO_ROOT
from core.run.bundle import models_dir
from core.run.cache import cache_dir

ENV = "EXITLENS_ALLOWED_DIRS"


class PathNotAllowed(PermissionError):
    """A typed path outside the allowed folders (a PermissionError, so every OSError handler shows it)."""


def allowed_roots() -> list[Path]:
    """The allowed folders, resolved (those of ``$EXITLENS_ALLOWED_DIRS`` in their order, after the built-ins)."""
    roots = [models_dir(), REPO_ROOT / "assets", cache_dir()]
    roots += [Path(p).expanduser() for p in os.environ.get(ENV, "").split(os.pathsep) if p.strip()]
    out: list[Path] = []
    for r in roots:
        r = r.resolve()
        if r not in out:
            out.append(r)
    return out


def is_allowed(path: str | os.PathLike) -> bool:
    p = Path(path).expanduser().resolve()
    return any(p == r or p.is_relative_to(r) for r in allowed_roots())


def check_allowed(path: str | os.PathLike, what: str = "path") -> Path:
    """``path`` resolved, when it lies inside an allowed folder; else :class:`PathNotAllowed` (nothing read)."""
    if not str(path).strip() or not is_allowed(path):
        raise PathNotAllowed(
            f"The {what} {str(path)[:200]!r} is outside the folders this server reads from, so nothing was read from "
            f"it. The server reads only the models folder, assets/, the trace cache and the folders its operator names "
            f"in ${ENV} ({os.pathsep}-separated): upload the file instead, or ask the operator to allow its folder.")
    return Path(path).expanduser().resolve()

"""A checkpoint in a shareable URL by name or fingerprint — never by its path on the server.

* a model imported from a Hugging Face folder lives in the cache's ``imported/<name>-<digest>`` folder: its URL
  value is ``imported:<name>-<digest>`` (the import's fingerprint);
* any other checkpoint directory opened in the sidebar (inside the allowed folders, core.run.allowed) gets a
  fingerprint of its path, remembered on this server in the cache's ``opened-models.json``: ``dir:<fingerprint>``.

A URL that holds a path is refused with a warning: a link never makes the server read a folder by name.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from app import params as P
from core.run import cache_dir, is_allowed
from core.util import write_atomic

REGISTRY = "opened-models.json"


def _imported() -> Path:
    return (cache_dir() / "imported").resolve()


def _registry() -> dict[str, str]:
    try:
        return json.loads((cache_dir() / REGISTRY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def url_ref(path: str) -> str:
    """The URL value of the checkpoint directory ``path`` (see the module doc)."""
    p = Path(path).expanduser().resolve()
    if p.parent == _imported():
        return f"imported:{p.name}"
    fp = hashlib.sha256(str(p).encode()).hexdigest()[:12]
    reg = _registry()
    if reg.get(fp) != str(p):
        reg[fp] = str(p)
        write_atomic(cache_dir() / REGISTRY, lambda f: f.write(json.dumps(reg, indent=1).encode()))
    return f"dir:{fp}"


def resolve_ref(raw) -> tuple[str, str | None]:
    """(the directory a URL value names, or "", and a warning when it names none on this server)."""
    value = (P.first(raw) or "").strip()
    if not value:
        return "", None
    kind, _, ref = value.partition(":")
    if kind == "imported" and ref and Path(ref).name == ref and ref not in (".", ".."):
        p = _imported() / ref
        if (p / "config.json").is_file():
            return str(p), None
        return "", (f"The imported model {ref[:60]!r} in the URL is not on this server: import its Hugging Face "
                    "folder again from the sidebar.")
    if kind == "dir" and ref:
        p = _registry().get(ref)
        if p and Path(p).is_dir() and is_allowed(p):
            return p, None
        return "", (f"The checkpoint {ref[:20]!r} in the URL was never opened on this server: open its directory "
                    "in the sidebar.")
    return "", ("The URL names a checkpoint by a path: ExitLens links carry a model's name or fingerprint, never a "
                "path on the server, so it was not read. Open the directory in the sidebar instead.")

"""Training: the loop and its steps (loop, step, state), losses and distillation, DE³ prototypes, COST-EFF
slenderization before distillation (slim), shrinking for shipping (shrink), and model cards (card).

Other packages import this package, never its modules. Its names load on first use (PEP 562), so that the
package's own command lines (``python -m core.train.prototypes``, ``core.train.shrink``) run their module once."""
from __future__ import annotations

import importlib

_FROM = {
    "TrainConfig": "loop", "length_bucketed": "loop", "load_rows": "loop", "param_digest": "loop",
    "parse_args": "args", "train": "loop",
    "dar_loss": "losses", "exit_loss": "losses", "exit_weights": "losses", "lte_loss": "losses",
    "prototype_loss": "losses",
    "centrality": "prototypes",
}

__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module 'core.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"core.train.{_FROM[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM))

"""Which two models can be compared sample by sample, and which model B a page offers first.

Two models compare when they have the same number of classes and were trained on the same task with the same
label names (else their answers do not mean the same). Model B's natural partner comes first: the model
slenderized from A (COST-EFF), or the one A was slenderized or distilled from; then the rest, by name."""
from __future__ import annotations

from pathlib import Path

from core.data import Task
from core.model import CheckpointError, checkpoint
from core.run.bundle import card_task


def why_not_comparable(a_name: str, a_task: Task | None, a_classes: int, name: str, task: Task | None,
                       n_classes: int) -> str | None:
    """Why model ``name`` cannot be model B next to model A (None: it can)."""
    if n_classes != a_classes:
        return f"{name} has {n_classes} classes and {a_name} {a_classes}"
    if (task is None) != (a_task is None) or (task is not None and (task.name, task.label_names) !=
                                               (a_task.name, a_task.label_names)):
        what = lambda t: t.folder if t is not None else "an unknown task"  # noqa: E731
        return f"{name} was trained on {what(task)} and {a_name} on {what(a_task)}: their labels do not mean the same"
    return None


def _parent(card: dict) -> str | None:
    init = ((card.get("train") or {}).get("config") or {}).get("init")
    return Path(init).name if init and init not in ("scratch", "minilm") else None


def partners(folder: Path, a_name: str, a_task: Task | None, a_classes: int,
             names: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(the models of ``folder`` that compare with A, natural partners first; [(name, why not)] for the rest).
    A folder that holds no readable model is left out silently: the sidebar says what is wrong with it."""
    a_card = {}
    try:
        a_card = checkpoint.load_card(folder / a_name)
    except CheckpointError:
        pass
    ok, refused, rank = [], [], {}
    for n in names:
        if n == a_name:
            continue
        try:
            cfg, card = checkpoint.read_config(folder / n), checkpoint.load_card(folder / n)
        except CheckpointError:
            continue
        reason = why_not_comparable(a_name, a_task, a_classes, n, card_task(card, cfg.n_classes), cfg.n_classes)
        if reason:
            refused.append((n, reason))
            continue
        slim_of_a = _parent(card) == a_name and bool(card.get("slenderized"))
        rank[n] = 0 if slim_of_a else 1 if _parent(card) == a_name or _parent(a_card) == n else 2
        ok.append(n)
    return sorted(ok, key=lambda n: (rank[n], n)), refused

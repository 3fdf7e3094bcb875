"""Where models are and what a page needs to know about one: the models folder, a loaded model bundle.

``load_bundle(path)`` loads any model directory core.model.checkpoint understands (a native ExitLens model or
an imported Hugging Face one), binarizes its binary layers once for inference (core.model.binary), and reads its
tokenizer, card and task. The app caches bundles; nothing here imports Streamlit.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.data import REPO_ROOT, DataError, Task, get_task
from core.model import CheckpointError, checkpoint, freeze_binarized
from core.run.cache import model_key

MAX_LEN = 128                # tokens per sentence (the dev-set traces of core.run.cache use the same)


def models_dir() -> Path:
    """``$EXITLENS_MODELS_DIR`` (relative paths from the repo root), default assets/models."""
    raw = os.environ.get("EXITLENS_MODELS_DIR", "").strip() or "assets/models"
    p = Path(raw).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def list_models(folder: Path | None = None) -> list[str]:
    """Names of the model directories (those with a config.json) in the models folder, sorted."""
    folder = folder or models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file())


def default_model(names: list[str]) -> str | None:
    """``$EXITLENS_MODEL`` if it is there, else minilm-ee-sst2, else the first."""
    want = os.environ.get("EXITLENS_MODEL", "").strip()
    for cand in (want, "minilm-ee-sst2"):
        if cand and cand in names:
            return cand
    return names[0] if names else None


def card_task(card: dict, n_classes: int) -> Task | None:
    """The task a card says the model was trained on, when it exists and has the model's classes."""
    try:
        task = get_task(card["task"]) if card.get("task") else None
    except DataError:
        return None
    return task if task is not None and task.num_labels == n_classes else None


@dataclass
class ModelBundle:
    """A loaded model and what the pages need to know about it (shared, never mutated)."""

    name: str
    path: Path
    key: str                    # digest of the weights file (core.run.cache.model_key)
    model: torch.nn.Module
    tokenizer: object
    cfg: object                 # core.model.config.ModelConfig (or an imported model's config)
    card: dict
    task: Task | None           # the task the model was trained on (from card.json), if known
    label_names: list[str] = field(default_factory=list)
    trace: object = None        # a core.trace.base.Trace when the bundle is a recorded trace without a model

    @property
    def is_pair(self) -> bool:
        return bool(self.task is not None and self.task.is_pair)

    @property
    def n_blocks(self) -> int:
        return self.cfg.n_blocks

    @property
    def n_classes(self) -> int:
        return self.cfg.n_classes

    @property
    def binarized(self) -> bool:
        return bool(getattr(self.cfg, "binarize", ()))

    @property
    def has_prototypes(self) -> bool:
        return bool(getattr(self.cfg, "proto_dim", 0))

    @property
    def has_lte(self) -> bool:
        return bool(getattr(self.cfg, "lte", False))

    @property
    def max_len(self) -> int:
        return min(MAX_LEN, self.cfg.max_len)


def check_dir(path: str | Path) -> Path:
    """A clear CheckpointError for a directory that is no model, before anything heavy is loaded."""
    p = Path(path).expanduser()
    checkpoint.read_config(p)
    if not (p / "model.safetensors").is_file():
        raise CheckpointError(f"cannot load the model in {p}: model.safetensors is missing. "
                              "Copy the weights file back, or re-train")
    return p


def load_bundle(path: str | Path, name: str | None = None) -> ModelBundle:
    """Load the model directory ``path`` for inference (binary layers frozen) with its tokenizer and card;
    ``name``: what the pages call it (default: the directory's name)."""
    p = check_dir(path)
    model = checkpoint.load(p)
    freeze_binarized(model)                     # inference only: the app never trains the model
    card = checkpoint.load_card(p)
    task = card_task(card, model.cfg.n_classes)
    names = list(task.label_names) if task is not None else [f"class {k}" for k in range(model.cfg.n_classes)]
    return ModelBundle(name or p.name, p.resolve(), model_key(p), model, checkpoint.load_tokenizer(p), model.cfg, card,
                       task, names)

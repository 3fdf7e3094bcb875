"""Resumable training state: latent weights, optimizer state and the position in the run.

Kept in ``<out>/train_state/`` as safetensors + JSON (never pickle), written atomically (each file is
written under a temporary name and renamed into place; ``state.json`` last), so a run killed at any moment
resumes from the last saved step: ``epoch`` finished epochs plus ``batch`` batches of the next one.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_train_state(out: Path, model, opt, epoch: int, step: int, tc, batch: int = 0,
                     history: list[float] | None = None) -> None:
    d = Path(out) / "train_state"
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "latent.safetensors.tmp"))
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v.contiguous() if torch.is_tensor(v) else torch.tensor(v)
               for i, st in sd["state"].items() for k, v in st.items()}
    save_file(tensors, str(d / "optim.safetensors.tmp"))
    groups = [{k: v for k, v in g.items() if k != "params"} | {"params": g["params"]} for g in sd["param_groups"]]
    (d / "state.json.tmp").write_text(json.dumps({"epoch": epoch, "batch": batch, "step": step, "groups": groups,
                                                  "history": (history or [])[-2000:],
                                                  "config": dataclasses.asdict(tc)}, default=list))
    for name in ("latent.safetensors", "optim.safetensors", "state.json"):
        os.replace(d / f"{name}.tmp", d / name)


def has_train_state(out: Path) -> bool:
    return (Path(out) / "train_state" / "state.json").is_file()


def load_train_state(out: Path, model, opt) -> dict:
    """Restore the model and optimizer; returns {"epoch", "batch", "step", "history"}."""
    d = Path(out) / "train_state"
    meta = json.loads((d / "state.json").read_text())
    model.load_state_dict(load_file(str(d / "latent.safetensors")))
    flat = load_file(str(d / "optim.safetensors"))
    state: dict = {}
    for key, v in flat.items():
        i, k = key.split(".", 1)
        state.setdefault(int(i), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["groups"]})
    return {"epoch": meta["epoch"], "batch": meta.get("batch", 0), "step": meta["step"],
            "history": meta.get("history", [])}

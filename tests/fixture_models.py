"""The tiny app models the tests run on: fixed weights in tests/fixtures/models, and the recipe that trains them.

The tests never train these: ``conftest.app_models`` copies the committed folders. They were trained by this
project's own code on real SST-2 and MRPC (a few dozen steps, so that exits spread over blocks); the slow test
``tests/test_fixture_models.py`` trains one again and checks it gives the committed weights. After a change to
the model or the training code that changes them, write them again:

    .venv/bin/python -m tests.fixture_models          # ~20 s, one thread

What is kept of a training run: config.json, model.safetensors, tokenizer.json, card.json and, for the binarized
models, ``train_state/latent.safetensors`` + ``state.json`` (the Weights page shows the latent weights). The
optimizer state is left out.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

FIXTURE_MODELS = Path(__file__).resolve().parent / "fixtures" / "models"
KEEP = ("config.json", "model.safetensors", "tokenizer.json", "card.json",
        "train_state/latent.safetensors", "train_state/state.json")

# name → TrainConfig fields. Four blocks so that patience, what-if thresholds and per-block charts have room.
APP_MODEL_SPECS = {
    "tiny-sst2": dict(task="sst2", limit=3000, max_steps=80, seed=0, overrides={"n_blocks": 4}),
    "tiny-mrpc": dict(task="mrpc", limit=2000, max_steps=50, seed=0, overrides={"n_blocks": 3}),
    "tiny-sst2-bin": dict(task="sst2", limit=3000, max_steps=60, seed=0, binarize=("attention", "ffn"),
                          overrides={"n_blocks": 3}),
    "tiny-sst2-bin-b": dict(task="sst2", limit=3000, max_steps=40, seed=1, binarize=("attention", "ffn"),
                            overrides={"n_blocks": 3}),
}


def train_fixture(name: str, out: Path) -> Path:
    """Train the fixture model ``name`` into ``out`` (a full training run, train_state included)."""
    from core.train import TrainConfig, train

    saved = os.environ.get("EXITLENS_OFFLINE")
    os.environ["EXITLENS_OFFLINE"] = "1"
    try:
        train(TrainConfig(preset="tiny", out=str(out), epochs=1, batch_size=32, lr=3e-3, eval_limit=64,
                          vocab_size=1500, max_len=48, threads=1, **APP_MODEL_SPECS[name]))
    finally:
        if saved is None:
            os.environ.pop("EXITLENS_OFFLINE", None)
        else:
            os.environ["EXITLENS_OFFLINE"] = saved
    return out


def keep(run: Path, dest: Path) -> Path:
    """Copy what the tests use of a training run (:data:`KEEP`) from ``run`` to ``dest``."""
    for rel in KEEP:
        if (run / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run / rel, dest / rel)
    return dest


def main() -> int:
    import torch
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for name in APP_MODEL_SPECS:
            run = train_fixture(name, Path(tmp) / name)
            shutil.rmtree(FIXTURE_MODELS / name, ignore_errors=True)
            keep(run, FIXTURE_MODELS / name)
            print(f"wrote {FIXTURE_MODELS / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

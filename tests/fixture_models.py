"""The tiny models the tests run on: fixed weights in tests/fixtures, and the recipes that train them.

- ``tests/fixtures/models``: the app models (``conftest.app_models`` copies the folder);
- ``tests/fixtures/unit``: a BERT-block model for the early-exit parity tests (trained like the app models) and a
  model trained on the "not" sentences (its label is 0 exactly when "not" is there) for the counterfactual search.

The fast tests never train: they load these. They were trained by this
project's own code on real SST-2 and MRPC (a few dozen steps, so that exits spread over blocks); the slow test
``tests/test_fixture_models.py`` trains one again and checks it gives the committed weights. After a change to
the model or the training code that changes them, write them again:

    .venv/bin/python -m tests.fixture_models          # ~20 s, one thread

What is kept of a training run: config.json, model.safetensors, tokenizer.json, card.json and, for the app models,
``train_state/latent.safetensors`` + ``state.json`` (the Weights page shows a binarized model's latent weights). The
optimizer state is left out.
"""
from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
from pathlib import Path
from unittest import mock

FIXTURE_MODELS = Path(__file__).resolve().parent / "fixtures" / "models"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "card.json")
KEEP = MODEL_FILES + ("train_state/latent.safetensors", "train_state/state.json")

# name → TrainConfig fields. Four blocks so that patience, what-if thresholds and per-block charts have room.
APP_MODEL_SPECS = {
    "tiny-sst2": dict(task="sst2", limit=3000, max_steps=80, seed=0, overrides={"n_blocks": 4}),
    "tiny-mrpc": dict(task="mrpc", limit=2000, max_steps=50, seed=0, overrides={"n_blocks": 3}),
    "tiny-sst2-bin": dict(task="sst2", limit=3000, max_steps=60, seed=0, binarize=("attention", "ffn"),
                          overrides={"n_blocks": 3}),
    "tiny-sst2-bin-b": dict(task="sst2", limit=3000, max_steps=40, seed=1, binarize=("attention", "ffn"),
                            overrides={"n_blocks": 3}),
}
UNIT_MODELS = Path(__file__).resolve().parent / "fixtures" / "unit"
PARITY_MODEL = "tiny-bert-sst2"      # tests/test_parity.py: BERT blocks, exits spread over blocks
NOT_MODEL = "not-slfn"               # tests/test_explain.py: learnt that "not" flips the label

SUBJECTS = ["the film", "this movie", "the story", "the acting", "the plot", "the cast", "the music", "the ending",
            "her performance", "the script"]
ADJECTIVES = ["good", "great", "fun", "funny", "charming", "clever", "moving", "smart", "lovely", "fresh"]


def not_dataset(n=2000, seed=0):
    """'<subject> is [not] <adjective> [.]': the label is 0 exactly when "not" is there."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        neg = rng.random() < 0.5
        t = (f"{rng.choice(SUBJECTS)} {'was' if rng.random() < 0.3 else 'is'} "
             f"{'not ' if neg else ''}{rng.choice(ADJECTIVES)}")
        texts.append(t + (" ." if rng.random() < 0.5 else ""))
        labels.append(0 if neg else 1)
    return texts, labels


def train_not_model(out: Path, steps=60, seed=0) -> Path:
    """A tiny SLFN model trained on the "not" data (60 Adam steps), saved to ``out``."""
    import torch

    from core.model import MultiExitEncoder, checkpoint, encode_batch, preset, train_wordpiece
    from core.train import exit_loss

    torch.manual_seed(seed)
    texts, labels = not_dataset(seed=seed)
    tok = train_wordpiece(texts + ["unbelievably witty , seductive"], vocab_size=80, min_frequency=1)
    model = MultiExitEncoder(preset("tiny", vocab_size=tok.get_vocab_size(), n_blocks=3))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    y = torch.tensor(labels)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(texts), (32,), generator=g)
        enc = encode_batch(tok, [texts[i] for i in idx], max_len=32)
        out_ = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        loss = exit_loss(out_.logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    checkpoint.save(model.eval(), out, tokenizer=tok, card={"task": "not", "recipe": "tests.fixture_models"})
    return out


def train_parity_model(out: Path) -> Path:
    """BERT blocks trained for 60 steps on real SST-2, so that a threshold spreads the exits over blocks."""
    from core.train import TrainConfig, train

    with _offline():
        train(TrainConfig(task="sst2", preset="tiny-bert", out=str(out), epochs=1, batch_size=32, lr=2e-3,
                          limit=2000, eval_limit=64, vocab_size=1500, max_steps=60, max_len=48, threads=1))
    return out


def train_fixture(name: str, out: Path) -> Path:
    """Train the fixture model ``name`` into ``out`` (a full training run, train_state included)."""
    from core.train import TrainConfig, train

    with _offline():
        train(TrainConfig(preset="tiny", out=str(out), epochs=1, batch_size=32, lr=3e-3, eval_limit=64,
                          vocab_size=1500, max_len=48, threads=1, **APP_MODEL_SPECS[name]))
    return out


def _offline():
    return mock.patch.dict(os.environ, {"EXITLENS_OFFLINE": "1"})


def keep(run: Path, dest: Path, files=KEEP) -> Path:
    """Copy what the tests use of a training run (``files``) from ``run`` to ``dest``."""
    for rel in files:
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
        for name, recipe in ((PARITY_MODEL, train_parity_model), (NOT_MODEL, train_not_model)):
            run = recipe(Path(tmp) / name)
            shutil.rmtree(UNIT_MODELS / name, ignore_errors=True)
            keep(run, UNIT_MODELS / name, MODEL_FILES)
            print(f"wrote {UNIT_MODELS / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

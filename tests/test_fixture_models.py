"""The tiny models the tests run on are committed weights (tests/fixtures). Their recipe
(tests/fixture_models.py) still trains, through this project's own code, models like them: the same config and
shapes, and the same dev score per exit within the noise of the 64 rows a card scores. (Not the same bits: the
WordPiece trainer breaks frequency ties in a different order from run to run, so the vocabulary ids, and with them
every weight, move.)"""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.model import checkpoint
from core.run import record
from tests.fixture_models import (
    APP_MODEL_SPECS,
    FIXTURE_MODELS,
    NOT_MODEL,
    PARITY_MODEL,
    UNIT_MODELS,
    not_dataset,
    train_fixture,
    train_not_model,
    train_parity_model,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(APP_MODEL_SPECS))
def test_the_recipe_trains_a_model_like_the_committed_fixture(name, tmp_path):
    torch.set_num_threads(1)
    run = train_fixture(name, tmp_path / name)
    want, got = load_file(FIXTURE_MODELS / name / "model.safetensors"), load_file(run / "model.safetensors")
    assert {k: tuple(v.shape) for k, v in got.items()} == {k: tuple(v.shape) for k, v in want.items()}
    assert (run / "config.json").read_text() == (FIXTURE_MODELS / name / "config.json").read_text()
    card_want = json.loads((FIXTURE_MODELS / name / "card.json").read_text())
    card_got = json.loads((run / "card.json").read_text())
    assert {**card_got["train"]["config"], "out": ""} == {**card_want["train"]["config"], "out": ""}
    # the cards score 64 dev rows: one exit's score moves by ±0.06 (one standard error) between vocabularies
    assert card_got["dev_per_exit"] == pytest.approx(card_want["dev_per_exit"], abs=0.2)


def test_the_parity_recipe_trains_a_model_like_the_committed_one(tmp_path):
    torch.set_num_threads(1)
    run = train_parity_model(tmp_path / PARITY_MODEL)
    assert (run / "config.json").read_text() == (UNIT_MODELS / PARITY_MODEL / "config.json").read_text()
    want = json.loads((UNIT_MODELS / PARITY_MODEL / "card.json").read_text())["dev_per_exit"]
    assert json.loads((run / "card.json").read_text())["dev_per_exit"] == pytest.approx(want, abs=0.2)


def test_the_not_recipe_learns_that_not_flips_the_label_like_the_committed_model(tmp_path):
    """What tests/test_explain.py relies on: the last exit says 0 exactly when "not" is there."""
    torch.set_num_threads(1)
    texts, labels = not_dataset(200, seed=7)
    for where in (train_not_model(tmp_path / NOT_MODEL), UNIT_MODELS / NOT_MODEL):
        model, tok = checkpoint.load(where), checkpoint.load_tokenizer(where)
        preds = record(model, tok, texts).preds[:, -1]
        assert (preds == np.asarray(labels)).mean() > 0.95, where

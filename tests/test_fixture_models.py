"""The tiny app models the tests run on are committed weights (tests/fixtures/models). Their recipe
(tests/fixture_models.py) still trains, through this project's own code, models like them: the same config and
shapes, and the same dev score per exit within the noise of the 64 rows a card scores. (Not the same bits: the
WordPiece trainer breaks frequency ties in a different order from run to run, so the vocabulary ids, and with them
every weight, move.)"""
import json

import pytest
import torch
from safetensors.torch import load_file

from tests.fixture_models import APP_MODEL_SPECS, FIXTURE_MODELS, train_fixture

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

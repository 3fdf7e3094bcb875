"""Every page on an imported decoder classifier (issue 19): a tiny random Llama classifier, imported with its own
head on every layer, opened through the checkpoint field — the Playground answers and draws its attention as causal,
the Learn page says what a logit-lens exit is, and the dataset pages run."""
import pytest
import torch

from core.data import load_task
from core.hf import import_model
from tests.conftest import build_decoder_source

PAGES = ("thresholds", "prototypes", "compare", "slices", "weights")


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("llama")
    texts = list(load_task("sst2", "train", limit=300)["text"])
    src = build_decoder_source("llama", d / "src", texts, "left")
    return import_model(src, "sst2", d / "out", limit=64, max_len=64).out


def _open(make_app, path, page=None, **query):
    at = make_app(page=page, run=False, limit=64, **query)
    at.run()
    at.sidebar.text_input(key="sb_ckpt").input(str(path)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_playground_answers_and_draws_causal_attention(make_app, decoder_dir):
    at = _open(make_app, decoder_dir)
    assert any(m.label == "exit block" and m.value.endswith("of 3") for m in at.metric)
    assert any("A decoder: each token sees only itself" in c.value for c in at.caption)


def test_the_learn_page_says_what_a_logit_lens_exit_is(make_app, decoder_dir):
    at = _open(make_app, decoder_dir, page="learn")
    assert any("logit-lens exits" in i.value for i in at.info)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_the_dataset_pages_run_on_a_decoder(make_app, decoder_dir, page):
    at = _open(make_app, decoder_dir, page=page)
    assert not at.error, [e.value for e in at.error]
    assert any("3 exits" in c.value or "3 blocks" in c.value for c in at.sidebar.caption), \
        [c.value for c in at.sidebar.caption]                             # the decoder is the model shown
    if page in ("thresholds", "prototypes"):
        assert at.metric, page

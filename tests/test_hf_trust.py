"""An import you can trust (issue 19): a fingerprint of the source's config and weights, so that a folder overwritten
with another model — even one of the same shapes — is imported again; no hub is asked when offline; a K-class model
can be fitted on rows given directly (an uploaded CSV) when no K-class task has local data."""
import socket

import numpy as np
import pytest
import torch

from core.data import load_task
from core.hf import HFModelError, import_model, inspect_source, source_fingerprint
from core.model import checkpoint
from tests.conftest import HF_MAX_LEN, build_source, tiny_config


@pytest.fixture(scope="module")
def sentences():
    return list(load_task("sst2", "train", limit=300)["text"])


def test_the_fingerprint_follows_the_weights_not_the_path(sentences, tmp_path):
    import transformers as T

    src = build_source("bert", tmp_path / "src", sentences)
    first = source_fingerprint(src)
    assert first == source_fingerprint(src) and len(first) == 64
    torch.manual_seed(1)                     # the same architecture, other weights, written over the same folder
    T.AutoModelForSequenceClassification.from_config(tiny_config("bert", 400)).save_pretrained(src)
    assert source_fingerprint(src) != first


@pytest.fixture
def no_network(monkeypatch):
    """Offline, and any attempt to open a connection is recorded (and refused)."""
    tries = []

    def refuse(self, address, *a, **k):
        tries.append(address)
        raise OSError("network is unreachable (test)")

    monkeypatch.setenv("EXITLENS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return tries


def test_offline_nothing_asks_a_hub(sentences, tmp_path, no_network):
    with pytest.raises(HFModelError, match="not a local folder, and ExitLens is offline"):
        inspect_source("some-org/some-model")
    src = build_source("roberta", tmp_path / "src", sentences)
    res = import_model(src, "sst2", tmp_path / "out", limit=32, max_len=HF_MAX_LEN)
    assert res.card["source_fingerprint"] == source_fingerprint(src)
    assert no_network == []                                           # not one connection was tried


def test_a_three_class_model_is_fitted_on_given_rows(sentences, tmp_path, no_network):
    """MNLI has no local data here: the rows of an uploaded CSV stand in for its fit split."""
    import transformers as T

    from core.data import available_splits
    from tests.conftest import tiny_tokenizer

    assert "train" not in available_splits("mnli")
    torch.manual_seed(0)
    tok = tiny_tokenizer("bert", sentences)
    T.AutoModelForSequenceClassification.from_config(tiny_config("bert", len(tok)).__class__(
        **{**tiny_config("bert", len(tok)).to_dict(), "num_labels": 3})).save_pretrained(tmp_path / "src")
    tok.save_pretrained(tmp_path / "src")
    labels = np.arange(90) % 3
    res = import_model(tmp_path / "src", "mnli", tmp_path / "out", exits="probe", max_len=HF_MAX_LEN,
                       rows=(sentences[:90], None, labels))
    assert res.fit_rows == 90 and res.card["import"]["fit_split"].startswith("the rows given")
    model = checkpoint.load(res.out)
    assert model.cfg.n_classes == 3 and model.cfg.exit_heads == ["probe", "probe", "own"]
    assert no_network == []

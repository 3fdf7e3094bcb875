"""The app's import of a Hugging Face folder, as a user met it (issue 19): a folder overwritten with another model is
imported again (the import is keyed by the source's fingerprint), with a re-import control and a choice of own-head
or probe exits; a K-class model is offered only the K-class tasks whose data is here (else a CSV upload), with no
hub asked; a failure is shown open, with its reason and what to do."""
import socket

import pytest
import torch

from core.data import load_task
from tests.conftest import build_source, tiny_config, tiny_tokenizer


@pytest.fixture(scope="module")
def sentences():
    return list(load_task("sst2", "train", limit=300)["text"])


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """EXITLENS_OFFLINE=1 and a cache of our own; any connection the server tries is recorded and refused."""
    tries = []

    def refuse(self, address, *a, **k):
        tries.append(address)
        raise OSError("network is unreachable (test)")

    monkeypatch.setenv("EXITLENS_OFFLINE", "1")
    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return tries


def _three_class(src, sentences):
    import transformers as T

    torch.manual_seed(0)
    tok = tiny_tokenizer("bert", sentences)
    cfg = tiny_config("bert", len(tok))
    T.AutoModelForSequenceClassification.from_config(cfg.__class__(**{**cfg.to_dict(), "num_labels": 3})) \
        .save_pretrained(src)
    tok.save_pretrained(src)
    return src


def _open(make_app, src):
    at = make_app()
    at.sidebar.text_input(key="sb_ckpt").input(str(src)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _buttons(at) -> list[str]:
    return [b.label for b in at.sidebar.button]


def test_a_three_class_model_is_offered_only_tasks_with_data_and_no_hub_is_asked(make_app, sentences, tmp_path,
                                                                                   offline):
    at = _open(make_app, _three_class(tmp_path / "nli", sentences))
    assert not [s for s in at.sidebar.selectbox if s.key == "byo_task"]             # MNLI has no local data here
    warns = [w.value for w in at.sidebar.warning]
    assert any("No task with 3 classes has local training data" in w and "upload a labelled CSV" in w for w in warns)
    assert "byo_csv" in [u.key for u in at.sidebar.get("file_uploader")]
    assert offline == []                                                             # not one connection tried


def test_an_import_failure_is_shown_open_with_what_to_do(make_app, sentences, tmp_path, offline):
    at = _open(make_app, build_source("bert", tmp_path / "bert", sentences))
    assert [s.options for s in at.sidebar.selectbox if s.key == "byo_task"][0]      # 2-class tasks with data
    at.sidebar.number_input(key="byo_limit").set_value(1).run()
    next(b for b in at.sidebar.button if b.label == "import").click().run()
    assert not at.exception
    errs = [e.value for e in at.sidebar.error]
    assert len(errs) == 1 and errs[0].startswith("**Import failed**: limit must be at least 2 fit rows"), errs
    assert "**What to do**: Pass a larger" in errs[0]
    assert offline == []


@pytest.mark.slow
def test_an_overwritten_folder_is_imported_again_and_exits_can_be_switched(make_app, sentences, tmp_path, offline):
    import transformers as T

    src = build_source("bert", tmp_path / "bert", sentences)
    at = _open(make_app, src)
    at.sidebar.number_input(key="byo_limit").set_value(64).run()
    next(b for b in at.sidebar.button if b.label == "import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("imported from the Hugging Face folder" in c.value for c in at.sidebar.caption)
    at.run()
    assert "re-import" in _buttons(at) and "import" not in _buttons(at)               # imported, kept
    first = next(m.value for m in at.sidebar.markdown if "fingerprint" in m.value)
    torch.manual_seed(1)                       # the same folder, overwritten with another model of the same shapes
    T.AutoModelForSequenceClassification.from_config(tiny_config("bert", 400)).save_pretrained(src)
    at.run()
    assert "import" in _buttons(at) and "re-import" not in _buttons(at)               # not the stale import
    assert next(m.value for m in at.sidebar.markdown if "fingerprint" in m.value) != first
    at.sidebar.radio(key="byo_exits").set_value("probe").run()                         # probe exits: a new import
    assert "import" in _buttons(at)
    next(b for b in at.sidebar.button if b.label == "import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("imported from the Hugging Face folder" in c.value for c in at.sidebar.caption)
    at.run()
    next(b for b in at.sidebar.button if b.label == "re-import").click().run()          # the control: import again
    assert "import" in _buttons(at)
    assert offline == []

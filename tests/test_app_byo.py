"""Bring your own, in the app: a trace written by a script that knows nothing of ExitLens opens without any model
and the dataset pages compute on it; the model pages say plainly that a trace alone cannot run them; a Hugging
Face folder typed into the checkpoint field is imported with progress and then runs like a shipped model."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.analysis import cost, metric
from core.policies import decide, make_policy
from core.trace import read_trace
from tests.conftest import build_source, metric_value


@pytest.fixture
def foreign_trace(tmp_path):
    """A 3-exit, 3-class trace as another framework would dump it: plain numpy + pyarrow."""
    rng = np.random.default_rng(7)
    n, n_exits, k = 240, 3, 3
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, n_exits, k))
    logits[np.arange(n), :, labels] += np.linspace(0.5, 2.5, n_exits)       # deeper exits are surer and righter
    table = pa.table({"logits": [x.tolist() for x in logits], "label": labels.tolist(),
                      "text": [f"image {i}" for i in range(n)]})
    table = table.replace_schema_metadata({"exitlens": json.dumps({"flops_per_block": [3.0, 2.0, 2.0],
                                                                   "label_names": ["cat", "dog", "bird"]})})
    path = tmp_path / "vision-sdn.parquet"
    pq.write_table(table, path)
    return path


def _open_trace(make_app, path, page=None, **query):
    at = make_app(page=page, **query)
    at.sidebar.radio(key="sb_open").set_value("trace").run()
    at.sidebar.text_input(key="byo_trace_path").input(str(path)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_foreign_trace_opens_in_the_threshold_debugger(make_app, foreign_trace):
    at = _open_trace(make_app, foreign_trace, page="thresholds", policy="maxprob", threshold="0.7")
    assert not at.error
    tr = read_trace(foreign_trace)
    ex = decide(make_policy("maxprob", threshold=0.7), tr)
    assert metric_value(at, "samples") == "240"
    assert metric_value(at, "accuracy") == f"{metric('accuracy', tr.labels, ex.pred):.4f}"
    assert metric_value(at, "layer speed-up L/ℓ̄") == f"{cost(tr, ex).layer_speedup:.3f}×"
    assert any("3 exits · 3 classes · 240 samples" in c.value for c in at.sidebar.caption)
    assert "model" not in at.query_params                                       # no model in the shared URL


def test_model_pages_say_a_trace_alone_cannot_run_them(make_app, foreign_trace):
    at = _open_trace(make_app, foreign_trace)                                   # the Playground
    assert any("A recorded trace alone cannot type sentences" in i.value for i in at.info)
    at.switch_page("views/prototypes.py").run()                                 # a dataset page works
    assert not at.exception and any(m.label == "oracle accuracy" for m in at.metric)


def test_a_broken_trace_says_what_is_wrong(make_app, tmp_path):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"scores": [[0.1, 0.9]]}), bad)
    at = _open_trace(make_app, bad)
    assert any("no 'logits' column" in e.value for e in at.sidebar.error)


@pytest.mark.slow
def test_a_hugging_face_folder_is_imported_from_the_checkpoint_field(make_app, tmp_path, monkeypatch):
    from core.data import load_task
    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "cache"))
    src = build_source("bert", tmp_path / "hf-bert", list(load_task("sst2", "train", limit=300)["text"]))
    at = make_app()
    at.sidebar.text_input(key="sb_ckpt").input(str(src)).run()
    assert not at.exception
    assert any("Hugging Face bert classifier" in m.value for m in at.sidebar.markdown)
    at.sidebar.number_input(key="byo_limit").set_value(200).run()
    next(b for b in at.sidebar.button if b.label == "import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("imported from the Hugging Face folder" in c.value for c in at.sidebar.caption)
    assert any(m.label == "exit block" and m.value.endswith("of 3") for m in at.metric)    # 3 layers, 3 exits


def test_a_trace_store_folder_opens_like_a_trace_file(make_app, foreign_trace, tmp_path):
    """A store written by `core.inference record --out` (out of core, Parquet parts) typed as a path."""
    from core.trace import save_store
    tr = read_trace(foreign_trace)
    folder = tmp_path / "vision.store"
    save_store(tr, folder, chunk_rows=50)
    assert read_trace(folder).n == tr.n                                          # core reads the folder whole
    at = _open_trace(make_app, folder, page="thresholds", policy="maxprob", threshold="0.7")
    assert not at.error
    ex = decide(make_policy("maxprob", threshold=0.7), tr)
    assert metric_value(at, "samples") == "240"
    assert metric_value(at, "accuracy") == f"{metric('accuracy', tr.labels, ex.pred):.4f}"


def test_a_missing_trace_path_says_what_it_accepts(make_app, tmp_path):
    at = _open_trace(make_app, tmp_path / "nowhere.parquet")
    assert any("or of a store folder" in e.value for e in at.sidebar.error)


def test_certifying_on_a_trace_warns_about_the_trace_not_a_model_card(make_app, foreign_trace):
    at = _open_trace(make_app, foreign_trace, page="thresholds", policy="maxprob")
    warns = [w.value for w in at.warning]
    assert any("a recorded trace does not say what its model was trained on" in w.lower() for w in warns)
    assert not any("model card" in w for w in warns)

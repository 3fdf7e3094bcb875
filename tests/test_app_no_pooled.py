"""A trace without the optional `pooled` column gets no map of points all at (0, 0) on the Prototypes page, but
a sentence that says why (issue 20, item 11); with pooled states the map is drawn."""
import numpy as np

from core.trace import Trace
from core.trace_io import write_parquet
from tests.conftest import trace_of


def _trace(n=120, seed=0) -> Trace:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    logits = rng.normal(size=(n, 3, 2)).astype(np.float32) + 2 * np.eye(2)[labels][:, None]
    return trace_of(logits, labels, pooled=rng.normal(size=(n, 3, 8)).astype(np.float32),
                    texts=[f"sample {i}" for i in range(n)], meta={"label_names": ["neg", "pos"]})


def _open(make_app, path):
    at = make_app(page="prototypes")
    at.sidebar.radio(key="sb_open").set_value("trace").run()
    at.sidebar.text_input(key="byo_trace_path").input(str(path)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _map(at):
    return [c for c in at.get("plotly_chart") if c.key in ("pt_scatter", "pt_preview")]


def test_no_pooled_column_no_map_and_a_reason(make_app, tmp_path):
    path = write_parquet(_trace(), tmp_path / "no-pooled.parquet", pooled=False)
    at = _open(make_app, path)
    said = [i.value for i in at.info if i.value.startswith("No map at block")]
    assert len(said) == 1 and "no `pooled` column" in said[0]
    assert _map(at) == []
    assert any(m.label == "oracle accuracy" for m in at.metric)          # the rest of the page still works


def test_with_pooled_states_the_map_is_drawn(make_app, tmp_path):
    path = write_parquet(_trace(), tmp_path / "pooled.parquet", pooled=True)
    at = _open(make_app, path)
    assert not [i for i in at.info if i.value.startswith("No map at block")]
    assert len(_map(at)) == 1

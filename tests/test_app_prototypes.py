"""The Prototypes & overthinking page through AppTest (PCA; one test runs UMAP on a small set)."""
import numpy as np
import pytest

from core.analysis import destructive_overthinking, oracle_accuracy, preds_path, wasteful_overthinking
from core.run import cache_dir
from tests.conftest import metric_value


def _table(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_overthinking_numbers_equal_core(make_app, dev_trace):
    at = make_app(page="prototypes")
    d, w = destructive_overthinking(dev_trace), wasteful_overthinking(dev_trace)
    assert metric_value(at, "destructive overthinking") == f"{d.count:,}"
    assert metric_value(at, "wasteful overthinking") == f"{w.count:,}"
    assert metric_value(at, "oracle accuracy") == f"{float(oracle_accuracy(dev_trace)):.4f}"
    assert metric_value(at, "final-exit accuracy") == f"{dev_trace.correct[:, -1].mean():.4f}"


def test_cohort_lists_samples_and_opens_one(make_app, dev_trace):
    at = make_app(page="prototypes", policy="entropy", threshold="0.5")
    at.selectbox(key="pt_list").set_value("wrong").run()
    wrong = np.flatnonzero(~dev_trace.correct[:, -1])
    table = _table(at, "prediction per block")
    assert table["sample"].tolist() == wrong[:500].tolist()
    i = int(wrong[min(3, len(wrong) - 1)])
    at.selectbox(key="pt_open").set_value(i).run()
    assert not at.exception
    assert any(dev_trace.texts[i] in t.value for t in at.text)
    assert any(preds_path(dev_trace, i) in c.value for c in at.caption)


def test_block_slider_colour_and_url(make_app, dev_trace):
    at = make_app(page="prototypes", block="2", color="label")
    assert at.slider(key="pt_block").value == 2
    assert at.selectbox(key="pt_color").value == "label"
    at.slider(key="pt_block").set_value(1).run()
    at.selectbox(key="pt_color").set_value("exit").run()
    assert not at.exception
    assert at.query_params["block"] == "1" and at.query_params["color"] == "exit"
    assert at.button_group(key="pt_method").options == ["PCA"]          # UMAP is off in these tests


def test_bad_block_in_url_is_clamped(make_app):
    at = make_app(page="prototypes", block="40")
    assert at.slider(key="pt_block").value == 4
    assert any("clamped" in w.value for w in at.warning)


@pytest.mark.slow
def test_umap_projection_is_computed_once_and_cached_on_disk(make_app, monkeypatch):
    """The one test that runs UMAP (on 120 samples): memory and disk caches, prototypes in the same map."""
    monkeypatch.setenv("EXITLENS_PROJECTION", "umap")
    at = make_app(page="prototypes", limit="120", method="UMAP", block="3")
    assert not at.exception
    assert at.button_group(key="pt_method").value == "UMAP"
    files = list((cache_dir() / "projections").glob("*-b2-UMAP-120.npz"))
    assert len(files) == 1
    with np.load(files[0]) as z:
        assert z["xy"].shape == (120, 2) and z["proto"].shape == (2, 2)
        assert np.isfinite(z["xy"]).all()
    mtime = files[0].stat().st_mtime_ns
    at.run()                                   # cached: not recomputed, not rewritten
    assert files[0].stat().st_mtime_ns == mtime

"""The shipped models open the Threshold debugger (and the Prototypes page) within a few seconds on a fresh machine
(issue 20, item 7): their dev and calibration traces ship in assets/traces, so nothing is recorded — ≤ 5 s after
the model is loaded."""
import time

import pytest

from tests.conftest import APP


@pytest.mark.slow
def test_threshold_debugger_opens_cold_from_the_shipped_traces(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.run import list_models
    from core.run.shipped import _index
    assert _index(), "assets/traces holds no shipped traces: python -m core.cli.ship_traces assets/models/*"
    cache = tmp_path / "fresh-cache"
    monkeypatch.setenv("EXITLENS_CACHE", str(cache))          # a fresh machine: an empty trace cache
    monkeypatch.delenv("EXITLENS_MODELS_DIR", raising=False)   # the shipped models
    monkeypatch.setenv("EXITLENS_OFFLINE", "1")
    monkeypatch.setenv("EXITLENS_PROJECTION", "pca")
    took = {}
    for model in list_models():
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params["model"] = model
        at.query_params["topic"] = "policies"
        at.switch_page("views/learn.py")
        at.run()                                               # the model is loaded here
        assert not at.exception, [e.value for e in at.exception]
        for page, metric in (("thresholds", "samples"), ("prototypes", "oracle accuracy")):
            t0 = time.perf_counter()
            at.switch_page(f"views/{page}.py").run()
            took[model, page] = time.perf_counter() - t0
            assert not at.exception and not at.error, [e.value for e in list(at.exception) + list(at.error)]
            assert any(m.label == metric for m in at.metric), page
    assert not list((cache / "traces").glob("*.npz")), "a trace was recorded instead of read from assets/traces"
    assert max(took.values()) <= 5.0, took

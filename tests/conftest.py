"""Shared fixtures. Add fixtures here; do not change the existing ones' behaviour (other test files use them).

``app_models``: a folder of tiny models trained for a few dozen steps on real SST-2 and MRPC (so their
exits are spread over blocks), used by the app tests through ``EXITLENS_MODELS_DIR`` — the tests never
depend on the shipped models in assets/models.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)     # small ops on a busy 2-core machine are many times faster single-threaded
try:                          # numpy's BLAS as well (see app.state)
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1, user_api="blas")
except Exception:
    pass

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app" / "streamlit_app.py")

# name → TrainConfig fields. Four blocks so that patience, what-if thresholds and per-block charts have room.
APP_MODEL_SPECS = {
    "tiny-sst2": dict(task="sst2", limit=3000, max_steps=80, seed=0, overrides={"n_blocks": 4}),
    "tiny-mrpc": dict(task="mrpc", limit=2000, max_steps=50, seed=0, overrides={"n_blocks": 3}),
    "tiny-sst2-bin": dict(task="sst2", limit=3000, max_steps=60, seed=0, binarize=("attention", "ffn"),
                          overrides={"n_blocks": 3}),
    "tiny-sst2-bin-b": dict(task="sst2", limit=3000, max_steps=40, seed=1, binarize=("attention", "ffn"),
                            overrides={"n_blocks": 3}),
}


@pytest.fixture(scope="session")
def app_models(tmp_path_factory) -> Path:
    """A models folder with tiny trained models (see APP_MODEL_SPECS) and a trace cache next to it."""
    from core.train import TrainConfig, train

    root = tmp_path_factory.mktemp("app")
    models = root / "models"
    saved = {k: os.environ.get(k) for k in ("EXITLENS_OFFLINE",)}
    os.environ["EXITLENS_OFFLINE"] = "1"
    try:
        for name, spec in APP_MODEL_SPECS.items():
            train(TrainConfig(preset="tiny", out=str(models / name), epochs=1, batch_size=32, lr=3e-3,
                              eval_limit=64, vocab_size=1500, max_len=48, threads=1, **spec))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return models


@pytest.fixture
def app_env(app_models, monkeypatch, tmp_path_factory):
    """Environment for an app test: the fixture models, a session-wide trace cache, PCA only, offline."""
    cache = app_models.parent / "cache"
    monkeypatch.setenv("EXITLENS_MODELS_DIR", str(app_models))
    monkeypatch.setenv("EXITLENS_MODEL", "tiny-sst2")
    monkeypatch.setenv("EXITLENS_CACHE", str(cache))
    monkeypatch.setenv("EXITLENS_PROJECTION", "pca")
    monkeypatch.setenv("EXITLENS_OFFLINE", "1")
    return app_models


@pytest.fixture
def make_app(app_env):
    """``make_app(page="thresholds", limit=200, policy="maxprob")`` → an AppTest that has run that page
    with those query parameters, and raised nothing."""
    from streamlit.testing.v1 import AppTest

    def make(page: str | None = None, run: bool = True, **query):
        at = AppTest.from_file(APP, default_timeout=90)
        for k, v in query.items():
            at.query_params[k] = str(v)
        if page is not None:          # open that page first, as its URL (/thresholds?…) would
            at.switch_page(f"views/{page}.py")
        if run:
            at.run()
            assert not at.exception, [e.value for e in at.exception]
        return at

    return make


@pytest.fixture
def dev_trace(app_env):
    """The tiny SST-2 model's dev-set Trace, as the Threshold debugger and Prototypes pages record it."""
    from core.cache import trace_for

    return trace_for(app_env / "tiny-sst2", "sst2", "validation", limit=1000)

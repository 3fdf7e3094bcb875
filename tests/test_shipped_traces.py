"""Traces shipped with the models (core.run.shipped): slim, found under their cache names, used only for the
exact weights, and read by core.run.cache.trace_for instead of recording (issue 20, item 7)."""
import numpy as np
import pytest

from core.run import RECORDER_VERSION
from core.run import shipped as S
from core.trace import Trace
from tests.conftest import random_trace


def _trace(n=50, proto=True, split="validation") -> Trace:
    return random_trace(n, 3, 2, 0, flops=np.ones(3), scale=1.0, embed_dim=4 if proto else 0, pooled_dim=16,
                        texts=[f"t{i}" for i in range(n)], meta={"split": split})


def test_slim_keeps_what_the_pages_read():
    dev = S.slim(_trace(), "validation")
    assert dev.pooled.shape[-1] == 1 and dev.proto_emb is not None            # the map draws prototype space
    assert S.slim(_trace(proto=False), "validation").pooled.shape[-1] == 16    # no stand-in: pooled kept
    cal = S.slim(_trace(), "calibration")
    assert cal.proto_emb is None and cal.pooled.shape[-1] == 1
    full = _trace()
    assert np.array_equal(cal.logits, full.logits) and np.array_equal(cal.proto_dist, full.proto_dist)


def test_a_shipped_trace_is_found_by_its_cache_name(tmp_path):
    tr = S.slim(_trace(n=50), "validation")
    path = tr.save(tmp_path / "m-abc-sst2-validation-all-r1.npz")
    S.add_to_index(path, tr, tmp_path)
    all_name = path.name
    assert S.shipped_name(all_name, all_name, None, tmp_path) == all_name
    assert S.shipped_name("m-abc-sst2-validation-1000-r1.npz", all_name, 1000, tmp_path) == all_name  # 50 ≤ 1000
    assert S.shipped_name("m-abc-sst2-validation-20-r1.npz", all_name, 20, tmp_path) is None          # 20 < 50
    assert S.shipped_name("m-OTHERWEIGHTS-sst2-validation-all-r1.npz", "m-OTHERWEIGHTS-sst2-validation-all-r1.npz",
                          None, tmp_path) is None
    got = S.shipped_trace(all_name, all_name, None, tmp_path)
    assert got is not None and np.array_equal(got.logits, tr.logits)
    path.write_bytes(b"damaged")
    assert S.shipped_trace(all_name, all_name, None, tmp_path) is None                # damaged: record instead


def test_trace_for_reads_a_shipped_trace_without_recording(app_env, tmp_path, monkeypatch):
    from core.run import cache
    model = app_env / "tiny-sst2"
    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "fresh-cache"))
    name = S.shipped_file(model, "sst2", "calibration", RECORDER_VERSION)
    tr = S.slim(_trace(n=30), "calibration")
    S.add_to_index(tr.save(tmp_path / name), tr, tmp_path)
    monkeypatch.setattr(S, "SHIPPED", tmp_path)
    monkeypatch.setattr("core.checkpoint.load", lambda *a, **k: pytest.fail("recorded instead of reading"))
    got = cache.trace_for(model, "sst2", "calibration")
    assert got.n == 30 and np.array_equal(got.logits, tr.logits)


def test_the_shipped_folder_holds_every_shipped_model_and_stays_small():
    from core.data import REPO_ROOT
    from core.run import list_models, models_dir
    index = S._index()
    assert index, "assets/traces holds no shipped traces: python -m core.cli.ship_traces assets/models/*"
    for m in list_models():
        for split in ("validation", "calibration"):
            names = [n for n in index if n.startswith(f"{m}-") and f"-{split}-" in n]
            assert names, (m, split)
            assert any(n == S.shipped_file(models_dir() / m, _task(n), split, RECORDER_VERSION)
                       for n in names), (m, split, names)
    size = sum(f.stat().st_size for f in (REPO_ROOT / "assets").rglob("*") if f.is_file())
    assert size <= 90 * 2**20, f"assets/ is {size / 2**20:.1f} MiB"


def _task(name: str) -> str:
    """The task in a cache name "<model>-<digest>-<task>-<split>-<limit>-r<v>.npz"."""
    return name.rsplit("-", 4)[-4]


def test_the_shipped_name_is_the_weights_content_not_their_path_or_time(app_env, tmp_path):
    """A fresh clone has other paths and file times than the machine that shipped the traces: the name must not
    change with them, and must change with the weights."""
    import os
    import shutil

    a = app_env / "tiny-sst2"
    b = tmp_path / "elsewhere" / "tiny-sst2"
    shutil.copytree(a, b)
    os.utime(b / "model.safetensors", (1, 1))                       # another time, another folder
    assert S.shipped_file(a, "sst2", "validation", "1") == S.shipped_file(b, "sst2", "validation", "1")
    data = bytearray((b / "model.safetensors").read_bytes())
    data[-1] ^= 1                                                   # one bit of the weights
    (b / "model.safetensors").write_bytes(bytes(data))
    assert S.shipped_file(a, "sst2", "validation", "1") != S.shipped_file(b, "sst2", "validation", "1")


def test_every_shipped_model_has_its_whole_splits_shipped_and_the_app_sees_them(monkeypatch, tmp_path):
    """What the app asks before it shows "Recording…": a shipped model's dev and calibration splits are served by
    the shipped traces (also for a limit at least the split's size), with an empty cache."""
    from app.selection import DataChoice
    from app.state import is_recorded
    from core.model import checkpoint
    from core.run import list_models, load_bundle, models_dir

    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "empty-cache"))
    index = S._index()
    assert index, "no traces shipped"
    for m in list_models():
        task = checkpoint.load_card(models_dir() / m)["task"]
        for split in ("validation", "calibration"):
            name = S.shipped_for(models_dir() / m, task, split, None, RECORDER_VERSION)
            assert name is not None, (m, split)
            n = index[name]["n"]
            assert S.shipped_for(models_dir() / m, task, split, n, RECORDER_VERSION) == name
            assert S.shipped_for(models_dir() / m, task, split, n - 1, RECORDER_VERSION) is None
        b = load_bundle(models_dir() / m)
        assert is_recorded(b, DataChoice("glue", task, "validation", None))

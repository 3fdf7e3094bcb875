"""What the app's state wraps, without a running page: the models folder (core.run.bundle), frozen binary weights
(core.model.binary), the projection cache (core.analysis.projection)."""
import numpy as np

from core.analysis import projection
from core.data import load_task
from core.model import checkpoint, freeze_binarized
from core.policies import decide, make_policy
from core.run import bundle, early_exit, record


def test_models_folder_and_default(app_env, monkeypatch):
    names = bundle.list_models()
    assert names == sorted(["tiny-sst2", "tiny-mrpc", "tiny-sst2-bin", "tiny-sst2-bin-b"])
    assert bundle.default_model(names) == "tiny-sst2"                   # EXITLENS_MODEL
    monkeypatch.setenv("EXITLENS_MODEL", "")
    assert bundle.default_model(names) == "tiny-mrpc"                   # no minilm-ee-sst2 here: the first
    assert bundle.default_model(names + ["minilm-ee-sst2"]) == "minilm-ee-sst2"
    monkeypatch.setenv("EXITLENS_MODELS_DIR", "assets/models")
    assert bundle.models_dir() == bundle.REPO_ROOT / "assets" / "models"


def test_frozen_binary_weights_give_the_same_trace_bit_for_bit(app_env):
    d = app_env / "tiny-sst2-bin"
    ref, fast, tok = checkpoint.load(d), checkpoint.load(d), checkpoint.load_tokenizer(d)
    assert freeze_binarized(fast) == sum(1 for _ in ref.modules() if type(_).__name__ == "BinaryLinear")
    texts = list(load_task("sst2", "validation", limit=64)["text"])
    a, b = record(fast, tok, texts, batch_size=1), record(ref, tok, texts, batch_size=1)
    assert np.array_equal(a.logits, b.logits) and np.array_equal(a.proto_dist, b.proto_dist)
    pol = make_policy("maxprob", threshold=0.6)
    assert np.array_equal(early_exit(fast, tok, pol, texts).exit_block, decide(pol, b).exit_block)
    # the weights themselves are untouched (core.model.weights reads them)
    for (n, p), (_, q) in zip(fast.state_dict().items(), ref.state_dict().items()):
        assert np.array_equal(p.numpy(), q.numpy()), n
    assert freeze_binarized(checkpoint.load(app_env / "tiny-sst2")) == 0


def test_projection_is_written_atomically_and_reused(app_env):
    from core.run import trace_for
    tr = trace_for(app_env / "tiny-sst2", "sst2", "validation", limit=80)
    path = projection.projection_path("unit-test", 1, "PCA", tr.n)
    path.unlink(missing_ok=True)
    xy, pxy = projection.project(tr, "unit-test", 1, "PCA")
    assert path.is_file() and not list(path.parent.glob(".tmp-*")) and projection.is_cached("unit-test", 1, "PCA", tr.n)
    want, pwant = projection.pca_2d(*projection.embeddings_at(tr, 1)[:2])
    assert np.allclose(xy, want) and np.allclose(pxy, pwant)
    np.savez(path, xy=xy + 1.0, proto=pxy)             # what is on disk is what comes back
    xy2, _ = projection.project(tr, "unit-test", 1, "PCA")
    assert np.array_equal(xy2, xy + 1.0)


def test_umap_of_a_handful_of_points_falls_back_to_pca():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    xy, extra = projection.umap_2d(x, x[:1])
    assert xy.shape == (3, 2) and extra.shape == (1, 2)

"""The Binarized weights page through AppTest: sizes and flips are core.model.weights' numbers."""
import pytest

from core.model import checkpoint, sign_flips, size_report, stored_dtype_bytes
from tests.conftest import metric_value


def test_sizes_are_what_the_files_hold(make_app, app_env):
    """Expected sizes from the files themselves, not from core.model.weights: the weights file.s bytes, and the
    packed size by hand — 1 bit per binarized weight (rows × ⌈cols/8⌉ bytes) + a float32 α per row, every other
    tensor at the dtype it is stored in."""
    import json

    from safetensors import safe_open

    d = app_env / "tiny-sst2-bin"
    at = make_app(page="weights", model="tiny-sst2-bin")
    on_disk = (d / "model.safetensors").stat().st_size            # the weights file, header included
    assert metric_value(at, "on disk") == f"{on_disk / 1024:,.1f} KiB"
    with safe_open(str(d / "model.safetensors"), "numpy") as f:
        meta = f.metadata()
        packed = json.loads(meta["packed"])                  # {weight name: [rows, cols]} of the sign-packed layers
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    fp32 = packed_bytes = 0
    for rows, cols in packed.values():
        fp32 += rows * cols * 4
        packed_bytes += rows * -(-cols // 8) + rows * 4
    for name, t in tensors.items():
        if any(name.startswith(p) for p in packed):           # the packed bits and α of a binarized layer
            continue
        fp32 += t.size * 4
        packed_bytes += t.size * t.dtype.itemsize
    assert metric_value(at, "packed size") == f"{packed_bytes / 1024:,.1f} KiB"
    assert metric_value(at, "packed ratio") == f"{fp32 / packed_bytes:.2f}×"
    assert fp32 > packed_bytes


def test_layers_latents_and_sign_flips(make_app, app_env):
    at = make_app(page="weights", model="tiny-sst2-bin")
    assert any("trained from scratch" in i.value for i in at.info)       # no pretrained start to compare with
    layers = at.selectbox(key="wt_latent_layer").options
    assert "blocks.0.attn.query" in layers
    at.selectbox(key="wt_latent_layer").set_value(layers[-1]).run()
    # the fixture models are training runs, so their latent weights are there (train_state/)
    assert any("inside |w| < 1" in c.value for c in at.caption)
    assert at.selectbox(key="wt_other").value == "tiny-sst2-bin-b"
    a, b = checkpoint.load(app_env / "tiny-sst2-bin"), checkpoint.load(app_env / "tiny-sst2-bin-b")
    flips = sign_flips(a, b)
    sizes = {n: m.weight.numel() for n, m in a.named_modules() if n in flips}
    share = sum(flips[n] * sizes[n] for n in flips) / sum(sizes.values())
    assert metric_value(at, "weights whose sign differs") == f"{share:.2%}"


def test_full_precision_model_gets_an_info(make_app):
    at = make_app(page="weights", model="tiny-sst2")
    assert not at.exception
    (info,) = at.info
    assert "no binarized layer" in info.value and "tiny-sst2-bin" in info.value
    assert metric_value(at, "packed ratio") == "1.00×"


def test_stored_dtype_is_read_from_the_file(app_env, tmp_path):
    from core.model import save
    model = checkpoint.load(app_env / "tiny-sst2-bin")
    assert stored_dtype_bytes(app_env / "tiny-sst2-bin") == 4
    save(model, tmp_path / "half", dtype="float16")
    assert stored_dtype_bytes(tmp_path / "half") == 2
    rep16 = size_report(model, dtype_bytes=2)
    assert rep16.packed_bytes < size_report(model).packed_bytes
    assert stored_dtype_bytes(tmp_path / "missing") == 4


@pytest.mark.slow
def test_a_binarized_minilm_is_compared_with_the_pretrained_weights(make_app, app_env, tmp_path, monkeypatch):
    """Binarizing the pretrained MiniLM-L6 without any training flips no sign, and every α is the pretrained
    mean |W| of its row: what the page shows against the weights the package ships."""
    from core.model import load_minilm, load_minilm_tokenizer, save
    (tmp_path / "tiny-sst2").symlink_to(app_env / "tiny-sst2")
    save(load_minilm(binarize=("attention", "ffn")), tmp_path / "minilm-bin", tokenizer=load_minilm_tokenizer(),
         card={"task": "sst2"})
    monkeypatch.setenv("EXITLENS_MODELS_DIR", str(tmp_path))
    at = make_app(page="weights", model="minilm-bin", layer="blocks.2.ffn_out")
    assert not at.exception and not at.error
    assert metric_value(at, "block weights whose sign fine-tuning flipped (against pretrained MiniLM-L6)") == "0.00%"
    assert at.selectbox(key="wt_layer").value == "blocks.2.ffn_out" and len(at.selectbox(key="wt_layer").options) == 36
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("against the pretrained weights" in s and "b2.ffn_out" in s for s in specs)


def test_a_slim_models_budget_stands_beside_its_full_width_parent(make_app, app_env, tmp_path, monkeypatch):
    """The budget table shows the widths and sizes of the slim model's card next to its parent's, and the same
    table opens from the parent (which finds the model slenderized from it)."""
    import json
    import shutil

    folder = tmp_path / "models"
    shutil.copytree(app_env / "tiny-sst2", folder / "tiny-sst2")
    slim = folder / "tiny-sst2-slim"
    shutil.copytree(app_env / "tiny-sst2", slim)
    sec = {"from": "tiny-sst2", "reported_on": "sst2 validation (872 rows)",
           "widths": {"full": {"heads": 4, "ffn": 256, "embedding_rank": 128, "hidden": 128, "blocks": 4},
                      "slim": {"heads": 2, "ffn": 96, "embedding_rank": 32, "hidden": 128, "blocks": 4}},
           "parameters": {"full": 1000, "slim": 450, "ratio": 0.45},
           "disk_bytes": {"full": 4 * 2**20, "slim": 2**20, "ratio": 0.25}, "flops_full_depth_ratio": 0.47}
    card = json.loads((slim / "card.json").read_text())
    card["slenderized"] = sec
    (slim / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("EXITLENS_MODELS_DIR", str(folder))
    for model in ("tiny-sst2-slim", "tiny-sst2"):
        at = make_app(page="weights", model=model)
        table = next(d.value for d in at.dataframe if "slim / full" in d.value.columns)
        rows = dict(zip(table[""], zip(table["tiny-sst2 (full width)"], table["tiny-sst2-slim (slim)"],
                                       table["slim / full"])))
        assert rows["attention heads per block"] == (4, 2, "0.50×")
        assert rows["FFN neurons per block"] == (256, 96, "0.38×")       # 96 / 256 = 0.375
        assert rows["word-embedding rank"] == (128, 32, "0.25×")
        assert rows["blocks (every exit kept)"] == (4, 4, "1.00×")
        assert rows["parameters"][2] == "0.45×" and rows["on disk (MiB)"][:2] == (4.0, 1.0)

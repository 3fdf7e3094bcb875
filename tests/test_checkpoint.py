"""Checkpoints: round trip, real packed size on disk, and refusals that say what to do."""
import json
import pickle

import pytest
import torch

from core.model import CheckpointError, MultiExitEncoder, checkpoint, preset, size_report


def _model(**kw):
    torch.manual_seed(0)
    return MultiExitEncoder(preset("tiny", **kw)).eval()


def _same_outputs(a, b):
    ids = torch.randint(5, 256, (2, 7))
    with torch.no_grad():
        return torch.allclose(a(ids).logits, b(ids).logits, atol=1e-6)


def test_full_precision_round_trip(tmp_path):
    m = _model()
    checkpoint.save(m, tmp_path / "m", card={"note": "x"})
    back = checkpoint.load(tmp_path / "m")
    assert _same_outputs(m, back)
    assert checkpoint.load_card(tmp_path / "m") == {"note": "x"}


def test_binarized_round_trip_is_exact_and_packed_on_disk(tmp_path):
    m = _model(binarize=("attention", "ffn", "embeddings"), hidden=64, ffn=256, vocab_size=4000)
    checkpoint.save(m, tmp_path / "b")
    back = checkpoint.load(tmp_path / "b")
    assert _same_outputs(m, back)          # α·sign(W) survives packing exactly
    rep = size_report(m)
    disk = checkpoint.disk_bytes(tmp_path / "b")
    assert rep.packed_bytes <= disk < rep.packed_bytes + 16_384   # header only on top
    checkpoint.save(_model(hidden=64, ffn=256, vocab_size=4000), tmp_path / "f")
    assert checkpoint.disk_bytes(tmp_path / "f") / disk > 5


def test_saving_twice_replaces_atomically(tmp_path):
    m = _model()
    checkpoint.save(m, tmp_path / "m")
    checkpoint.save(m, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.fixture
def saved(tmp_path):
    checkpoint.save(_model(binarize=("ffn",)), tmp_path / "m")
    return tmp_path / "m"


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such directory"):
        checkpoint.load(tmp_path / "nope")


def test_missing_weights(saved):
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        checkpoint.load(saved)


def test_truncated_weights(saved):
    p = saved / "model.safetensors"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        checkpoint.load(saved)


def test_garbage_weights(saved):
    (saved / "model.safetensors").write_bytes(b"\x00\xff" * 1000)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        checkpoint.load(saved)


def test_foreign_safetensors(saved):
    from safetensors.torch import save_file
    save_file({"encoder.layer.0.weight": torch.zeros(2, 2)}, str(saved / "model.safetensors"))
    with pytest.raises(CheckpointError, match="not written by ExitLens"):
        checkpoint.load(saved)


def test_pickled_files_are_refused_without_unpickling(saved):
    (saved / "pytorch_model.bin").write_bytes(pickle.dumps({"boom": 1}))
    with pytest.raises(CheckpointError, match="pickled"):
        checkpoint.load(saved)


def test_config_that_disagrees_with_weights(saved):
    cfg = json.loads((saved / "config.json").read_text())
    cfg["hidden"] = 48
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="disagree|shape"):
        checkpoint.load(saved)
    cfg["hidden"], cfg["binarize"] = 32, ["attention"]
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="binarized"):
        checkpoint.load(saved)


def test_corrupt_or_foreign_config(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is not a valid"):
        checkpoint.load(saved)
    (saved / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "hidden_size": 384}))
    with pytest.raises(CheckpointError, match="unknown fields"):
        checkpoint.load(saved)


def test_int8_storage_round_trips_within_the_quantization_step(tmp_path):
    """int8 storage: every matrix as int8 with one scale per row (error ≤ half a step of its row), vectors
    in float16; binarized layers stay bit-packed; the file is about a quarter of float32's."""
    from core.model import MultiExitEncoder, disk_bytes, load, preset, save
    torch.manual_seed(0)
    model = MultiExitEncoder(preset("tiny-bert", binarize=("ffn",))).eval()
    save(model, tmp_path / "f32", dtype="float32")
    save(model, tmp_path / "i8", dtype="int8")
    back = load(tmp_path / "i8")
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        a, b = a.float(), b.float()
        if "ffn_in.weight" in name or "ffn_out.weight" in name:       # bit-packed: α·sign, as in float32 storage
            assert torch.equal(b, load(tmp_path / "f32").state_dict()[name])
        elif a.ndim == 2:
            step = a.abs().amax(1, keepdim=True) / 127
            assert ((a - b).abs() <= step / 2 + 1e-7).all(), name
        else:
            assert torch.allclose(a, b, atol=1e-3, rtol=1e-3), name
    assert disk_bytes(tmp_path / "i8") < 0.4 * disk_bytes(tmp_path / "f32")
    with pytest.raises(ValueError, match="storage dtype"):
        save(model, tmp_path / "bad", dtype="int4")

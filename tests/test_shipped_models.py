"""The models shipped in assets/models: each loads, and its dev-set metric, re-measured here on the real
GLUE dev split, equals what its model card says within 0.5 point. Together they stay ≤ 50 MB."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core import checkpoint
from core.analysis import metric
from core.data import load_task
from core.inference import record

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "assets" / "models"
SHIPPED = ["beex-sst2", "minilm-ee-sst2", "minilm-ee-sst2-bin", "minilm-ee-mrpc-slim"]


def test_every_shipped_model_is_there_and_small_enough():
    present = sorted(p.name for p in MODELS.iterdir() if p.is_dir())
    assert present == sorted(SHIPPED)
    total = sum(f.stat().st_size for f in (ROOT / "assets").rglob("*") if f.is_file())
    assert total <= 50 * 2**20, f"assets/ holds {total / 2**20:.1f} MiB"


@pytest.mark.parametrize("name", SHIPPED)
def test_dev_metric_matches_the_model_card(name):
    torch.set_num_threads(1)
    mdir = MODELS / name
    card = json.loads((mdir / "card.json").read_text())
    model, tok = checkpoint.load(mdir), checkpoint.load_tokenizer(mdir)
    ds = load_task(card["task"], "validation")
    texts_b = list(ds["text_b"]) if "text_b" in ds.column_names else None
    tr = record(model, tok, list(ds["text"]), texts_b, np.asarray(ds["label"]), batch_size=64)
    per_exit = [metric(card["metric"], tr.labels, tr.preds[:, i]) for i in range(tr.n_blocks)]
    assert per_exit[-1] == pytest.approx(card["final"], abs=0.005)
    assert np.allclose(per_exit, card["dev_per_exit"], atol=0.005)
    # the packed size on disk is the one the card reports
    assert checkpoint.disk_bytes(mdir) == card["size"]["disk_bytes"]

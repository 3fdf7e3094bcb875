"""The models shipped in assets/models, re-measured against their cards on the real GLUE dev split: the metric
per exit, the size on disk, the threshold chosen on the calibration split replayed on dev, the certificates,
the calibration split itself (recomputed from its seed), the prototypes' centrality, and a slenderized model's
space and FLOPs against its full-width parent. assets/ together ≤ 90 MB."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.analysis import cost, metric
from core.data import get_task, load_task, splits
from core.model import checkpoint
from core.policies import decide, make_policy
from core.run import record
from core.train import centrality

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "assets" / "models"
SHIPPED = sorted(p.name for p in MODELS.iterdir() if p.is_dir())


def test_assets_stay_small():
    assert len(SHIPPED) >= 4
    total = sum(f.stat().st_size for f in (ROOT / "assets").rglob("*") if f.is_file())
    assert total <= 90 * 2**20, f"assets/ holds {total / 2**20:.1f} MiB"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_has_its_own_card(name):
    card = json.loads((MODELS / name / "card.json").read_text())
    assert card["name"] == name, f"{name}/card.json was measured as {card['name']!r}: run core.train.card in place"
    assert card["task"] in ("sst2", "mrpc") and card.get("what")
    assert "/tmp/" not in card["reproduce"], "the reproduce command names a scratch folder"


def _dev_trace(name: str):
    torch.set_num_threads(1)
    mdir = MODELS / name
    card = json.loads((mdir / "card.json").read_text())
    model, tok = checkpoint.load(mdir), checkpoint.load_tokenizer(mdir)
    ds = load_task(card["task"], "validation")
    texts_b = list(ds["text_b"]) if "text_b" in ds.column_names else None
    tr = record(model, tok, list(ds["text"]), texts_b, np.asarray(ds["label"]), batch_size=64,
                meta={"metric": get_task(card["task"]).metric})
    return card, tr


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_model_measures_what_its_card_says(name):
    card, tr = _dev_trace(name)
    per_exit = [metric(card["metric"], tr.labels, tr.preds[:, i]) for i in range(tr.n_blocks)]
    assert per_exit[-1] == pytest.approx(card["final"], abs=0.005)
    assert np.allclose(per_exit, card["dev_per_exit"], atol=0.005)
    assert checkpoint.disk_bytes(MODELS / name) == card["size"]["disk_bytes"]
    rec = card.get("recommended")
    if rec is not None:                                   # chosen on calibration, replayed on dev
        assert rec["chosen_on"] == "calibration" and rec["reported_on"] == "validation"
        c = rec["calibration"]
        pol = make_policy(c["policy"], threshold=c["threshold"], **c["params"])
        ex = decide(pol, tr)
        assert metric(card["metric"], tr.labels, ex.pred) == pytest.approx(rec["dev"]["metric"], abs=0.005)
        assert cost(tr, ex).layer_speedup == pytest.approx(rec["dev"]["layer_speedup"], rel=0.02)
        single = np.unique(ex.exit_block)
        assert (rec["equivalent_to_blocks"] is not None) == (len(single) == 1)
        assert {c["epsilon"] for c in card["certificates"]} == {0.01, 0.02}
        assert all(c["delta"] == 0.05 and c["n"] == card["calibration"]["rows"] for c in card["certificates"])
    if card.get("prototypes"):
        ratio = centrality(tr.proto_emb, tr.prototypes, tr.labels)
        assert np.allclose(ratio, card["prototypes"]["centrality_ratio"], atol=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_the_calibration_split_in_the_card_is_the_one_its_seed_gives(name):
    card = json.loads((MODELS / name / "card.json").read_text())
    if card.get("calibration") is None:
        pytest.fail(f"{name} has no calibration split in its card: retrain it on the fit split (core.train.loop holds "
                    "the calibration rows out by default)")
    assert card["calibration"] == splits.split_info(card["task"], seed=card["calibration"]["seed"])
    assert (card["train"]["config"] or {}).get("holdout") is True


SLIM = [n for n in SHIPPED if json.loads((MODELS / n / "card.json").read_text()).get("slenderized")]


@pytest.mark.slow
@pytest.mark.parametrize("name", SLIM)
def test_a_slenderized_model_keeps_every_exit_in_half_the_space_and_flops(name):
    """COST-EFF's goal re-measured from the two models themselves: the same depth and an exit after every block,
    at most half the parameters, bytes on disk and FLOPs per sentence (at every length a sentence can have) of
    the full-width model it was slenderized from — and the card's figures are these."""
    sec = json.loads((MODELS / name / "card.json").read_text())["slenderized"]
    slim, full = checkpoint.load(MODELS / name), checkpoint.load(MODELS / sec["from"])
    assert slim.cfg.n_blocks == full.cfg.n_blocks and len(slim.exits) == len(full.exits) == slim.cfg.n_blocks
    assert slim.n_params() / full.n_params() <= 0.5
    assert slim.n_params() == sec["parameters"]["slim"] and full.n_params() == sec["parameters"]["full"]
    disk = checkpoint.disk_bytes(MODELS / name) / checkpoint.disk_bytes(MODELS / sec["from"])
    assert disk <= 0.5 and disk == pytest.approx(sec["disk_bytes"]["ratio"])
    def per_sentence(m, t):
        return m.flops_embed(t) + m.cfg.n_blocks * m.flops_per_block(t)

    for t in (4, 16, 32, 64, 128):
        assert per_sentence(slim, t) / per_sentence(full, t) <= 0.5, t
    assert sec["flops_full_depth_ratio"] <= 0.5 and sec["combined_flops_ratio"] < sec["flops_full_depth_ratio"]


def test_the_readme_tables_are_the_cards(tmp_path):
    """The README's model and space-and-time tables are generated from the cards: every shipped model has a row,
    every slim model a space-and-time row with its card's ratios, and text around the blocks is kept."""
    from core.train.card_table import write_readme_table

    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- models:start -->\nSTALE-ROW\n<!-- models:end -->\nmiddle\n<!-- slim:start -->\n"
                      "<!-- slim:end -->\nafter\n")
    write_readme_table(readme, [MODELS / n for n in SHIPPED])
    text = readme.read_text()
    assert text.startswith("before\n") and "\nmiddle\n" in text and text.endswith("after\n") and "STALE-ROW" not in text
    for n in SHIPPED:
        assert f"| `{n}` |" in text
    for n in SLIM:
        sec = json.loads((MODELS / n / "card.json").read_text())["slenderized"]
        row = next(line for line in text.splitlines() if line.startswith(f"| `{n}` (`{sec['from']}`)"))
        assert f"{sec['parameters']['ratio']:.2f}×" in row and f"{sec['combined_flops_ratio']:.2f}×" in row
    assert (ROOT / "README.md").read_text().count(f"| `{SLIM[0]}` (") == 1 if SLIM else True

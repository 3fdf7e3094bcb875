"""Simulated exits (a policy on the recorded Trace) == real early-exit inference, for every policy,
sample for sample, at batch size 1 and batched — on real SST-2 / MRPC dev sentences."""
import numpy as np
import pytest
import torch

from core.data import load_task
from core.model import checkpoint, encode_batch
from core.policies import POLICIES, decide, make_policy
from core.run import early_exit, record
from tests.fixture_models import FIXTURE_MODELS, PARITY_MODEL, UNIT_MODELS


@pytest.fixture(scope="module")
def trained():
    """A tiny BERT-block model trained for 60 steps on real SST-2, so its exits are spread over blocks (fixed
    weights: tests/fixture_models.py)."""
    torch.set_num_threads(1)
    return checkpoint.load(UNIT_MODELS / PARITY_MODEL), checkpoint.load_tokenizer(UNIT_MODELS / PARITY_MODEL)


def _params(name, tr, min_block):
    """A threshold at which ~40 % of the samples exit at the first allowed block and the rest later."""
    cls = POLICIES[name]
    if name == "oracle":
        return {}
    if name == "patience":
        return {"threshold": 1}
    lo, hi = cls.threshold_range(tr)
    sig = cls(threshold=lo).signal(tr)                       # (N, L)
    first = max(min_block, 1 if name == "frac_reduction" else 0)
    v = np.sort(sig[:, first][np.isfinite(sig[:, first])])
    k = int((0.4 if cls.direction == "below" else 0.6) * len(v))
    # halfway between two recorded values: a threshold exactly on a value would let float noise of
    # ~1e-7 between batched and single-sample arithmetic decide the comparison
    return {"threshold": float(np.clip((v[k - 1] + v[k]) / 2, lo, hi))}


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("min_block", [0, 1])
def test_simulated_exit_equals_real_exit(trained, name, min_block):
    model, tok = trained
    ds = load_task("sst2", "validation", limit=96)
    texts, labels = list(ds["text"]), np.asarray(ds["label"])
    tr = record(model, tok, texts, labels=labels, batch_size=32)
    pol = make_policy(name, min_block=min_block, **_params(name, tr, min_block))
    sim = decide(pol, tr)
    if name not in ("oracle", "patience"):     # (patience depends on the model's agreement, not a quantile)
        assert len(np.unique(sim.exit_block)) >= 2, "the threshold should spread exits over blocks"
    for bs in (1, 16):
        real = early_exit(model, tok, pol, texts, labels=labels, batch_size=bs)
        assert np.array_equal(real.exit_block, sim.exit_block), (name, bs)
        assert np.array_equal(real.answer_block, sim.answer_block), (name, bs)
        assert np.array_equal(real.pred, sim.pred), (name, bs)
        # the FLOPs it reports are those of the blocks it really ran, at each sentence's own length
        lens = encode_batch(tok, texts, max_len=model.cfg.max_len)["attention_mask"].sum(1).numpy()
        want = [model.flops_embed(n) + (e + 1) * model.flops_per_block(n) for n, e in zip(lens, sim.exit_block)]
        assert np.allclose(real.flops, want)


def test_pairs_run_through_early_exit():
    torch.set_num_threads(1)
    out = FIXTURE_MODELS / "tiny-mrpc"          # the app's MRPC model (tests/fixture_models.py), read only
    model, tok = checkpoint.load(out), checkpoint.load_tokenizer(out)
    ds = load_task("mrpc", "validation", limit=24)
    a, b = list(ds["text"]), list(ds["text_b"])
    tr = record(model, tok, a, b, np.asarray(ds["label"]))
    pol = make_policy("maxprob", threshold=float(np.median(tr.probs.max(-1))))
    sim = decide(pol, tr)
    real = early_exit(model, tok, pol, a, b, batch_size=8)
    assert np.array_equal(real.exit_block, sim.exit_block) and np.array_equal(real.pred, sim.pred)

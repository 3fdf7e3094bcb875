"""core.analysis.chunked: sweeps, calibration, cohorts, decisions and certificates of a store read chunk by chunk
equal the in-memory analyses of the same Trace to the last digit (``check_exact``, ``array_equal``), for a
real tiny model's MRPC dev recording (F1) and a 3-class trace with ties (MCC), whatever the chunking; the
projection's sample is stratified by cohort."""
import numpy as np
import pandas as pd
import pytest
import torch

from core.analysis import calibration, chunked, cohorts, embeddings_at, sweep, sweep_all
from core.certify import certify, certify_store
from core.data import load_task
from core.model import MultiExitEncoder, preset, train_wordpiece
from core.policies import decide as decide_in_memory
from core.policies import make_policy
from core.run import record
from core.trace import Trace, save_store
from tests.conftest import random_trace

CHUNKINGS = [(64, 16), (4096, 50), (1000, 16384)]      # (row group, analysis slice): many, odd, one


@pytest.fixture(scope="module")
def mrpc_trace():
    """A random tiny model with prototype and LTE heads on 300 real MRPC dev pairs (F1 is the metric): exits
    that change their minds, destructive overthinking and exit-induced errors."""
    torch.manual_seed(1)
    ds = load_task("mrpc", "validation", limit=300)
    tok = train_wordpiece(list(ds["text"]) + list(ds["text_b"]), vocab_size=500, min_frequency=1)
    cfg = preset("tiny", vocab_size=tok.get_vocab_size(), n_blocks=4, proto_dim=8, lte=True, max_len=64)
    model = MultiExitEncoder(cfg).eval()
    with torch.no_grad():          # an untrained model's exits all agree; large weights make them differ
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(25.0)
    return record(model, tok, list(ds["text"]), list(ds["text_b"]), list(ds["label"]), batch_size=32,
                  meta={"task": "mrpc", "metric": "f1"})


def three_class(n=2500, n_blocks=5, seed=0, unknown=0) -> Trace:
    """Coarse logits (many ties), exits that improve with depth, uneven FLOPs, MCC as the metric; ``unknown``
    labels -1."""
    return random_trace(n, n_blocks, 3, seed, coarse=True, unknown=unknown, pooled_dim=4,
                        flops=np.array([2.0, 7.0, 1.0, 5.0, 3.0, 8.0])[:n_blocks] * 1e6, flops_embed=3e5,
                        texts=[f"s{i}" for i in range(n)], meta={"metric": "mcc"})


@pytest.fixture(scope="module", params=["mrpc", "three_class"])
def trace(request, mrpc_trace):
    return mrpc_trace if request.param == "mrpc" else three_class()


@pytest.mark.parametrize("chunk_rows,rows", CHUNKINGS)
def test_sweeps_equal_in_memory(trace, chunk_rows, rows, tmp_path, monkeypatch):
    monkeypatch.setattr("core.trace.store.BLOCK_ROWS", rows)
    store = save_store(trace, tmp_path / "s", chunk_rows=chunk_rows, batch_rows=min(chunk_rows, 997))
    params = {"edr": {"lam": 2.5}, "frac_reduction": {"direction": "above", "reference": "first"},
              "maxprob": {"fallback": "most_confident"}}
    want = sweep_all(trace, n=101, include_oracle=True, params=params)
    got = chunked.sweep_all(store, n=101, include_oracle=True, params=params)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert want["exit_induced_errors"].sum() > 0 and want["layer_speedup"].nunique() > 20    # the sweep has teeth
    per_block = np.linspace(0.6, 0.95, 7)[:, None] * np.linspace(1.0, 0.9, trace.n_blocks)[None]
    pd.testing.assert_frame_equal(chunked.sweep(store, "maxprob", per_block),
                                  sweep(trace, "maxprob", per_block), check_exact=True)


@pytest.mark.parametrize("chunk_rows,rows", CHUNKINGS)
def test_calibration_cohorts_and_decisions_equal_in_memory(trace, chunk_rows, rows, tmp_path, monkeypatch):
    monkeypatch.setattr("core.trace.store.BLOCK_ROWS", rows)
    store = save_store(trace, tmp_path / "s", chunk_rows=chunk_rows, batch_rows=min(chunk_rows, 997))
    want, got = calibration(trace, 12), chunked.calibration(store, 12)
    for name in ("confidence", "accuracy", "count", "edges"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))   # NaN where empty, in both
    np.testing.assert_array_equal(got.ece.value, want.ece.value)
    pol = make_policy("entropy", threshold=0.6 * np.log(trace.n_classes))
    for p in (None, pol):
        a, b = cohorts(trace, None if p is None else decide_in_memory(p, trace)), chunked.cohorts(store, p)
        assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert len(b["exit_induced_errors"]) and len(b["destructive"])
    ex, ey = decide_in_memory(pol, trace), chunked.decide(store, pol)
    for name in ("exit_block", "answer_block", "pred", "fired"):
        assert np.array_equal(getattr(ex, name), getattr(ey, name)), name


@pytest.mark.parametrize("method,risk", [("ltt", "induced"), ("crc", "induced"), ("ltt", "consistency")])
def test_certificates_equal_in_memory(trace, method, risk, tmp_path):
    store = save_store(trace, tmp_path / "s", chunk_rows=128, batch_rows=128)
    for policy in ("maxprob", make_policy("edr", threshold=0.5, lam=0.5, min_block=1)):
        want = certify(trace, policy, 0.1, 0.1, risk, method)
        got = certify_store(store, policy, 0.1, 0.1, risk, method)
        pd.testing.assert_frame_equal(got.curve.to_frame(), want.curve.to_frame(), check_exact=True)
        assert got.to_dict() == want.to_dict() and got.index == want.index
    assert want.certified and want.curve.errors.max() > 0                   # something is certified, with errors


def test_partly_labelled_store_counts_exits_only(tmp_path):
    tr = three_class(unknown=700)
    store = save_store(tr, tmp_path / "s", chunk_rows=600, batch_rows=600)   # the first chunk has no labels
    assert not store.has_labels
    pd.testing.assert_frame_equal(chunked.sweep_all(store), sweep_all(tr), check_exact=True)
    assert chunked.sweep(store, "entropy")["metric"].isna().all()
    assert list(chunked.cohorts(store)) == list(cohorts(tr)) == ["multi_flip"]
    with pytest.raises(ValueError, match="needs the label of every sample"):
        chunked.calibration(store)
    with pytest.raises(ValueError, match="risk='consistency'"):
        certify_store(store, "entropy", 0.05)


def test_embedding_sample_is_stratified_by_cohort(mrpc_trace, tmp_path):
    store = save_store(mrpc_trace, tmp_path / "s", chunk_rows=64, batch_rows=64)
    pol = make_policy("maxprob", threshold=0.8)
    strata = chunked.cohort_strata(store, pol)
    found = cohorts(mrpc_trace, decide_in_memory(pol, mrpc_trace))
    for i in np.flatnonzero(strata == chunked.STRATA.index("destructive")):
        assert i in found["destructive"]
    first = [next((s for s in chunked.STRATA[:-1] if i in found.get(s, [])), "other") for i in range(store.n)]
    assert [chunked.STRATA[c] for c in strata] == first                      # the first cohort in STRATA order
    sample = chunked.sample_embeddings(store, 2, n=60, policy=pol, floor=5)
    present = np.unique(strata)
    assert len(sample.rows) >= 60 and set(np.unique(sample.stratum)) == set(present)     # every cohort shows
    assert all(np.sum(sample.stratum == s) >= min(5, np.sum(strata == s)) for s in present)
    x, protos, _ = embeddings_at(mrpc_trace, 2)
    assert np.array_equal(sample.x, x[sample.rows]) and np.array_equal(sample.prototypes, protos)


def test_repeated_thresholds_are_counted_like_a_binary_search():
    from core.policies import count_le
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(6, 4, 5000), np.arange(0, 13, 0.5), [np.inf, -np.inf]]).astype(np.float32)
    for thr in (np.sort(np.resize(np.arange(1.0, 12.0), 200)), np.sort(rng.integers(0, 9, 57).astype(float)),
                np.array([2.0, 2.0]), np.linspace(0, 1, 201).repeat(2)):
        assert np.array_equal(count_le(thr, x), np.searchsorted(thr, x, side="right"))

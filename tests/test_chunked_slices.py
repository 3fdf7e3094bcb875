"""core.certify.store_slices: slice tables, prediction depth, confusions and grouped certificates of a store read chunk
by chunk equal the in-memory results to the last digit (KL means to 1e-12), whatever the chunking and slicing."""
import numpy as np
import pandas as pd
import pytest

from core.analysis import (
    confusion_at_exit,
    confusion_per_exit,
    depth_histogram,
    make_slicing,
    mean_kl,
    prediction_depth,
    slice_table,
)
from core.certify import certify, risk_by_slice
from core.certify import store_slices as cs
from core.policies import decide, make_policy
from core.trace import Trace, save_store
from tests.conftest import random_trace

CHUNKINGS = [(64, 16), (1000, 50), (4000, 16384)]       # (row group, analysis slice): many, odd, one
WORDS = ["good", "bad", "not", "but", "film", "never", "fine", "plot"]


def three_class(n=1500, n_blocks=5, seed=0) -> Trace:
    """Coarse logits (ties), exits that improve with depth, texts of 1–45 words with negations and contrasts."""
    rng = np.random.default_rng(seed + 1)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 46)))) for _ in range(n)]
    return random_trace(n, n_blocks, 3, seed, coarse=True, protos=False,
                        flops=np.array([2.0, 7.0, 1.0, 5.0, 3.0, 8.0])[:n_blocks] * 1e6, flops_embed=3e5, texts=texts,
                        meta={"task": "synthetic", "split": "dev"})


@pytest.fixture(scope="module")
def trace():
    return three_class()


def groupings(tr):
    colour = np.random.default_rng(3).choice(["red", "green", "blue", "grey"], size=tr.n)
    return ["length", "negation", "label", "pred", "confidence", make_slicing(tr, colour, name="colour")]


@pytest.mark.parametrize("chunk_rows,rows", CHUNKINGS)
def test_slice_tables_depth_and_confusions_equal_in_memory(trace, chunk_rows, rows, tmp_path, monkeypatch):
    monkeypatch.setattr("core.trace.store.BLOCK_ROWS", rows)
    store = save_store(trace, tmp_path / "s", chunk_rows=chunk_rows, batch_rows=min(chunk_rows, 997))
    pol = make_policy("entropy", threshold=0.6)
    for g in groupings(trace):
        want = slice_table(trace, pol, g)
        assert want["exit-induced error rate"].max() > 0 and want["samples"].min() > 0     # tables with teeth
        pd.testing.assert_frame_equal(cs.slice_table(store, pol, g), want, check_exact=True)
        pd.testing.assert_frame_equal(cs.depth_histogram(store, g), depth_histogram(trace, make_slicing(trace, g)
                                                                                     if isinstance(g, str) else g),
                                      check_exact=True)
        pd.testing.assert_frame_equal(cs.mean_kl(store, g), mean_kl(trace, make_slicing(trace, g)
                                                                     if isinstance(g, str) else g), rtol=1e-12)
    np.testing.assert_array_equal(cs.prediction_depth(store), prediction_depth(trace))
    assert len(np.unique(prediction_depth(trace))) == trace.n_blocks
    np.testing.assert_array_equal(cs.confusion_per_exit(store), confusion_per_exit(trace))
    some = np.arange(0, trace.n, 7)
    mask = np.zeros(trace.n, bool)
    mask[some] = True
    np.testing.assert_array_equal(cs.confusion_per_exit(store, rows=some), confusion_per_exit(trace, mask))
    np.testing.assert_array_equal(cs.confusion_at_exit(store, pol), confusion_at_exit(trace, decide(pol, trace)))


@pytest.mark.parametrize("chunk_rows,rows", CHUNKINGS[:2])
@pytest.mark.parametrize("method", ["ltt", "crc"])
def test_grouped_certificates_equal_in_memory(trace, chunk_rows, rows, method, tmp_path, monkeypatch):
    monkeypatch.setattr("core.trace.store.BLOCK_ROWS", rows)
    store = save_store(trace, tmp_path / "s", chunk_rows=chunk_rows, batch_rows=min(chunk_rows, 997))
    for g in ("length", "label"):
        for policy in ("entropy", "maxprob", "patience"):
            want = certify(trace, policy, 0.1, 0.1, method=method, groups=g)
            got = cs.certify(store, policy, 0.1, 0.1, method=method, groups=g)
            assert want.certified
            np.testing.assert_equal(        # NaN equals NaN here (CRC has no δ/G)
                (got.threshold, got.bound, got.layer_speedup, got.flops_reduction, got.delta_slice, got.rows),
                (want.threshold, want.bound, want.layer_speedup, want.flops_reduction, want.delta_slice, want.rows))
            pd.testing.assert_frame_equal(got.slices, want.slices, check_exact=True)
            np.testing.assert_array_equal(got.bounds, want.bounds)
    pol = make_policy("entropy", threshold=0.6)
    pd.testing.assert_frame_equal(cs.risk_by_slice(store, pol, "length", 0.05, 0.1),
                                  risk_by_slice(trace, pol, "length", 0.05, 0.1), check_exact=True)

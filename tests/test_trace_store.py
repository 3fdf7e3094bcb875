"""The out-of-core store (core.trace.store): a real tiny model's recording on real SST-2 / MRPC dev sentences
written batch by batch reads back equal to the in-memory Trace, array for array and bit for bit; chunks
cover every sample once; chosen rows and one block's embeddings are read without the rest; the stratified
sample keeps rare strata; damaged or inconsistent stores are refused with a message that says what to do."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from core.analysis import embeddings_at, stratified_rows
from core.data import load_task
from core.model import MultiExitEncoder, preset, train_wordpiece
from core.run import record, record_store
from core.trace import StoreWriter, TraceError, TraceStore, save_store, write_manifest

ARRAYS = ("logits", "probs", "entropy", "entropy_norm", "pooled", "proto_emb", "proto_dist", "lte", "labels",
          "flops_per_block", "prototypes")


@pytest.fixture(scope="module")
def mrpc():
    ds = load_task("mrpc", "validation", limit=150)
    return list(ds["text"]), list(ds["text_b"]), list(ds["label"])


@pytest.fixture(scope="module")
def model_tok(mrpc):
    torch.manual_seed(0)
    tok = train_wordpiece(mrpc[0] + mrpc[1], vocab_size=400, min_frequency=1)
    cfg = preset("tiny", vocab_size=tok.get_vocab_size(), n_blocks=3, proto_dim=8, lte=True, max_len=64)
    return MultiExitEncoder(cfg).eval(), tok


@pytest.fixture(scope="module")
def recorded(model_tok, mrpc):
    model, tok = model_tok
    return record(model, tok, *mrpc, batch_size=16, meta={"task": "mrpc", "metric": "f1"})


def assert_same_trace(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.texts == b.texts and a.texts_b == b.texts_b
    assert a.flops_embed == b.flops_embed and a.meta == b.meta


def test_record_store_writes_batch_by_batch_and_reads_back_the_same_trace(model_tok, mrpc, recorded, tmp_path):
    model, tok = model_tok
    seen = []
    store = record_store(model, tok, *mrpc, out=tmp_path / "s", batch_size=16, meta={"task": "mrpc", "metric": "f1"},
                         callback=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (150, 150) and len(seen) == 10                    # one callback per batch of 16
    assert_same_trace(store.to_trace(), recorded)
    assert store.n == 150 and store.n_blocks == 3 and store.has_labels and store.label_names == ["0", "1"]
    assert set(store.columns) == {"proto_dist", "lte", "text_b", "pooled", "proto_emb"}
    assert store.flops_full == pytest.approx(recorded.flops_full, rel=0, abs=0)
    # on disk the rows are in recording (length) order, each with its caller index
    rows = pq.read_table(tmp_path / "s" / "part-00000.parquet", columns=["row"]).column("row").to_numpy()
    assert sorted(rows) == list(range(150)) and not np.array_equal(rows, np.arange(150))


def test_chunks_cover_every_row_once_in_slices(recorded, tmp_path):
    store = save_store(recorded, tmp_path / "s", chunk_rows=40, batch_rows=20)
    assert [g[2] for g in store.groups()] == [40, 40, 40, 30]              # row groups of the writer's size
    chunks = list(store.chunks(rows=15))
    assert [c.trace.n for c in chunks] == [15, 15, 10] * 3 + [15, 15]
    rows = np.concatenate([c.rows for c in chunks])
    assert np.array_equal(np.sort(rows), np.arange(150))
    for c in chunks:                                                      # each chunk is the trace of its rows
        assert np.array_equal(c.trace.logits, recorded.logits[c.rows])
        assert np.array_equal(c.trace.entropy, recorded.entropy[c.rows])
        assert c.trace.pooled.shape == (c.trace.n, 3, 0) and c.trace.texts == [""] * c.trace.n   # not read
    full = next(store.chunks(texts=True, embeddings=True))
    assert full.trace.texts == [recorded.texts[i] for i in full.rows]
    assert np.array_equal(full.trace.proto_emb, recorded.proto_emb[full.rows])


def test_subset_and_one_block_of_embeddings_for_chosen_rows(recorded, tmp_path):
    store = save_store(recorded, tmp_path / "s", chunk_rows=32, batch_rows=32)
    rows = np.array([149, 3, 77, 3, 0])
    assert_same_trace(store.subset(rows), recorded.subset(rows))
    x, protos, space = store.embeddings(2, rows)
    ex, eprotos, espace = embeddings_at(recorded, 2)
    assert np.array_equal(x, ex[rows]) and np.array_equal(protos, eprotos) and space == espace
    with pytest.raises(IndexError, match="rows must be in 0..149"):
        store.subset([150])
    with pytest.raises(IndexError, match="block must be in 0..2"):
        store.embeddings(3, [0])


def test_pooled_space_when_no_prototypes(recorded, tmp_path):
    plain = recorded.subset(np.arange(150))
    plain.proto_emb, plain.prototypes = None, None
    store = save_store(plain, tmp_path / "s")
    x, protos, space = store.embeddings(1, [5, 6])
    assert space == "pooled hidden state" and protos is None
    assert np.array_equal(x, recorded.pooled[[5, 6], 1].astype(np.float32))


def test_stratified_rows_keep_rare_strata_and_the_proportions():
    strata = np.array([0] * 9000 + [1] * 950 + [2] * 50)
    rows = stratified_rows(strata, 1000, seed=1, floor=20)
    assert len(rows) == 1000 and np.array_equal(rows, np.unique(rows))
    # 20 of each, then the 940 left in proportion to 8980 : 930 : 30 (849.2, 87.9, 2.8), largest remainders up
    assert np.bincount(strata[rows]).tolist() == [869, 108, 23]
    assert np.array_equal(stratified_rows(strata, 20_000), np.arange(10_000))       # n ≥ N: everything
    assert np.array_equal(rows, stratified_rows(strata, 1000, seed=1, floor=20))      # seeded


def test_refusals_say_what_to_do(recorded, tmp_path):
    with pytest.raises(TraceError, match="no trace store .* record one"):
        TraceStore(tmp_path / "nothing")
    store = save_store(recorded, tmp_path / "s")
    manifest = tmp_path / "s" / "manifest.json"
    m = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**m, "format": "other/9"}))
    with pytest.raises(TraceError, match="not an ExitLens trace store"):
        TraceStore(tmp_path / "s")
    manifest.write_text("{")
    with pytest.raises(TraceError, match="damaged"):
        TraceStore(tmp_path / "s")
    part = {"file": "part-00000.parquet", "rows": 150, "labelled": True, "n_blocks": 3, "n_classes": 2,
            "hidden": store.hidden, "proto_width": store.proto_width, "columns": list(store.columns)}
    with pytest.raises(TraceError, match="exactly once"):            # the same part twice: every row repeated
        write_manifest(tmp_path / "s", [part, {**part}], store.flops_per_block, store.flops_embed)
    with pytest.raises(TraceError, match="different shapes"):
        write_manifest(tmp_path / "s", [part, {**part, "n_classes": 3}], store.flops_per_block, 0.0)
    with pytest.raises(TraceError, match="shared file system"):
        write_manifest(tmp_path / "s", [{**part, "file": "part-00009.parquet"}], store.flops_per_block, 0.0)
    w = StoreWriter(tmp_path / "w")
    w.write([0], np.zeros((1, 3, 2)), [0], ["a"])
    with pytest.raises(TraceError, match="does not match"):
        w.write([1], np.zeros((1, 4, 2)), [0], ["b"])
    w.abort()
    assert not list((tmp_path / "w").iterdir())                          # nothing half-written is left

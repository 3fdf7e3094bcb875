"""Recording over torchrun's processes (core.run.distributed): two CPU processes (gloo) record a real tiny model —
native, and a Hugging Face BERT imported with core.hf.cli — on real MRPC dev pairs, each writes its part, rank 0
joins them, and the merged Trace equals a single-process ``record`` sample for sample, bit for bit. The GPU
path: a GPU asked for where there is none is said plainly and the CPU runs it; bf16 / fp16 autocast runs on
the native and the imported model (no test needs a GPU)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import load_task
from core.model import MultiExitEncoder, checkpoint, preset, train_wordpiece
from core.policies import make_policy
from core.run import (
    early_exit,
    global_lengths,
    length_batches,
    order_by_length,
    rank_batches,
    record,
    record_distributed,
    recording_inputs,
    trace_for,
)
from core.trace import TraceStore

ROOT = Path(__file__).resolve().parents[1]
ARRAYS = ("logits", "pooled", "proto_emb", "proto_dist", "lte", "labels", "flops_per_block", "prototypes", "probs")
N = 150


@pytest.fixture(scope="module")
def native_dir(tmp_path_factory):
    """A tiny random model with prototype and LTE heads, saved as a model directory (MRPC: pairs)."""
    torch.manual_seed(0)
    texts = list(load_task("mrpc", "train", limit=300)["text"])
    tok = train_wordpiece(texts, vocab_size=500, min_frequency=1)
    model = MultiExitEncoder(preset("tiny", vocab_size=tok.get_vocab_size(), n_blocks=3, proto_dim=8, lte=True))
    return checkpoint.save(model, tmp_path_factory.mktemp("native") / "model", tok, {"task": "mrpc"})


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A random 3-layer BERT classifier built with transformers and imported with core.hf (own head on every exit)."""
    import transformers as T

    from core.hf import import_model

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("hf")
    texts = list(load_task("mrpc", "train", limit=300)["text"])
    tok = T.BertTokenizer(vocab=train_wordpiece(texts, vocab_size=400, min_frequency=1).get_vocab())
    cfg = T.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=128, num_labels=2, initializer_range=0.3)
    T.BertForSequenceClassification(cfg).eval().save_pretrained(d / "src")
    tok.save_pretrained(d / "src")
    return import_model(d / "src", "mrpc", d / "out", limit=64, max_len=128).out


def same(a, b) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert np.array_equal(x, y), name
    assert a.texts == b.texts and a.texts_b == b.texts_b and a.flops_embed == b.flops_embed and a.meta == b.meta


def single_process(model_dir, batch_size=16):
    torch.set_num_threads(1)
    model, tok = checkpoint.load(model_dir), checkpoint.load_tokenizer(model_dir)
    texts, texts_b, labels, meta = recording_inputs(model_dir, "mrpc", "validation", N)
    return record(model, tok, texts, texts_b, labels, batch_size=batch_size, meta=meta)


def torchrun(model_dir, cache, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "EXITLENS_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
           "core.inference", "record", "--model", str(model_dir), "--task", "mrpc", "--split", "validation",
           "--limit", str(N), "--batch-size", "16", "--device", "cpu", *extra]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_rank_batches_are_the_single_process_batches_dealt_out(native_dir):
    tok = checkpoint.load_tokenizer(native_dir)
    texts, texts_b, _, _ = recording_inputs(native_dir, "mrpc", "validation", N)
    batches, lens = length_batches(tok, texts, texts_b, 128, 16)
    assert np.array_equal(global_lengths(tok, texts, texts_b, 128, 0, 1), lens)
    dealt = [rank_batches(lens, 16, r, 3) for r in range(3)]
    assert [len(d) for d in dealt] == [4, 3, 3]
    for r in range(3):                                   # rank r runs batches r, r + 3, …
        assert all(np.array_equal(b, batches[r + 3 * j]) for j, b in enumerate(dealt[r]))
    assert np.array_equal(np.sort(np.concatenate(sum(dealt, []))), np.arange(N))
    assert np.array_equal(np.concatenate(batches), order_by_length(tok, texts, texts_b, 128)[0])


def test_one_process_records_the_same_store_as_record(native_dir, tmp_path):
    model, tok = checkpoint.load(native_dir), checkpoint.load_tokenizer(native_dir)
    texts, texts_b, labels, meta = recording_inputs(native_dir, "mrpc", "validation", N)
    store = record_distributed(model, tok, texts, texts_b, labels, out=tmp_path / "s", batch_size=16, meta=meta,
                               device="cpu")
    same(store.to_trace(), single_process(native_dir))


def test_a_gpu_asked_for_where_there_is_none_is_said_and_the_cpu_runs_it(native_dir):
    model, tok = checkpoint.load(native_dir), checkpoint.load_tokenizer(native_dir)
    texts = list(load_task("mrpc", "validation", limit=20)["text"])
    cpu = record(model, tok, texts, device="cpu")
    if torch.cuda.is_available():                        # where there is a GPU, it runs there
        gpu = record(model, tok, texts, device="cuda")
        assert np.abs(gpu.logits - cpu.logits).max() < 1e-3
        return
    with pytest.warns(RuntimeWarning, match="no CUDA GPU is available here: running on the CPU"):
        tr = record(model, tok, texts, device="cuda")
    assert np.array_equal(tr.logits, cpu.logits)
    with pytest.warns(RuntimeWarning, match="no CUDA GPU"):
        res = early_exit(model, tok, make_policy("entropy", threshold=0.5), texts, device="cuda:0")
    assert len(res.pred) == 20
    with pytest.raises(ValueError, match="precision must be one of"):
        record(model, tok, texts, precision="fp8")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        record(model, tok, texts, device="tpu")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_records_and_exits_in_half_precision(native_dir, precision):
    model, tok = checkpoint.load(native_dir), checkpoint.load_tokenizer(native_dir)
    texts = list(load_task("mrpc", "validation", limit=40)["text"])
    full, half = record(model, tok, texts, device="cpu"), record(model, tok, texts, device="cpu", precision=precision)
    gap = np.abs(half.logits - full.logits).max()
    assert 0 < gap < 0.05 * np.abs(full.logits).max() + 0.02            # autocast ran: close, not identical
    assert half.logits.dtype == np.float32 and half.pooled.dtype == np.float16
    pol = make_policy("maxprob", threshold=float(np.median(full.probs.max(-1))))
    res = early_exit(model, tok, pol, texts, batch_size=8, device="cpu", precision=precision)
    assert (res.pred == full.preds[:, -1]).mean() > 0.5 and res.exit_block.min() >= 0


@pytest.mark.slow
def test_two_cpu_ranks_record_the_trace_of_one_process(native_dir, tmp_path, monkeypatch):
    """No --out: the store goes to the cache, and rank 0 caches the merged Trace where trace_for finds it."""
    out = torchrun(native_dir, tmp_path / "cache")
    assert f"{N} samples × 3 blocks" in out and "2 processes" in out
    want = single_process(native_dir)
    stores = list((tmp_path / "cache" / "stores").iterdir())
    assert len(stores) == 1 and sorted(p.name for p in stores[0].glob("part-*")) == ["part-00000.parquet",
                                                                                     "part-00001.parquet"]
    store = TraceStore(stores[0])
    assert [p["rows"] for p in store.manifest["parts"]] == [80, 70]      # batches 0, 2, …, 8 and 1, 3, …, 9
    same(store.to_trace(), want)
    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("core.run.recorder.record", None)                      # read from the cache, never recorded
    same(trace_for(native_dir, "mrpc", "validation", N), want)


@pytest.mark.slow
def test_two_cpu_ranks_record_an_imported_hugging_face_model(hf_dir, tmp_path):
    torchrun(hf_dir, tmp_path / "cache", "--out", str(tmp_path / "store"))
    want = single_process(hf_dir)
    same(TraceStore(tmp_path / "store").to_trace(), want)
    model, tok = checkpoint.load(hf_dir), checkpoint.load_tokenizer(hf_dir)
    texts = list(load_task("mrpc", "validation", limit=40)["text"])
    half = record(model, tok, texts, device="cpu", precision="bf16")       # autocast on the imported model
    full = record(model, tok, texts, device="cpu")
    assert 0 < np.abs(half.logits - full.logits).max() < 0.1 * np.abs(full.logits).max() + 0.05


def test_cli_records_a_store_in_one_process(native_dir, tmp_path, capsys, monkeypatch):
    from core.inference import main
    from core.run import trace_path

    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "cache"))
    assert main(["record", "--model", str(native_dir), "--task", "mrpc", "--limit", str(N), "--batch-size", "16",
                 "--device", "cpu", "--out", str(tmp_path / "store")]) == 0
    assert f"{N} samples × 3 blocks → {tmp_path / 'store'} (1 process, cpu, fp32)" in capsys.readouterr().out
    same(TraceStore(tmp_path / "store").to_trace(), single_process(native_dir))
    assert not (tmp_path / "cache" / "traces").exists()                   # --out: the store only
    assert trace_path(native_dir, "mrpc", "validation", N, "bf16") != trace_path(native_dir, "mrpc", "validation", N)

"""Core benchmarks (issue: multi-exit encoder + Trace), each comparison measured side by side in one run.

    PYTHONPATH=. .venv/bin/python bench/bench_core.py [--n 512] [--model minilm|beex]

1. Recording the full Trace vs. a plain forward pass on the same batches (goal ≤ 1.10× time).
2. The bit-packed checkpoint vs. the same model stored in fp32 (goal ≥ 24× smaller; BEExformer reports
   18.44×, 32× is the limit of 1 bit vs. 32).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core.data import load_task
from core.model import (
    MultiExitEncoder,
    checkpoint,
    encode_batch,
    load_minilm_tokenizer,
    preset,
    size_report,
    train_wordpiece,
)
from core.run import order_by_length, record


def _plain_forward(model, tok, texts, batch_size, max_len):
    """What any classifier does: tokenize, batch by length, run the model, keep the final logits."""
    order, _ = order_by_length(tok, texts, None, max_len)
    outs = []
    with torch.no_grad():
        for s in range(0, len(texts), batch_size):
            idx = order[s:s + batch_size]
            enc = encode_batch(tok, [texts[i] for i in idx], max_len=max_len)
            outs.append(model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits[:, -1].numpy())
    return np.concatenate(outs)


def bench_record(model, tok, texts, batch_size=64, max_len=64, repeats=5):
    plain, rec = [], []
    for _ in range(repeats):                      # interleaved, so drift in machine load hits both alike
        t = time.perf_counter()
        _plain_forward(model, tok, texts, batch_size, max_len)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        record(model, tok, texts, batch_size=batch_size, max_len=max_len)
        rec.append(time.perf_counter() - t)
    return float(np.median(plain)), float(np.median(rec))


def bench_size():
    torch.manual_seed(0)
    cfg = preset("minilm", binarize=("attention", "ffn", "embeddings"))
    model = MultiExitEncoder(cfg).eval()
    with tempfile.TemporaryDirectory() as d:
        checkpoint.save(model, Path(d) / "packed", dtype="float16")
        packed = checkpoint.disk_bytes(Path(d) / "packed")
        fp = MultiExitEncoder(cfg.replace(binarize=())).eval()
        fp.load_state_dict(checkpoint.load(Path(d) / "packed").state_dict())   # the same α·sign(W) weights
        checkpoint.save(fp, Path(d) / "fp32", dtype="float32")
        fp32 = checkpoint.disk_bytes(Path(d) / "fp32")
    return fp32, packed, size_report(model)


def main(argv=None) -> list[tuple]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--model", default="beex", choices=["beex", "minilm"])
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    texts = list(load_task("sst2", "validation", limit=a.n)["text"])
    if a.model == "minilm":
        tok = load_minilm_tokenizer()
        model = MultiExitEncoder(preset("minilm")).eval()
    else:
        tok = train_wordpiece(texts, 4000)
        model = MultiExitEncoder(preset("beex", vocab_size=tok.get_vocab_size())).eval()
    plain, rec = bench_record(model, tok, texts)
    fp32, packed, rep = bench_size()
    rows = [
        ("record full Trace vs plain forward", f"{a.model}, {a.n} SST-2 dev, batch 64, 1 thread",
         f"{rec:.3f} s vs {plain:.3f} s", f"{rec / plain:.3f}×", "≤ 1.10×", rec / plain <= 1.10),
        ("packed checkpoint vs fp32", "MiniLM-L6 layout, attention+FFN+embeddings binarized",
         f"{packed / 2**20:.2f} MiB vs {fp32 / 2**20:.2f} MiB", f"{fp32 / packed:.1f}× smaller", "≥ 24×",
         fp32 / packed >= 24),
    ]
    for r in rows:
        print(f"{r[0]:38} | {r[1]:52} | {r[2]:26} | {r[3]:>12} | goal {r[4]:7} | {'met' if r[5] else 'MISSED'}")
    return rows


if __name__ == "__main__":
    main()

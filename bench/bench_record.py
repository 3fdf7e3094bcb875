"""Recording throughput: sentences per second that ``record`` turns into a full Trace, on every device here.

    PYTHONPATH=. .venv/bin/python bench/bench_record.py [--n 872] [--repeats 3] [--threads 1]

Models: the ``beex`` preset (6 × 256, SLFN blocks, prototype and LTE heads, the small one) and MiniLM-L6
(pretrained weights through core.model.minilm, 6 × 384) with its WordPiece tokenizer; real SST-2 dev sentences,
batches of 64 sorted by length, max 128 tokens. Devices: the CPU always (fp32, and bf16 autocast), the GPU
when there is one (fp32, bf16, fp16 autocast) — where there is none the bench says so and reports the CPU
figure. ``record_store`` (every batch written to a Parquet store on disk, core.trace.store) is measured
beside ``record`` on the CPU, the cost of going out of core. Tokenization is included; a warm-up runs first.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data import load_task  # noqa: E402
from core.model import (  # noqa: E402
    MultiExitEncoder,  # noqa: E402
    load_minilm_tokenizer,
    preset,  # noqa: E402
    train_wordpiece,
)
from core.run import record, record_store  # noqa: E402


def models(texts: list[str]) -> list[tuple[str, torch.nn.Module, object]]:
    torch.manual_seed(0)
    tok = train_wordpiece(texts, 4000)
    beex = MultiExitEncoder(preset("beex", vocab_size=tok.get_vocab_size(), max_len=128)).eval()
    out = [("beex preset", beex, tok)]
    try:
        from core.model import load_minilm
        out.append(("MiniLM-L6", load_minilm().eval(), load_minilm_tokenizer()))
    except Exception as e:       # the pretrained package is missing: say so, bench the rest
        print(f"MiniLM-L6 not available here ({type(e).__name__}: {e}); skipped")
    return out


def throughput(fn, n: int, repeats: int) -> float:
    """Sentences per second, the median over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return n / float(np.median(times))


def settings() -> list[tuple[str, str, str]]:
    """(device, precision, what) in the order they are measured: the CPU first, the GPU when there is one."""
    out = [("cpu", "fp32", "record"), ("cpu", "fp32", "record_store"), ("cpu", "bf16", "record")]
    if torch.cuda.is_available():
        out += [("cuda", p, "record") for p in ("fp32", "bf16", "fp16")] + [("cuda", "bf16", "record_store")]
    return out


def measure(model, tok, texts: list[str], device: str, precision: str, what: str, repeats: int) -> float:
    """Sentences per second of ``record`` (or ``record_store`` into a temporary folder) on ``device``."""
    def run():
        if what == "record":
            return record(model, tok, texts, batch_size=64, device=device, precision=precision)
        with tempfile.TemporaryDirectory() as d:
            return record_store(model, tok, texts, out=Path(d) / "s", batch_size=64, device=device, precision=precision)

    record(model, tok, texts[:64], device=device, precision=precision)        # warm-up: kernels, allocator
    return throughput(run, len(texts), repeats)


def main(argv=None) -> list[tuple]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=872)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    texts = list(load_task("sst2", "validation", limit=a.n)["text"])
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(f"{len(texts)} SST-2 dev sentences, batch 64, ≤ 128 tokens; CPU: {a.threads} torch thread(s), load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; GPU: {gpu or 'none available here — CPU figures only'}")
    rows = []
    for name, model, tok in models(texts):
        cpu = None
        for device, precision, what in settings():
            rate = measure(model, tok, texts, device, precision, what, a.repeats)
            first = cpu is None
            cpu = rate if first else cpu
            beside = "" if first else f" ({rate / cpu:.2f}× CPU fp32 record)"
            rows.append((f"record throughput: {name}, {device} {precision}, {what}",
                         f"{rate:,.0f} sentences/s{beside}"))
        model.to("cpu")
    if gpu is None:
        rows.append(("record throughput on a GPU", "no GPU available here: not measured (CPU figures above)"))
    for what, value in rows:
        print(f"{what} | {value} | goal — (reported) | —")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    return rows


if __name__ == "__main__":
    main()

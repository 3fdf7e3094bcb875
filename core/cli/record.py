"""Joins a model to the Trace and to the policies — the public entry points and the command line.

* ``record(model, tokenizer, texts, …) → Trace`` and ``early_exit(model, tokenizer, policy, texts, …)``
  live in core.run.recorder and are re-exported here (the public API).
* ``trace_for(model_dir, task, split)`` (core.run.cache) records a dataset split once and caches it.

CLI:  python -m core.inference record --model assets/models/beex-sst2 --task sst2 --split validation
      python -m core.inference record --model DIR --task qqp --split train --out STORE   (out of core, batch by batch)
      torchrun --nproc_per_node 4 -m core.inference record --model DIR --task qqp --split train [--out STORE]
            (every process records its share of the batches, rank 0 joins them: core.run.distributed)
      python -m core.inference demo  "a gorgeous, witty film" "it is not good"   (a tiny model, per-block entropies)
  --device auto|cpu|cuda[:i] (auto: the GPU when there is one), --precision fp32|bf16|fp16 (autocast).
"""
from __future__ import annotations

import argparse
import sys

import torch

from core.model import MultiExitEncoder, checkpoint
from core.run import (  # noqa: F401
    PRECISIONS,
    EarlyExitResult,
    LiveSignals,
    close,
    early_exit,
    record,
    record_distributed,
    record_store,
    recording_inputs,
    save_cached,
    store_path,
    trace_for,
    trace_path,
    world,
)
from core.trace import TraceStore

CACHE_TRACE_MAX = 200_000     # a store recorded into the cache is also cached as a Trace (the app's) up to this size

# CLI

def _demo(sentences: list[str]) -> None:
    from core.model import preset, train_wordpiece

    torch.manual_seed(0)
    sentences = sentences or ["a gorgeous , witty , seductive movie .", "it is not a good film .", "meh ."]
    tok = train_wordpiece(sentences * 4, vocab_size=256, min_frequency=1)
    model = MultiExitEncoder(preset("tiny", vocab_size=tok.get_vocab_size()))
    tr = record(model, tok, sentences)
    print(f"tiny model ({model.n_params():,} parameters, untrained), {tr.n_blocks} blocks; entropy in nats:")
    for j, s in enumerate(sentences):
        cells = "  ".join(f"b{i + 1}: H={tr.entropy[j, i]:.3f} ΔH={tr.frac_reduction[j, i]:+.3f}"
                          for i in range(tr.n_blocks))
        print(f"  {s[:40]!r:44} {cells}")


def _final_accuracy(store: TraceStore) -> float:
    right = sum(int((c.trace.correct[:, -1]).sum()) for c in store.chunks())
    return right / max(store.n, 1)


def _record_store(args) -> int:
    """``record`` into a store folder, over torchrun's processes when there are several (core.run.distributed)."""
    from core.model import checkpoint

    rank, size = world()
    model, tok = checkpoint.load(args.model), checkpoint.load_tokenizer(args.model)
    texts, texts_b, labels, meta = recording_inputs(args.model, args.task, args.split, args.limit)
    out = args.out or store_path(args.model, args.task, args.split, args.limit, args.precision)
    try:
        store = record_distributed(model, tok, texts, texts_b, labels, out=out, batch_size=args.batch_size,
                                   max_len=args.max_len, meta=meta, device=args.device, precision=args.precision,
                                   progress=True)
        if rank == 0:
            where = next(model.parameters()).device
            print(f"{store.n} samples × {store.n_blocks} blocks → {out} ({size} process{'es' * (size > 1)}, {where}, "
                  f"{args.precision}); final-exit accuracy {_final_accuracy(store):.4f}")
            if args.out is None and store.n <= CACHE_TRACE_MAX:     # the app reads the cached Trace
                save_cached(store.to_trace(), trace_path(args.model, args.task, args.split, args.limit, args.precision))
    finally:
        close()
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.inference", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="build a tiny model, record a trace of the sentences, print entropies")
    d.add_argument("sentences", nargs="*")
    r = sub.add_parser("record", help="record a split's Trace of a checkpoint into the on-disk cache (or --out)")
    r.add_argument("--model", required=True)
    r.add_argument("--task", default="sst2")
    r.add_argument("--split", default="validation")
    r.add_argument("--limit", type=int, default=None)
    r.add_argument("--out", default=None, help="a store folder (out of core, core.trace.store); under torchrun the "
                                               "default is the cache's store folder")
    r.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda or cuda:<i>")
    r.add_argument("--precision", default="fp32", choices=sorted(PRECISIONS), help="autocast precision")
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--max-len", type=int, default=128)
    args = ap.parse_args(argv)
    if args.cmd == "demo":
        _demo(args.sentences)
        return 0
    checkpoint.read_config(args.model)        # a clear refusal of a folder that holds no model, before any work
    if args.out is not None or world()[1] > 1:
        return _record_store(args)
    tr = trace_for(args.model, args.task, args.split, limit=args.limit, progress=True, max_len=args.max_len,
                   device=args.device, precision=args.precision)
    print(f"{tr.n} samples × {tr.n_blocks} blocks; final-exit accuracy {tr.correct[:, -1].mean():.4f}")
    return 0


if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.inference", main))

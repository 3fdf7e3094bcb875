"""Joins a model to the Trace and to the policies — the public entry points and the command line.

* ``record(model, tokenizer, texts, …) → Trace`` and ``early_exit(model, tokenizer, policy, texts, …)``
  live in core.runner and are re-exported here (the public API).
* ``trace_for(model_dir, task, split)`` (core.cache) records a dataset split once and caches it.

CLI:  python -m core.inference record --model assets/models/beex-sst2 --task sst2 --split validation
      python -m core.inference demo  "a gorgeous, witty film" "it is not good"   (a tiny model, per-block entropies)
"""
from __future__ import annotations

import argparse
import sys

import torch

from core.cache import trace_for
from core.model import MultiExitEncoder
from core.runner import EarlyExitResult, LiveSignals, early_exit, record  # noqa: F401

# CLI

def _demo(sentences: list[str]) -> None:
    from core.config import preset
    from core.tokenizer import train_wordpiece

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.inference", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="build a tiny model, record a trace of the sentences, print entropies")
    d.add_argument("sentences", nargs="*")
    r = sub.add_parser("record", help="record the dev-set Trace of a checkpoint into the on-disk cache")
    r.add_argument("--model", required=True)
    r.add_argument("--task", default="sst2")
    r.add_argument("--split", default="validation")
    r.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "demo":
        _demo(args.sentences)
        return 0
    tr = trace_for(args.model, args.task, args.split, limit=args.limit, progress=True)
    print(f"{tr.n} samples × {tr.n_blocks} blocks; final-exit accuracy {tr.correct[:, -1].mean():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

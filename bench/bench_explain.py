"""Explain-each-exit benchmarks (issue 14), on every shipped model, one torch thread.

    PYTHONPATH=. .venv/bin/python bench/bench_explain.py [--repeats 3] [--words 20] [--models a,b]

For each model in assets/models: the first real GLUE dev sentence with ``--words`` words (SST-2; for the
MRPC model the first dev pair whose first sentence has that many words), then
1. salience of every block by integrated gradients, 32 steps (goal ≤ 1 s), with its completeness gap
   (goal ≤ 1 %) and the arithmetic floor (the FLOPs IG must do at the rate a plain matmul reaches right
   now; "met" there means within 2× of it); IG of the last block alone; grad×input and rollout of every
   block, the page's fast preview;
2. the counterfactual search with the entropy policy (goal ≤ 2 s): candidates tried, edits found.
Times are medians over ``--repeats`` runs after one warm-up; the machine's load average is printed with
them, since on a shared machine a loaded CPU stretches every figure.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from core.data import load_task
from core.explain import candidates, counterfactuals, salience, substitution_table
from core.model import checkpoint
from core.policies import make_policy

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted(p.name for p in (ROOT / "assets" / "models").glob("*") if (p / "config.json").is_file())  # all shipped


def sentence(task: str, words: int) -> tuple[str, str | None]:
    ds = load_task(task, "validation")
    for row in ds:
        if len(row["text"].split()) == words:
            return row["text"], row.get("text_b")
    raise SystemExit(f"no {task} dev sentence has {words} words: pick another --words")


def timed(fn, repeats: int):
    out = fn()                                    # warm-up (first-call allocations, captum imports)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def gemm_rate(rows: int, width: int, ffn: int, repeats: int = 20) -> float:
    """FLOP/s of one fp32 matmul of the FFN's shape right now: the CPU's arithmetic rate under the present
    load, to set the IG times against the floor its arithmetic allows."""
    a, b = torch.randn(rows, width), torch.randn(width, ffn)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2.0 * rows * width * ffn * repeats / (time.perf_counter() - t)


def ig_floor(model, n_tokens: int, steps: int = 32) -> float:
    """FLOPs of IG over every block: exit b's rows run b+1 blocks, forward and an input-gradient backward
    (≈ the forward again: weight gradients are never asked for)."""
    n = model.cfg.n_blocks
    return 2.0 * steps * model.flops_per_block(n_tokens) * n * (n + 1) / 2


def bench_model(name: str, words: int, repeats: int) -> list[tuple]:
    d = ROOT / "assets" / "models" / name
    model, tok = checkpoint.load(d), checkpoint.load_tokenizer(d)
    task = checkpoint.load_card(d).get("task", "sst2")
    text, text_b = sentence(task, words)
    what = f"{name} ({task}, {words} words{' + pair' if text_b else ''})"
    rows = []
    t_ig, sal = timed(lambda: salience(model, tok, text, text_b, method="ig", steps=32, max_steps=32), repeats)
    gap = float(sal.completeness_gap.max())
    rows.append((what, f"salience IG, {model.cfg.n_blocks} blocks × 32 steps, {len(sal.tokens)} tokens",
                 f"{t_ig:.2f} s", "≤ 1 s", t_ig <= 1.0))
    rows.append((what, "IG completeness gap (max over blocks)", f"{100 * gap:.3f} %", "≤ 1 %", gap <= 0.01))
    rate = gemm_rate(32 * len(sal.tokens), model.cfg.hidden, model.cfg.ffn)
    floor = ig_floor(model, len(sal.tokens)) / rate
    gflop = ig_floor(model, len(sal.tokens)) / 1e9
    label = f"  IG arithmetic: {gflop:.0f} GFLOP at {rate / 1e9:.0f} GFLOP/s (GEMM now)"
    rows.append((what, label, f"{floor:.2f} s", "≤ 2× it", t_ig <= 2.0 * floor))
    last = model.cfg.n_blocks - 1
    t1, _ = timed(lambda: salience(model, tok, text, text_b, steps=32, max_steps=32, blocks=[last]), repeats)
    rows.append((what, "salience IG, the last block only × 32 steps", f"{t1:.2f} s", "≤ 1 s", t1 <= 1.0))
    for method in ("grad_x_input", "rollout"):
        t, _ = timed(lambda m=method: salience(model, tok, text, text_b, method=m), repeats)
        rows.append((what, f"salience {method}, all blocks", f"{t:.2f} s", "≤ 1 s", t <= 1.0))
    pol = make_policy("entropy", threshold=0.3)
    n_cand = sum(len(candidates(t, substitution_table())) for t in ([text] if text_b is None else [text, text_b]))
    t_cf, edits = timed(lambda: counterfactuals(model, tok, text, pol, text_b), repeats)
    rows.append((what, f"counterfactual search, {n_cand} candidates → {len(edits)} edits",
                 f"{t_cf:.2f} s", "≤ 2 s", t_cf <= 2.0))
    return rows


def main(argv=None) -> list[tuple]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--words", type=int, default=20)
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"one torch thread; load average at start {load:.1f} on {os.cpu_count()} cores "
          f"(figures stretch when other work shares the CPU)")
    rows = []
    for name in a.models.split(","):
        rows += bench_model(name, a.words, a.repeats)
    for r in rows:
        print(f"{r[0]:44} | {r[1]:52} | {r[2]:>9} | goal {r[3]:7} | {'met' if r[4] else 'MISSED'}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at end {load:.1f}")
    return rows


if __name__ == "__main__":
    main()

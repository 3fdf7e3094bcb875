"""Real early-exit speed on the shipped models, SST-2 dev, CPU — measured side by side in one run.

    PYTHONPATH=. .venv/bin/python bench/bench_early_exit.py [--models beex-sst2,minilm-ee-sst2] [--n 872]

For each model: the dev-set Trace picks, over every policy's sweep, the threshold with the largest layer
speed-up whose accuracy stays within 1 point of the model's own full depth. Then, on the same sentences:
  * batch 1: full-depth inference (every block, as a plain forward) vs. real early exit (later blocks are
    never computed) — wall-clock speed-up (goal ≥ 2.0×) and FLOPs reduction (goal ≥ 55 %; BEExformer
    reports 54.85 %);
  * batch 64: full depth vs. batched early exit (exited samples leave the batch) — goal ≥ 1.6×.
Timings interleave the two sides and take the median of repeats. FLOPs are analytic (2 per MAC), per
sample at its own length; wall-clock is reported separately (FLOPs are not latency, methods.md §6).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from core import checkpoint
from core.analysis import pareto_front, sweep_all
from core.cache import trace_for
from core.data import load_task
from core.inference import early_exit
from core.policies import make_policy
from core.tokenizer import encode_batch

ROOT = Path(__file__).resolve().parents[1]


def pick_threshold(tr, max_drop=0.01):
    """The fastest (policy, threshold) whose dev metric is within ``max_drop`` of the final exit's."""
    df = sweep_all(tr)
    final = float((tr.preds[:, -1] == tr.labels).mean())
    ok = df[df["accuracy"] >= final - max_drop - 1e-12]
    best = ok.sort_values(["layer_speedup", "accuracy"], ascending=False).iloc[0]
    return best, final, pareto_front(df)


@torch.no_grad()
def full_depth(model, tok, texts, batch_size):
    t0 = time.perf_counter()
    preds = []
    for s in range(0, len(texts), batch_size):
        enc = encode_batch(tok, texts[s:s + batch_size], max_len=model.cfg.max_len)
        preds.append(model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits[:, -1].argmax(-1))
    return time.perf_counter() - t0, torch.cat(preds).numpy()


def bench_model(name, n, repeats):
    mdir = ROOT / "assets" / "models" / name
    model, tok = checkpoint.load(mdir), checkpoint.load_tokenizer(mdir)
    tr = trace_for(mdir, "sst2", "validation")
    row, final, _ = pick_threshold(tr)
    params = {"threshold": float(row["threshold"]), **__import__("json").loads(row["params"])}
    pol = make_policy(row["policy"], **params)
    ds = load_task("sst2", "validation", limit=n)
    texts, labels = list(ds["text"]), np.asarray(ds["label"])
    out = {"model": name, "policy": f"{row['policy']} {params['threshold']:.4g}", "final_acc": final,
           "ee_acc": float(row["accuracy"]), "layer_speedup": float(row["layer_speedup"])}
    for bs in (1, 64):
        full_t, ee_t = [], []
        for _ in range(repeats):
            full_t.append(full_depth(model, tok, texts, bs)[0])
            res = early_exit(model, tok, pol, texts, labels=labels, batch_size=bs)
            ee_t.append(res.seconds)
        out[f"bs{bs}_full_s"], out[f"bs{bs}_ee_s"] = float(np.median(full_t)), float(np.median(ee_t))
        out[f"bs{bs}_speedup"] = out[f"bs{bs}_full_s"] / out[f"bs{bs}_ee_s"]
        if bs == 1:
            lens = encode_batch(tok, texts, max_len=model.cfg.max_len)["attention_mask"].sum(1).numpy()
            full_flops = np.array([model.flops_embed(x) + model.cfg.n_blocks * model.flops_per_block(x) for x in lens])
            out["flops_reduction"] = 1 - res.flops.sum() / full_flops.sum()
            out["real_acc"] = float((res.pred == labels).mean())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="beex-sst2,minilm-ee-sst2,minilm-ee-sst2-bin")
    ap.add_argument("--n", type=int, default=872)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in a.models.split(","):
        if not (ROOT / "assets" / "models" / name).is_dir():
            print(f"{name}: not in assets/models, skipped")
            continue
        r = bench_model(name, a.n, a.repeats)
        rows.append(r)
        print(f"{r['model']:20} policy {r['policy']:24} dev acc full {r['final_acc']:.4f} → early exit {r['real_acc']:.4f}"
              f" | layer speed-up {r['layer_speedup']:.2f}× | FLOPs reduction {r['flops_reduction']:.1%} (goal ≥ 55 %)"
              f" | batch 1: {r['bs1_full_s']:.2f} s vs {r['bs1_ee_s']:.2f} s = {r['bs1_speedup']:.2f}× (goal ≥ 2.0×)"
              f" | batch 64: {r['bs64_full_s']:.2f} s vs {r['bs64_ee_s']:.2f} s = {r['bs64_speedup']:.2f}× (goal ≥ 1.6×)")
    return rows


if __name__ == "__main__":
    main()

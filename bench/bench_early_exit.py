"""Real early-exit speed on every shipped model, on its task's dev set — measured side by side in one run.

    PYTHONPATH=. .venv/bin/python bench/bench_early_exit.py [--models a,b] [--n 872] [--repeats 3] [--device cpu]

For each model directory in assets/models (the binarized one included):
  * the threshold: the one chosen on the model's **calibration** split where its card has it
    (``card["recommended"]["calibration"]``, core.train.card), else the fastest policy × threshold whose dev metric
    is within one point of full depth — then labelled "chosen on dev" (the dev figures are then optimistic);
    a setting that sends every dev sample to one block is labelled "equivalent to a k-block model";
  * batch 1: full depth (a plain forward per sentence) vs real early exit (later blocks are never computed);
  * batch 64: full depth vs batched early exit (exited samples leave the batch), **both sorted by length the
    same way** (core.run.recorder.order_by_length, its tokenization timed on both sides), so the ratio is early
    exit's, not padding's;
  * FLOPs (analytic, 2 per MAC, per sample at its own length) and wall-clock side by side, and the dev
    metric of full depth and of the real early exits.
Timings interleave the two sides and take the median of ``--repeats``. FLOPs are not latency (methods.md §6).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.analysis import metric, sweep, sweep_all  # noqa: E402
from core.model import (
    checkpoint,  # noqa: E402
    encode_batch,  # noqa: E402
)
from core.policies import decide, make_policy  # noqa: E402
from core.run import autocast, early_exit, order_by_length, place_model, recording_inputs, trace_for  # noqa: E402  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_LEN = 128
GOALS = {"bs1": 2.0, "flops": 0.55, "bs64": 1.6}


def choose(card: dict, dev) -> tuple[dict, str]:
    """({policy, threshold, params}, where it was chosen): the card's calibration choice, else the fastest
    within one point of full depth on dev (labelled so)."""
    rec = (card.get("recommended") or {}).get("calibration")
    if rec:
        return {k: rec[k] for k in ("policy", "threshold", "params")}, "chosen on calibration (card)"
    df = sweep_all(dev)
    final = metric(dev.meta.get("metric", "accuracy"), dev.labels, dev.preds[:, -1])
    ok = df[df["metric"] >= final - 0.01 - 1e-12].sort_values(["layer_speedup", "metric"], ascending=False)
    row = ok.iloc[0]
    return ({"policy": row["policy"], "threshold": float(row["threshold"]), "params": json.loads(row["params"])},
            "chosen on dev (no calibration choice in the card: optimistic)")


@torch.no_grad()
def full_depth(model, tok, texts, texts_b, batch_size: int, device, precision: str) -> tuple[float, np.ndarray]:
    """Every block for every sentence; batched exactly as ``early_exit`` batches (length-sorted)."""
    t0 = time.perf_counter()
    n, max_len = len(texts), min(MAX_LEN, model.cfg.max_len)      # as early_exit: never past the position table
    order = order_by_length(tok, texts, texts_b, max_len)[0] if batch_size > 1 else np.arange(n)
    pred = np.zeros(n, np.int64)
    with autocast(device, precision):
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            enc = encode_batch(tok, [texts[i] for i in idx], None if texts_b is None else [texts_b[i] for i in idx],
                               max_len=max_len)
            out = model(enc["input_ids"].to(device), enc["attention_mask"].to(device), enc["token_type_ids"].to(device))
            pred[idx] = out.logits[:, -1].argmax(-1).cpu().numpy()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, pred


def bench_model(mdir: Path, n: int | None, repeats: int, device: str, precision: str) -> dict:
    card = checkpoint.load_card(mdir)
    task = card.get("task") or "sst2"
    model, tok = checkpoint.load(mdir), checkpoint.load_tokenizer(mdir)
    dev = place_model(model, device, precision)
    tr = trace_for(mdir, task, "validation", n)
    chosen, where = choose(card, tr)
    pol = make_policy(chosen["policy"], threshold=chosen["threshold"], **chosen["params"])
    blocks = np.unique(decide(pol, tr).exit_block)
    texts, texts_b, labels, meta = recording_inputs(mdir, task, "validation", n)
    labels, name = np.asarray(labels), meta["metric"]
    sim = sweep(tr, pol, [chosen["threshold"]]).iloc[0]
    out = {"model": mdir.name, "task": task, "n": len(texts), "where": where, "metric_name": name,
           "policy": f"{chosen['policy']} {chosen['threshold']:.4g}", "layer_speedup": float(sim["layer_speedup"]),
           "one_block": int(blocks[0]) + 1 if len(blocks) == 1 else None}
    full_depth(model, tok, texts[:8], None if texts_b is None else texts_b[:8], 1, dev, precision)   # warm-up
    early_exit(model, tok, pol, texts[:8], None if texts_b is None else texts_b[:8], device=dev, precision=precision)
    for bs in (1, 64):
        full_t, ee_t = [], []
        for _ in range(repeats):                      # interleaved: both sides see the same machine load
            t, full_pred = full_depth(model, tok, texts, texts_b, bs, dev, precision)
            full_t.append(t)
            res = early_exit(model, tok, pol, texts, texts_b, labels, batch_size=bs, max_len=MAX_LEN, device=dev,
                             precision=precision)
            ee_t.append(res.seconds)
        out[f"bs{bs}"] = (float(np.median(full_t)), float(np.median(ee_t)))
    lens = encode_batch(tok, texts, texts_b, max_len=min(MAX_LEN, model.cfg.max_len))["attention_mask"].sum(1).numpy()
    full_flops = sum(model.flops_embed(x) + model.cfg.n_blocks * model.flops_per_block(x) for x in lens)
    out["flops_reduction"] = 1 - res.flops.sum() / full_flops
    out["full_metric"], out["ee_metric"] = metric(name, labels, full_pred), metric(name, labels, res.pred)
    return out


def report(r: dict) -> list[str]:
    """Pipe rows (benchmark | result | goal | verdict) of one model."""
    label = f"{r['model']} ({r['task']} dev, n = {r['n']}; {r['policy']}, {r['where']}"
    label += f"; equivalent to a {r['one_block']}-block model)" if r["one_block"] else ")"
    (f1, e1), (f64, e64) = r["bs1"], r["bs64"]
    met = lambda ok: "met" if ok else "MISSED"
    m = r["metric_name"]
    return [
        f"early exit, batch 1: {label} | {f1 / e1:.2f}× wall-clock ({f1:.2f} s → {e1:.2f} s); {m} "
        f"{r['full_metric']:.4f} → {r['ee_metric']:.4f} | goal ≥ {GOALS['bs1']}× | {met(f1 / e1 >= GOALS['bs1'])}",
        f"early exit, FLOPs at that threshold: {r['model']} | {r['flops_reduction']:.1%} fewer FLOPs (layer speed-up "
        f"{r['layer_speedup']:.2f}×) | goal ≥ {GOALS['flops']:.0%} | {met(r['flops_reduction'] >= GOALS['flops'])}",
        f"early exit, batch 64, both sides length-sorted: {r['model']} | {f64 / e64:.2f}× wall-clock ({f64:.2f} s → "
        f"{e64:.2f} s) | goal ≥ {GOALS['bs64']}× | {met(f64 / e64 >= GOALS['bs64'])}",
    ]


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=None, help="comma-separated names in assets/models (default: all)")
    ap.add_argument("--n", type=int, default=None, help="first n dev samples (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (the GPU when there is one)")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    root = ROOT / "assets" / "models"
    names = a.models.split(",") if a.models else sorted(p.name for p in root.iterdir() if (p / "card.json").is_file())
    print(f"device {a.device}, {a.precision}, one torch thread; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; models: {', '.join(names)}")
    rows = []
    for name in names:
        if not (root / name / "model.safetensors").is_file():
            print(f"{name}: not in assets/models, skipped")
            continue
        r = bench_model(root / name, a.n, a.repeats, a.device, a.precision)
        rows.append(r)
        print("\n".join(report(r)), flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    return rows


if __name__ == "__main__":
    main()

"""COST-EFF's claim measured on a slenderized model: space and time together, against the full-width model it
was slenderized from (``card["slenderized"]``, written by ``python -m core.card``).

* widths: attention heads, FFN neurons and the word embedding's rank, slim next to full;
* space: parameters and bytes on disk, slim / full;
* FLOPs per dev sentence (analytic, at each sentence's own length): slim at full depth / full at full depth, and
  **combined** — slim at its certified threshold (real early exit) / full width at full depth;
* wall-clock on dev at batch 1 and batch 64, both sides sorted by length the same way: the full-width model at
  full depth (``record``: every block) against the slim model's real early exit at the certified threshold;
* the dev metric of both, and the drop.
The threshold is the model's certificate at ε = 0.01 (chosen on calibration); dev is the report split.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from core.analysis import metric
from core.model import checkpoint
from core.policies import make_policy
from core.run import early_exit, record, recording_inputs, trace_for


def widths(cfg) -> dict:
    return {"heads": int(cfg.n_heads), "ffn": int(cfg.ffn), "embedding_rank": int(cfg.emb_rank or cfg.hidden),
            "hidden": int(cfg.hidden), "blocks": int(cfg.n_blocks)}


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def space_and_time(slim_dir: str | Path, full_dir: str | Path, task: str, certificate: dict | None,
                   batch_sizes=(1, 64), limit: int | None = None) -> dict:
    """The ``slenderized`` section of a slim model's card (see the module's docstring)."""
    slim, full = checkpoint.load(slim_dir), checkpoint.load(full_dir)
    s_tok, f_tok = checkpoint.load_tokenizer(slim_dir), checkpoint.load_tokenizer(full_dir)
    s_dev, f_dev = trace_for(slim_dir, task, "validation", limit=limit), trace_for(full_dir, task, "validation",
                                                                                   limit=limit)
    name = s_dev.meta.get("metric", "accuracy")
    out = {"from": Path(full_dir).name, "task": task, "reported_on": f"{task} validation ({s_dev.n} rows)",
           "widths": {"slim": widths(slim.cfg), "full": widths(full.cfg)},
           "parameters": {"slim": int(slim.n_params()), "full": int(full.n_params()),
                          "ratio": slim.n_params() / full.n_params()},
           "disk_bytes": {"slim": checkpoint.disk_bytes(slim_dir), "full": checkpoint.disk_bytes(full_dir),
                          "ratio": checkpoint.disk_bytes(slim_dir) / checkpoint.disk_bytes(full_dir)},
           "flops_full_depth_ratio": float(s_dev.flops_full / f_dev.flops_full),
           "full_metric": float(metric(name, f_dev.labels, f_dev.preds[:, -1])),
           "slim_full_depth_metric": float(metric(name, s_dev.labels, s_dev.preds[:, -1]))}
    if not certificate or certificate.get("threshold") is None:
        out["note"] = "no certified threshold: the combined figures need one"
        return out
    pol = make_policy(certificate["policy"], threshold=certificate["threshold"], **certificate.get("params", {}))
    texts, texts_b, labels, _ = recording_inputs(slim_dir, task, "validation", limit)
    runs = {}
    for b in batch_sizes:
        t_full, _ = _timed(lambda b=b: record(full, f_tok, texts, texts_b, labels, batch_size=b, max_len=128))
        t_slim, res = _timed(lambda b=b: early_exit(slim, s_tok, pol, texts, texts_b, labels, batch_size=b,
                                                     max_len=128))
        runs[f"batch_{b}"] = {"full_width_full_depth_s": t_full, "slim_early_exit_s": t_slim,
                              "speedup": t_full / t_slim}
    res_metric = float(metric(name, np.asarray(labels), res.pred))
    out.update({
        "threshold": {"policy": certificate["policy"], "value": float(certificate["threshold"]),
                      "epsilon": certificate.get("epsilon"), "delta": certificate.get("delta"),
                      "chosen_on": "calibration (Learn-then-Test certificate)"},
        "combined_flops_ratio": float(np.mean(res.flops) / f_dev.flops_full),
        "slim_layer_speedup": float(slim.cfg.n_blocks / np.mean(res.exit_block + 1)),
        "slim_early_exit_metric": res_metric,
        "metric_drop_vs_full": out["full_metric"] - res_metric,
        "wall_clock": {**runs, "how": "full width at full depth (every block, record) vs the slim model's real "
                                      "early exit, the same length-sorted batches, tokenization included, "
                                      "one process on this machine"},
    })
    return out

"""Model cards: measure a model directory on its task's dev set and write the numbers into card.json.

    python -m core.card assets/models/beex-sst2 [--task sst2]

The card holds: data, config, per-exit dev metric, oracle, destructive-overthinking rate, size fp32 vs.
packed (analytic and on disk), the Pareto points per policy, the best policy within one point of full
depth, and the command that reproduces the training run. Everything is measured here, none is typed in.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from core import checkpoint
from core.analysis import destructive_overthinking, oracle_accuracy, pareto_front, per_exit_metric, sweep_all
from core.cache import trace_for
from core.weights import size_report


def reproduce_command(train_cfg: dict) -> str:
    """The `python -m core.train …` line that reproduces a run, from the TrainConfig stored in the card."""
    from core.train import TrainConfig

    defaults = TrainConfig()
    args = ["python", "-m", "core.train"]
    for key, value in train_cfg.items():
        if key in ("overrides", "resume") or value is None or (key != "task" and value == getattr(defaults, key, object())):
            continue
        if key == "binarize":
            value = ",".join(value) or "none"
        if isinstance(value, bool):            # store_true flags, and --no-<name> for those on by default
            if value != getattr(defaults, key, False):
                args.append(f"--{'' if value else 'no-'}{key.replace('_', '-')}")
            continue
        args += [f"--{key.replace('_', '-')}", str(value)]
    for k, v in (train_cfg.get("overrides") or {}).items():
        args += ["--set", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    return " ".join(shlex.quote(a) for a in args)


def measure(model_dir: str | Path, task: str | None = None, split: str = "validation") -> dict:
    model_dir = Path(model_dir)
    card = checkpoint.load_card(model_dir)
    task = task or card.get("task", "sst2")
    model = checkpoint.load(model_dir)
    tr = trace_for(model_dir, task, split)
    per_exit = per_exit_metric(tr)
    destr = destructive_overthinking(tr)
    df = sweep_all(tr)
    final = float(per_exit.value[-1])
    front = pareto_front(df)
    ok = df[df["metric"] >= final - 0.01 - 1e-12].sort_values(["layer_speedup", "metric"], ascending=False)
    best = ok.iloc[0] if len(ok) else None
    per_policy = {}
    for name, g in df.groupby("policy"):
        pf = pareto_front(g)
        per_policy[name] = [{"threshold": float(r.threshold), "metric": float(r.metric),
                             "layer_speedup": float(r.layer_speedup), "flops_reduction": float(r.flops_reduction)}
                            for r in pf.itertuples()]
    size = size_report(model)
    cfg = model.cfg
    card.update({
        "name": model_dir.name, "task": task,
        "data": {"task": task, "train_split": "train", "eval_split": split, "eval_samples": int(tr.n),
                 "source": "GLUE (original TSV files through `datasets`)"},
        "config": cfg.to_dict(),
        "parameters": int(model.n_params()),
        "metric": tr.meta.get("metric", "accuracy"),
        "dev_per_exit": [float(v) for v in per_exit.value],
        "final": final,
        "oracle": float(oracle_accuracy(tr).value),
        "destructive_overthinking_rate": float(destr.rate.value),
        "destructive_share_of_errors": float(destr.share_of_errors.value),
        "size": {"fp32_bytes": size.fp32_bytes, "packed_bytes": size.packed_bytes, "ratio": size.ratio,
                 "disk_bytes": checkpoint.disk_bytes(model_dir),
                 "disk_ratio": size.fp32_bytes / checkpoint.disk_bytes(model_dir),
                 "binary_params": size.binary_params},
        "pareto": per_policy,
        "pareto_overall": [{"policy": r.policy, "threshold": float(r.threshold), "metric": float(r.metric),
                            "layer_speedup": float(r.layer_speedup)} for r in front.itertuples()],
        "best_within_1pt": None if best is None else {
            "policy": best["policy"], "threshold": float(best["threshold"]), "params": json.loads(best["params"]),
            "metric": float(best["metric"]), "layer_speedup": float(best["layer_speedup"]),
            "flops_reduction": float(best["flops_reduction"])},
    })
    train_cfg = (card.get("train") or {}).get("config")
    if train_cfg:
        card["reproduce"] = reproduce_command(train_cfg)
        done, planned = card["train"].get("epochs"), train_cfg.get("epochs")
        if done and planned and done < planned:
            card["reproduce_note"] = (f"the run was stopped after epoch {done} of {planned} (its schedule is that of "
                                      f"{planned} epochs); the checkpoint is the one saved after epoch {done}")
        for step in card.get("post_processing", []):
            card["reproduce"] += f" && {step}"
    card.pop("loss_history", None)
    return card


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.card", description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--task", default=None)
    a = ap.parse_args(argv)
    card = measure(a.model_dir, a.task)
    path = Path(a.model_dir) / "card.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2, default=float))
    tmp.replace(path)
    b = card["best_within_1pt"] or {}
    print(f"{card['name']}: {card['metric']} final {card['final']:.4f} | per exit "
          + " ".join(f"{v:.3f}" for v in card["dev_per_exit"])
          + f" | oracle {card['oracle']:.4f} | destructive {card['destructive_overthinking_rate']:.2%}"
          + f" | size {card['size']['disk_bytes'] / 2**20:.2f} MiB on disk ({card['size']['disk_ratio']:.1f}× vs fp32)"
          + (f" | best ≤1pt: {b['policy']} {b['threshold']:.4g} → {b['metric']:.4f} at {b['layer_speedup']:.2f}×"
             if b else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

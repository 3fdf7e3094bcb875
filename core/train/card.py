"""Model cards: measure a model directory and write the numbers into card.json — none are typed in.

    python -m core.card assets/models/minilm-ee-sst2 [--task sst2]
    python -m core.card --readme README.md assets/models/*      (the README's model table, from the cards)

Which split says what (design §2b): **dev** (GLUE validation) is the report split of every number; the
**calibration** split (core.data.splits: carved from train, never trained on) is where thresholds are chosen
and certified. The card holds: data and the calibration split (source, seed, rows, a hash of the row ids),
config, per-exit dev metric, oracle, destructive overthinking, sizes, the Pareto points per policy on dev,
the best policy within one point of full depth **chosen on calibration and reported on dev**, the
Learn-then-Test certificates (ε = 0.01 and 0.02, δ = 0.05) of the best policy with their dev replay, the
prototypes' centrality per block, and the command that reproduces the training run. A policy that sends
every sample to one block is labelled "equivalent to a k-block model", never an early-exit speed-up.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from core.analysis import destructive_overthinking, oracle_accuracy, pareto_front, per_exit_metric, sweep, sweep_all
from core.certify import certify, realized
from core.data import splits
from core.model import checkpoint, size_report
from core.policies import POLICIES, decide, make_policy
from core.run import trace_for
from core.trace import Trace
from core.train.card_table import write_readme_table
from core.train.prototypes import centrality, nearest_prototype_accuracy

CERT_EPSILONS = (0.01, 0.02)
CERT_DELTA = 0.05


def reproduce_command(train_cfg: dict) -> str:
    """The `python -m core.train …` line that reproduces a run, from the TrainConfig stored in the card."""
    from core.train.loop import TrainConfig  # train imports much of core; only this function needs it

    defaults = TrainConfig()
    args = ["python", "-m", "core.train"]
    for key, value in train_cfg.items():
        if (key in ("overrides", "resume") or value is None
                or (key != "task" and value == getattr(defaults, key, object()))):
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


def one_block(trace: Trace, policy) -> int | None:
    """The block (1-based) every sample exits at under ``policy``, or None when the exits spread."""
    blocks = np.unique(decide(policy, trace).exit_block)
    return int(blocks[0]) + 1 if len(blocks) == 1 else None


def _row(df_row) -> dict:
    return {"policy": df_row["policy"], "threshold": float(df_row["threshold"]), "params": json.loads(df_row["params"]),
            "metric": float(df_row["metric"]), "layer_speedup": float(df_row["layer_speedup"]),
            "flops_reduction": float(df_row["flops_reduction"])}


def best_within_1pt(cal: Trace, dev: Trace) -> dict | None:
    """The fastest policy × threshold within one point of the full model **on calibration**, and the same
    setting replayed on dev. Labelled when it sends every sample to one block."""
    df = sweep_all(cal)
    final = float(per_exit_metric(cal).value[-1])
    ok = df[df["metric"] >= final - 0.01 - 1e-12].sort_values(["layer_speedup", "metric"], ascending=False)
    if not len(ok):
        return None
    chosen = _row(ok.iloc[0])
    pol = make_policy(chosen["policy"], threshold=chosen["threshold"], **chosen["params"])
    on_dev = _row(sweep(dev, pol, [chosen["threshold"]]).iloc[0])
    k = one_block(dev, pol)
    return {"chosen_on": "calibration", "reported_on": "validation", "calibration": chosen, "dev": on_dev,
            "dev_final": float(per_exit_metric(dev).value[-1]),
            "equivalent_to_blocks": k,
            "label": (f"equivalent to a {k}-block model (every dev sample exits at block {k})" if k is not None
                      else f"{chosen['policy']} {chosen['threshold']:.4g}: {on_dev['layer_speedup']:.2f}× layers")}


def certificates(cal: Trace, dev: Trace, policy: str, params: dict) -> list[dict]:
    out = []
    base = make_policy(policy, threshold=POLICIES[policy].threshold_spec(cal).default, **params)
    for eps in CERT_EPSILONS:
        cert = certify(cal, base, eps, delta=CERT_DELTA)
        real = realized(cert, dev)
        k = one_block(dev, cert.policy) if cert.policy is not None else None
        out.append({**cert.to_dict(), "dev": {"risk": real.risk, "metric_drop": real.metric_drop,
                                              "accuracy_drop": real.accuracy_drop, "layer_speedup": real.layer_speedup,
                                              "flops_reduction": real.flops_reduction},
                    "equivalent_to_blocks": k})
    return out


def prototype_section(dev: Trace) -> dict | None:
    if dev.proto_emb is None or dev.prototypes is None:
        return None
    ratio = centrality(dev.proto_emb, dev.prototypes, dev.labels)
    return {"centrality_ratio": ratio.tolist(), "max_ratio": float(np.nanmax(ratio)),
            "nearest_prototype_accuracy": nearest_prototype_accuracy(dev.proto_dist, dev.labels).tolist(),
            "definition": "‖c_mk − μ_mk‖ / median_i ‖e_mi − μ_mk‖ on dev (μ: class k's dev centroid at block m); "
                          "≤ 0.5: the prototype sits in the central half of its class"}


def measure(model_dir: str | Path, task: str | None = None, split: str = "validation") -> dict:
    model_dir = Path(model_dir)
    card = checkpoint.load_card(model_dir)
    task = task or card.get("task", "sst2")
    model = checkpoint.load(model_dir)
    dev = trace_for(model_dir, task, split)
    per_exit = per_exit_metric(dev)
    destr = destructive_overthinking(dev)
    df = sweep_all(dev)
    size = size_report(model)
    holdout = bool(((card.get("train") or {}).get("config") or {}).get("holdout"))
    card.update({
        "name": model_dir.name, "task": task,
        "data": {"task": task, "train_split": "train − calibration" if holdout else "train", "eval_split": split,
                 "eval_samples": int(dev.n), "source": "GLUE (original TSV files through `datasets`)"},
        "config": model.cfg.to_dict(), "parameters": int(model.n_params()),
        "metric": dev.meta.get("metric", "accuracy"), "dev_per_exit": [float(v) for v in per_exit.value],
        "final": float(per_exit.value[-1]), "oracle": float(oracle_accuracy(dev).value),
        "destructive_overthinking_rate": float(destr.rate.value),
        "destructive_share_of_errors": float(destr.share_of_errors.value),
        "size": {"fp32_bytes": size.fp32_bytes, "packed_bytes": size.packed_bytes, "ratio": size.ratio,
                 "disk_bytes": checkpoint.disk_bytes(model_dir),
                 "disk_ratio": size.fp32_bytes / checkpoint.disk_bytes(model_dir), "binary_params": size.binary_params},
        "pareto": {name: [{"threshold": float(r.threshold), "metric": float(r.metric),
                           "layer_speedup": float(r.layer_speedup), "flops_reduction": float(r.flops_reduction)}
                          for r in pareto_front(g).itertuples()] for name, g in df.groupby("policy")},
        "prototypes": prototype_section(dev),
    })
    card.pop("best_within_1pt", None)
    card.pop("pareto_overall", None)
    if holdout:
        cal = trace_for(model_dir, task, "calibration")
        card["calibration"] = splits.split_info(task)
        best = best_within_1pt(cal, dev)
        card["recommended"] = best
        if best is not None:
            card["certificates"] = certificates(cal, dev, best["calibration"]["policy"], best["calibration"]["params"])
    else:
        card["calibration"] = None
        card["recommended"] = None
        card["note"] = ("trained on all of train (no calibration split held out): no threshold is recommended or "
                        "certified for it")
    train_cfg = (card.get("train") or {}).get("config")
    card["slenderized"] = slenderized(model_dir, task, train_cfg, card.get("certificates"))
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


def slenderized(model_dir: Path, task: str, train_cfg: dict | None, certs: list | None) -> dict | None:
    """COST-EFF's space and time next to the full-width model a slim one was slenderized from (its ``--init``),
    at its ε = 0.01 certificate (core.train.slim_report); None for a model that was not slenderized."""
    cfg = train_cfg or {}
    parent = cfg.get("init")
    if not (cfg.get("slim_heads") or cfg.get("slim_ffn") or cfg.get("emb_rank")) or parent in (None, "scratch",
                                                                                                "minilm"):
        return None
    from core.train.slim_report import space_and_time

    parent_dir = Path(parent) if Path(parent).is_dir() else model_dir.parent / Path(parent).name
    cert = next((c for c in certs or [] if c.get("epsilon") == CERT_EPSILONS[0]), None)
    return space_and_time(model_dir, parent_dir, task, cert)


def summary(card: dict) -> str:
    rec = card.get("recommended") or {}
    line = (f"{card['name']}: {card['metric']} final {card['final']:.4f} | per exit "
            + " ".join(f"{v:.3f}" for v in card["dev_per_exit"])
            + f" | oracle {card['oracle']:.4f} | destructive {card['destructive_overthinking_rate']:.2%}"
            + f" | {card['size']['disk_bytes'] / 2**20:.2f} MiB on disk ({card['size']['disk_ratio']:.1f}× vs fp32)")
    if rec:
        line += (f" | chosen on calibration: {rec['label']}, dev {rec['dev']['metric']:.4f} at "
                 f"{rec['dev']['layer_speedup']:.2f}×")
    return line


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.card", description=__doc__.split("\n")[0])
    ap.add_argument("model_dirs", nargs="+")
    ap.add_argument("--task", default=None)
    ap.add_argument("--readme", default=None, help="rewrite this README's model table from the cards (no measuring)")
    ap.add_argument("--what", default=None, help="a one-line description of the model for the README table")
    a = ap.parse_args(argv)
    if a.readme:
        write_readme_table(a.readme, a.model_dirs)
        print(f"wrote the model table of {a.readme} from {len(a.model_dirs)} cards")
        return 0
    for d in a.model_dirs:
        card = measure(d, a.task)
        if a.what:
            card["what"] = a.what
        path = Path(d) / "card.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(card, indent=2, default=float))
        tmp.replace(path)
        print(summary(card))
    return 0


if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.card", main))

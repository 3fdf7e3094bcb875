"""Certify exit thresholds from the command line: certified on a model's calibration split, replayed on dev.

    python -m core.certify --model assets/models/minilm-ee-sst2 --epsilon 0.01 0.02 --delta 0.05 [--html FILE]

(``python -m core.certify`` is the same.) Prints a table per policy × ε and the guarantee in words, and
optionally writes the standalone threshold report.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from core.certify import (
    METHODS,
    RISKS,
    certify,
    guarantee_text,
    holdout_warning,
    realized,
    report_html,
    smallest_epsilon_text,
)
from core.policies import POLICIES
from core.run import trace_for
from core.trace import Trace
from core.util import probability


def table(cal: Trace, dev: Trace, policies, epsilons, delta: float, risk: str, method: str):
    """(rows DataFrame, certificates) for every policy × ε: certified on ``cal``, replayed on ``dev``."""
    rows, certs = [], []
    for name in policies:
        for eps in epsilons:
            c = certify(cal, name, eps, delta, risk, method)
            r = realized(c, dev)
            certs.append(c)
            thr = "full depth" if c.threshold is None else f"{c.threshold:.4g}"
            rows.append({"policy": name, "ε": eps, "threshold": thr, "bound": c.bound, "cal risk": c.empirical_risk,
                         "cal ×": c.layer_speedup, "dev risk": r.risk, "dev acc drop": r.accuracy_drop,
                         **({} if r.metric_name == "accuracy" else {f"dev {r.metric_name} drop": r.metric_drop}),
                         "dev ×": r.layer_speedup})
    return pd.DataFrame(rows), certs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.certify", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a model directory (config.json, model.safetensors, card.json)")
    ap.add_argument("--epsilon", type=probability("--epsilon"), nargs="+", required=True,
                    help="allowed risk(s), 0.01 = one point")
    ap.add_argument("--delta", type=probability("--delta"), default=0.1,
                    help="failure probability (0.05 = 95 %% confidence)")
    ap.add_argument("--policy", nargs="+", default=["entropy"], help=f"one or more of {sorted(POLICIES)}")
    ap.add_argument("--risk", default="induced", choices=sorted(RISKS))
    ap.add_argument("--method", default="ltt", choices=sorted(METHODS))
    ap.add_argument("--task", default=None, help="default: the model card's task")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N rows of each split (quick runs)")
    ap.add_argument("--html", default=None, help="also write the threshold report of the first row to this file")
    a = ap.parse_args(argv)
    from core.model import load_card  # here, not at the top: it loads torch, which certify never needs
    model = Path(a.model)
    if not (model / "model.safetensors").is_file():
        ap.error(f"{model} is not a model directory (no model.safetensors): give e.g. assets/models/beex-sst2")
    card = load_card(model)
    task = a.task or card.get("task") or "sst2"
    cal = trace_for(model, task, "calibration", a.limit, progress=True)
    dev = trace_for(model, task, "validation", a.limit, progress=True)
    try:
        df, certs = table(cal, dev, a.policy, a.epsilon, a.delta, a.risk, a.method)
    except ValueError as e:
        ap.error(str(e))
    print(f"{model.name} · {task} · certified on calibration (n = {cal.n:,}), reported on dev (n = {dev.n:,}) · "
          f"δ = {a.delta:g} · risk {a.risk} · {a.method}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(smallest_epsilon_text(cal.n, a.delta, a.method))
    print(guarantee_text(certs[0]))
    notes = tuple(w for w in [holdout_warning(card)] if w)
    for w in notes:
        print(w, file=sys.stderr)
    if a.html:
        data = f"{task} · calibration n = {cal.n:,} · dev n = {dev.n:,}"
        Path(a.html).write_text(report_html(certs[0], dev, model.name, data, notes), encoding="utf-8")
        print(f"report written to {a.html}")
    return 0


if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.certify", main))

"""The training command line: ``python -m core.train …`` flags from TrainConfig's fields (``--set KEY=VALUE`` for
ModelConfig fields, ``--binarize`` parts, ``--resume``), then one run of core.train.loop."""
from __future__ import annotations

import argparse
import dataclasses
import json

from core.model import ModelConfig
from core.train.loop import TrainConfig, dist_info, train


def parse_args(argv=None) -> TrainConfig:
    ap = argparse.ArgumentParser(prog="python -m core.train", description="Train a multi-exit encoder on a GLUE task.")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("overrides", "binarize", "resume"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(getattr(defaults, f.name), bool):
            if getattr(defaults, f.name):      # on by default: --no-<name> turns it off
                ap.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false")
            else:
                ap.add_argument(flag, action="store_true")
            continue
        typ = {int: int, float: float, str: str}.get(type(getattr(defaults, f.name)), None)
        if f.name in ("limit", "eval_limit", "max_steps"):
            typ = int
        ap.add_argument(flag, type=typ, default=getattr(defaults, f.name))
    ap.add_argument("--binarize", default=None,
                    help="comma-separated parts to binarize (attention,ffn,embeddings,heads); 'none' for none")
    ap.add_argument("--resume", action="store_true", help="continue from the last finished epoch in --out")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a ModelConfig field, e.g. --set pooling=mean --set proto_dim=32")
    a = ap.parse_args(argv)
    over = {}
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    for kv in a.set:
        k, _, v = kv.partition("=")
        if k not in fields:
            ap.error(f"--set {k}: not a ModelConfig field ({', '.join(sorted(fields))})")
        try:
            over[k] = json.loads(v)
        except ValueError:
            over[k] = v          # a bare string such as pooling=mean
    tc = TrainConfig(**{f.name: getattr(a, f.name) for f in dataclasses.fields(TrainConfig)
                        if f.name not in ("overrides", "binarize")}, overrides=over)
    if a.binarize is not None:
        tc.binarize = () if a.binarize == "none" else tuple(p for p in a.binarize.split(",") if p)
    return tc


def main(argv=None) -> int:
    out = train(parse_args(argv))
    if dist_info()[0] == 0:
        print(f"saved {out}")
    return 0


if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.train", main))

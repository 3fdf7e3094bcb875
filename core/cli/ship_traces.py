"""Write the shipped models' dev and calibration traces into ``assets/traces/`` (core.run.shipped).

    python -m core.cli.ship_traces assets/models/*

Each trace is read from the cache or recorded (core.run.cache.trace_for), slimmed and saved under the digest of
the weights' content (core.run.shipped.shipped_file).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from core.run import RECORDER_VERSION, SHIPPED, add_to_index, load_bundle, shipped_file, slim, trace_for

SPLITS = ("validation", "calibration")


def ship(model_dir: Path, folder: Path = SHIPPED) -> list[Path]:
    task = load_bundle(model_dir).task
    if task is None:
        raise SystemExit(f"{model_dir}: its card names no task")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for split in SPLITS:
        tr = slim(trace_for(model_dir, task.name, split, progress=True), split)
        path = tr.save(folder / shipped_file(model_dir, task.name, split, RECORDER_VERSION))
        add_to_index(path, tr, folder)
        print(f"{path.name}: {tr.n:,} samples, {path.stat().st_size / 2**20:.1f} MiB", flush=True)
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    for m in ap.parse_args(argv).models:
        ship(m)


if __name__ == "__main__":
    main()

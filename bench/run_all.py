"""One report of every ExitLens benchmark; each comparison inside is measured side by side in one run.

    PYTHONPATH=. .venv/bin/python bench/run_all.py [--out bench/REPORT.md]

Runs, in turn: bench_core (Trace recording overhead, packed size), bench_policies (sweeps from a Trace vs.
re-running the model; 7 policies × 200 thresholds on 100,000 × 12), bench_app (page rerun, sentence →
trace, UMAP first/cached), bench_early_exit (real early exit on the shipped models: batch 1 / batch 64
wall-clock and FLOPs). It prints each one's output under a heading with the machine it ran on.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ["bench_core.py", "bench_policies.py", "bench_app.py", "bench_early_exit.py"]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, torch {torch.__version__}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None, help="also write the report (markdown) to this file")
    ap.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(BENCHES))
    a = ap.parse_args(argv)
    names = a.only.split(",") if a.only else BENCHES
    lines = ["# ExitLens benchmark report", "", f"- when: {time.strftime('%Y-%m-%d %H:%M %Z')}",
             f"- machine: {machine()}", ""]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    failed = 0
    for name in names:
        path = ROOT / "bench" / name
        if not path.is_file():
            lines += [f"## {name}", "", "(missing)", ""]
            continue
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True)
        out = "\n".join(l for l in r.stdout.splitlines() if l.strip())
        lines += [f"## {name} ({time.perf_counter() - t0:.0f} s)", "", "```", out or "(no output)", "```", ""]
        if r.returncode:
            failed += 1
            lines += ["```", r.stderr[-2000:], "```", ""]
        print("\n".join(lines[-6:]), flush=True)
    report = "\n".join(lines)
    if a.out:
        Path(a.out).write_text(report)
    print(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

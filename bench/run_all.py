"""Every ExitLens benchmark in one run, and the README's benchmark table from their output.

    PYTHONPATH=. .venv/bin/python bench/run_all.py [--readme README.md] [--out TABLE.md] [--report REPORT.md]
                                                   [--only a.py,b.py]

Runs, in turn: bench_core (Trace recording overhead, packed size), bench_policies (sweeps from a Trace vs.
re-running the model; 7 policies × 200 thresholds in memory and out of core at 100k / 300k / 1M), bench_app
(page rerun, sentence → trace, UMAP first/cached), bench_explain (salience, attention, counterfactuals),
bench_record (recording throughput per device and precision), bench_early_exit (real early exit on every
shipped model: batch 1 / batch 64 wall-clock, both sides length-sorted, and FLOPs). Each comparison inside a
bench is measured side by side in one run. It prints each bench's output under a heading with the machine.

``--readme README.md`` rewrites the README's "Scale out" table (out of core, recording per device) and its
"Latest benchmark figures" table in place; ``--out`` writes one table of every row (markdown). Both come from
the rows the benches print:
a row is a line ``benchmark | [details |] result | goal … | met`` (bench_core, bench_policies, bench_explain,
bench_record, bench_early_exit) or bench_app's ``  what   value   goal …  ✓``.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ["bench_core.py", "bench_policies.py", "bench_app.py", "bench_explain.py", "bench_record.py",
           "bench_early_exit.py"]


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
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, {gpu}, Python "
            f"{platform.python_version()}, torch {torch.__version__}")


def _pipe_row(line: str) -> tuple[str, str, str, str] | None:
    fields = [f.strip() for f in line.split("|")]
    at = next((i for i, f in enumerate(fields) if f.startswith("goal")), None)
    if at is None or at < 2:
        return None
    details = [f for f in fields[1:at - 1] if f]
    what = fields[0] + (f" ({'; '.join(details)})" if details else "")
    verdict = fields[at + 1] if at + 1 < len(fields) else ""
    return what, fields[at - 1], fields[at][4:].strip(), verdict


def _app_row(line: str, section: str) -> tuple[str, str, str, str] | None:
    """bench_app's ``  {what:<58} {value:>12}   goal {goal}{mark}``."""
    if not line.startswith("  ") or "   goal " not in line:
        return None
    left, right = line.split("   goal ", 1)
    verdict = "met" if "✓" in right else "MISSED" if "✗" in right else ""
    goal = right.split("  ✓")[0].split("  ✗")[0].strip()
    m = re.match(r"^\s*(.*\S)\s{2,}(\S.*)$", left)        # the value: after the last gap of 2+ spaces
    what, value = (m.group(1), m.group(2)) if m else (left[:-12].strip(), left[-12:].strip())
    return (f"{section}: {what}" if section else what), value, goal, verdict


def table_rows(bench: str, out: str) -> list[tuple[str, str, str, str]]:
    """(benchmark, result, goal, verdict) of every row a bench printed (see the module docstring)."""
    rows, section = [], ""
    for line in out.splitlines():
        row = _pipe_row(line) if "|" in line else _app_row(line, section)
        if row:
            rows.append((f"{row[0]} (`bench/{bench}`)",) + row[1:])
        elif line.strip() and not line[0].isspace():
            section = line.split(" (")[0].strip().rstrip(":")
    return rows


def markdown_table(rows: list[tuple[str, str, str, str]], header: list[str]) -> str:
    esc = lambda s: s.replace("|", "\\|")
    lines = header + ["", "| benchmark | result | goal |", "|---|---|---|"]
    for what, result, goal, verdict in rows:
        goal = goal + (" (missed)" if verdict == "MISSED" else "")
        lines.append(f"| {esc(what)} | {esc(result)} | {esc(goal)} |")
    return "\n".join(lines) + "\n"


SCALE_BENCHES = ("bench_record.py",)          # and bench_policies' out-of-core rows: the README's "Scale out"


def is_scale_row(row: tuple[str, str, str, str]) -> bool:
    return row[0].startswith("out of core") or any(f"`bench/{b}`" in row[0] for b in SCALE_BENCHES)


def replace_between(text: str, name: str, body: str) -> str:
    """``text`` with what stands between ``<!-- name:start -->`` and ``<!-- name:end -->`` replaced by ``body``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"the README has no {start} … {end} markers")
    head, rest = text.split(start, 1)
    return head + start + "\n" + body.rstrip("\n") + "\n" + end + rest.split(end, 1)[1]


def kept_lines(text: str, name: str, ran: list[str]) -> list[str]:
    """The table lines between ``name``'s markers that came from benches *not* run this time (kept as they were)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return []
    body = text.split(start, 1)[1].split(end, 1)[0]
    return [line for line in body.splitlines() if line.startswith("| ") and "(`bench/" in line
            and not any(f"(`bench/{b}`)" in line for b in ran)]


def write_readme(readme: str | Path, rows: list, header: list[str], ran: list[str] | None = None) -> None:
    """The README's two generated tables: "Scale out" (out of core, recording per device) and the rest. Rows of
    benches not in ``ran`` (a run with --only) stay as they were, with a note of it."""
    path = Path(readme)
    text = path.read_text()
    ran = ran if ran is not None else sorted({r[0].split("(`bench/")[-1].split("`)")[0] for r in rows})
    for name, part in (("scale", [r for r in rows if is_scale_row(r)]),
                       ("bench", [r for r in rows if not is_scale_row(r)])):
        old = kept_lines(text, name, ran)
        if not part:                       # nothing of this table ran: it stays exactly as it was
            continue
        note = [f"Rows of {', '.join(sorted({l.split('(`bench/')[-1].split('`)')[0] for l in old}))} are from an "
                "earlier run."] if old else []
        table = markdown_table(part, header + note)
        text = replace_between(text, name, table.rstrip("\n") + ("\n" + "\n".join(old) if old else "") + "\n")
    path.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None, help="write the README's benchmark table (markdown) to this file")
    ap.add_argument("--readme", default=None, help="rewrite the README's scale and benchmark tables from this run")
    ap.add_argument("--report", default=None, help="also write the whole report (markdown) to this file")
    ap.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(BENCHES))
    a = ap.parse_args(argv)
    names = a.only.split(",") if a.only else BENCHES
    load0 = os.getloadavg()[0]
    lines = ["# ExitLens benchmark report", "", f"- when: {time.strftime('%Y-%m-%d %H:%M %Z')}",
             f"- machine: {machine()}", f"- load average at start: {load0:.1f}", ""]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    failed, rows = 0, []
    for name in names:
        path = ROOT / "bench" / name
        if not path.is_file():
            lines += [f"## {name}", "", "(missing)", ""]
            continue
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True)
        out = "\n".join(l for l in r.stdout.splitlines() if l.strip())
        rows += table_rows(name, out)
        lines += [f"## {name} ({time.perf_counter() - t0:.0f} s)", "", "```", out or "(no output)", "```", ""]
        if r.returncode:
            failed += 1
            lines += ["```", r.stderr[-2000:], "```", ""]
        print("\n".join(lines[-6:]), flush=True)
    report = "\n".join(lines)
    if a.report:
        Path(a.report).write_text(report)
    if a.out or a.readme:
        header = [f"Measured by `bench/run_all.py` on {time.strftime('%Y-%m-%d')}: {machine()}; load average "
                  f"{load0:.1f} at the start and {os.getloadavg()[0]:.1f} at the end (other work on the machine "
                  "stretches wall-clock figures). Each ratio is measured side by side in one run."]
        if a.out:
            Path(a.out).write_text(markdown_table(rows, header))
        if a.readme:
            write_readme(a.readme, rows, header, ran=names)
    print(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

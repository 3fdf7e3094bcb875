"""Benchmark of the central contract "record once, decide anywhere" (design README §3), measured in one run.

(a) Sweeps: 7 threshold policies × 200 thresholds on a synthetic Trace of 100,000 samples × 12 blocks
    (K = 2, with prototype distances and LTE scores) — goal ≤ 0.5 s in total on the 2-core dev machine.
(b) 20 entropy thresholds: a sweep over a recorded Trace versus re-running the model once per threshold
    (``run_model(texts) -> Trace`` then ``decide``), which is what a tool without traces has to do.
(c) Out of core (core.trace.store + core.analysis.chunked): the same 7 × 200 sweeps over a store on disk of 100,000,
    300,000 and 1,000,000 samples × 12 blocks, side by side with the in-memory Trace of the same samples —
    seconds, seconds per 100k (linear in N) and peak memory (VmHWM of a fresh process that does only
    that, imports included); both sides must give the same table. Goal: 1M in ≤ 5 s within ≤ 500 MB.

    python -m bench.bench_policies                 # all three
    python -m bench.bench_policies --only a        # just the in-memory sweeps
    python -m bench.bench_policies --only c --sizes 100000,1000000 --no-in-memory
    python -m bench.bench_policies --texts 256 --preset tiny-bert

Timings are wall-clock, the median of --repeats runs (the best is shown too); the load average is printed
because other processes on a 2-core machine move these numbers.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

if __package__ in (None, ""):           # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.analysis import sweep  # noqa: E402
from core.policies import POLICIES, EntropyThreshold, Patience, decide  # noqa: E402
from core.trace import Trace  # noqa: E402

SWEEP_POLICIES = ("entropy", "norm_entropy", "maxprob", "patience", "frac_reduction", "edr", "lte")
GOAL_A_S = 0.5
GOAL_C_S, GOAL_C_MB, GOAL_C_N = 5.0, 500.0, 1_000_000
CHUNK = 65536               # the synthetic traces of (c) are made (and stored) 65,536 samples at a time


def synthetic_trace(n: int = 100_000, n_blocks: int = 12, n_classes: int = 2, seed: int = 0) -> Trace:
    """Exits that sharpen with depth and get more often right, so every policy spreads its exits."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_blocks, n_classes)).astype(np.float32) * np.linspace(0.5, 3, n_blocks)[None, :, None]
    logits[np.arange(n), :, labels] += np.linspace(0, 2, n_blocks, dtype=np.float32)[None, :]
    return Trace(logits=logits, pooled=np.zeros((n, n_blocks, 1), np.float16), labels=labels, texts=[""] * n,
                 flops_per_block=np.full(n_blocks, 1.0e9), flops_embed=1.0e8,
                 proto_dist=rng.gamma(2.0, 1.0, (n, n_blocks, n_classes)).astype(np.float32),
                 lte=rng.random((n, n_blocks)).astype(np.float32), meta={"task": "synthetic"})


def thresholds_for(name: str, trace: Trace, count: int = 200) -> np.ndarray:
    cls = POLICIES[name]
    if cls is Patience:     # only 1..L-1 are distinct; cycle them so the policy does the same 200 thresholds' work
        return np.resize(cls.grid(trace), count)
    return cls.grid(trace, count)


def _timed(fn: Callable, repeats: int) -> tuple[float, float, object]:
    """(median, best) seconds over `repeats` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(min(times)), out


def bench_sweeps(trace: Trace, count: int = 200, repeats: int = 5) -> dict:
    """(a): seconds per policy and for all seven together (one warm-up run first)."""
    grids = {name: thresholds_for(name, trace, count) for name in SWEEP_POLICIES}
    run_all = lambda: [sweep(trace, name, grids[name]) for name in SWEEP_POLICIES]
    run_all()                                                   # warm-up: first-touch page faults, imports
    per_policy = {name: _timed(lambda name=name: sweep(trace, name, grids[name]), repeats)[:2]
                  for name in SWEEP_POLICIES}
    median, best, frames = _timed(run_all, repeats)
    assert all(len(f) == count for f in frames)
    return {"per_policy": per_policy, "total_median": median, "total_best": best}


def bench_sweep_vs_rerun(run_model: Callable[[Sequence[str]], Trace], texts: Sequence[str],
                         thresholds: np.ndarray, repeats: int = 3) -> dict:
    """(b): one model run + a vectorized sweep, against one model run per threshold.

    ``run_model(texts) -> Trace`` runs every block on every text (``core.inference.record``). The re-run
    side pays the model once per threshold and then decides (what a tool without recorded traces does,
    or a tool that really stops early: stopping saves at most the blocks after the exit)."""
    run_model(texts[: max(1, len(texts) // 8)])                 # warm-up: lazy init, allocator, threads
    t_record, _, trace = _timed(lambda: run_model(texts), 1)
    t_sweep, t_sweep_best, df = _timed(lambda: sweep(trace, "entropy", thresholds), repeats)

    def rerun():
        return [decide(EntropyThreshold(float(t)), run_model(texts)).exit_block for t in thresholds]

    t_rerun, _, exits = _timed(rerun, 1)
    # both sides must give the same answer, or the ratio means nothing
    for t, e in zip(thresholds, exits):
        assert np.array_equal(e, decide(EntropyThreshold(float(t)), trace).exit_block)
    return {"record_s": t_record, "sweep_s": t_sweep, "sweep_best_s": t_sweep_best, "rerun_s": t_rerun,
            "n_texts": len(texts), "n_thresholds": len(thresholds), "n_blocks": trace.n_blocks,
            "ratio_sweep": t_rerun / t_sweep, "ratio_with_record": t_rerun / (t_record + t_sweep),
            "rows": len(df)}


def _texts(n: int) -> list[str]:
    """SST-2 dev sentences when the GLUE files are here, else the team's probe sentences, repeated."""
    try:
        from core.data import load_task
        texts = list(load_task("sst2", "validation", limit=n, source="local")["text"])
        if len(texts) >= n:
            return texts[:n]
    except Exception:  # no local GLUE: fall back to the probes shipped in assets/
        pass
    from core.data import load_probes
    probes = list(load_probes()["text"])
    return (probes * (n // len(probes) + 1))[:n]


def model_runner(preset_name: str, texts: Sequence[str], max_len: int, batch_size: int) -> tuple[Callable, str]:
    """A ``run_model(texts) -> Trace`` for a freshly initialised model of the given preset (weights do not
    change the cost of a full run)."""
    import torch

    from core.model import MultiExitEncoder, preset, train_wordpiece
    from core.run import record

    torch.manual_seed(0)
    tok = train_wordpiece(list(texts) * 2, vocab_size=2000, min_frequency=1)
    cfg = preset(preset_name, vocab_size=tok.get_vocab_size(), max_len=max(max_len, 8))
    model = MultiExitEncoder(cfg).eval()
    desc = (f"{preset_name} preset: {cfg.n_blocks} blocks × {cfg.hidden} wide ({cfg.block}), "
            f"{model.n_params():,} parameters, torch threads {torch.get_num_threads()}")
    return (lambda xs: record(model, tok, xs, batch_size=batch_size, max_len=max_len)), desc


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# (c) out of core: every measurement in a fresh process, so its peak memory is its own

def synthetic_chunks(n: int):
    """(first row, Trace) pieces of the synthetic trace of n samples: the same samples however they are held."""
    for i, s in enumerate(range(0, n, CHUNK)):
        yield s, synthetic_trace(min(CHUNK, n - s), seed=i)


def write_store(path: str, n: int) -> None:
    from core.trace import StoreWriter, write_manifest

    w = StoreWriter(path, chunk_rows=CHUNK)
    for s, tr in synthetic_chunks(n):
        w.write(np.arange(s, s + tr.n), tr.logits, tr.labels, [""] * tr.n, None, tr.pooled, None, tr.proto_dist,
                tr.lte)
    write_manifest(path, [w.close()], tr.flops_per_block, tr.flops_embed, tr.meta)


def in_memory_trace(n: int) -> Trace:
    parts = [tr for _, tr in synthetic_chunks(n)]
    cat = lambda name: np.concatenate([getattr(t, name) for t in parts])
    return Trace(logits=cat("logits"), pooled=cat("pooled"), labels=cat("labels"), texts=[""] * n,
                 flops_per_block=parts[0].flops_per_block, flops_embed=parts[0].flops_embed,
                 proto_dist=cat("proto_dist"), lte=cat("lte"), meta=parts[0].meta)


def peak_mb() -> float:
    """This process's peak resident memory: VmHWM of /proc/self/status (ru_maxrss would carry the peak of the
    process that started this one across fork + exec), ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(mode: str, path: str, n: int, repeats: int) -> None:
    """One measurement (run as ``--worker``): prints a JSON line with seconds, peak MB and the table's digest."""
    from core.analysis import chunked
    from core.trace import TraceStore

    if mode == "write":
        return write_store(path, n)
    base = peak_mb()
    t0 = time.perf_counter()
    data = TraceStore(path) if mode == "store" else in_memory_trace(n)
    load = time.perf_counter() - t0
    grids = {name: thresholds_for(name, data, 200) for name in SWEEP_POLICIES}
    if mode == "store":        # one pass over the chunks for the seven sweeps
        run = lambda: pd_concat(chunked.sweep_many(data, [(name, grids[name], {}) for name in SWEEP_POLICIES]))
    else:
        run = lambda: pd_concat([sweep(data, name, grids[name]) for name in SWEEP_POLICIES])
    median, best, df = _timed(run, repeats)           # the store is read from disk in every run
    digest = hashlib.sha256(df.drop(columns="params").to_csv().encode()).hexdigest()[:16]
    print(json.dumps({"median": median, "best": best, "load": load, "rows": len(df), "digest": digest,
                      "base_mb": base, "peak_mb": peak_mb()}))


def pd_concat(frames):
    import pandas as pd
    return pd.concat(frames, ignore_index=True)


def _run_worker(*args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "bench.bench_policies", "--worker", *map(str, args)], env=env,
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def bench_out_of_core(sizes: list[int], repeats: int, in_memory: bool) -> bool:
    """(c): prints one line per N — store and (optionally) in-memory side by side — and the goal rows."""
    print(f"\n(c) 7 policies × 200 thresholds, synthetic N × 12 blocks, K = 2 (proto_dist, lte): a store on disk "
          f"read chunk by chunk\n    (core.analysis) vs the in-memory Trace; each in a fresh process; median of "
          f"{repeats}; peak = VmHWM incl. imports")
    print(f"    {'N':>10} | {'store s':>8} {'s/100k':>7} {'peak MB':>8} | {'memory s':>9} {'s/100k':>7} {'peak MB':>8}"
          f" | same table")
    res = {}
    with tempfile.TemporaryDirectory(prefix="exitlens-bench-") as tmp:
        for n in sizes:
            path = f"{tmp}/store-{n}"
            _run_worker("write", path, n, 1)
            st = _run_worker("store", path, n, repeats)
            mem = _run_worker("memory", path, n, repeats) if in_memory else {}
            res[n] = st
            m = (f"{mem['median']:>9.2f} {mem['median'] * 1e5 / n:>7.3f} {mem['peak_mb']:>8.0f}" if mem
                 else f"{'—':>9} {'—':>7} {'—':>8}")
            same = ("yes" if mem["digest"] == st["digest"] else "NO") if mem else "—"
            print(f"    {n:>10,} | {st['median']:>8.2f} {st['median'] * 1e5 / n:>7.3f} {st['peak_mb']:>8.0f} | {m} "
                  f"| {same}")
            if mem and mem["digest"] != st["digest"]:
                raise AssertionError(f"the store's sweep table differs from the in-memory one at N = {n}")
    big, small = max(res), min(res)
    top = res[big]
    ok_time, ok_mem = top["median"] <= GOAL_C_S, top["peak_mb"] <= GOAL_C_MB
    slope = (top["median"] / big) / (res[small]["median"] / small) if big != small else 1.0
    print(f"out of core: {big:,} × 12, 7 policies × 200 thresholds | {top['median']:.2f} s | goal ≤ {GOAL_C_S:g} s "
          f"| {'met' if ok_time else 'MISSED'}")
    print(f"out of core: peak memory of that sweep (process incl. imports, {top['base_mb']:.0f} MB before) | "
          f"{top['peak_mb']:.0f} MB | goal ≤ {GOAL_C_MB:g} MB | {'met' if ok_mem else 'MISSED'}")
    print(f"out of core: seconds per sample at {big:,} / at {small:,} (linear in N) | {slope:.2f}× | goal ≤ 1.3× "
          f"| {'met' if slope <= 1.3 else 'MISSED'}")
    return ok_time and ok_mem


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_policies", description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("a", "b", "c"), default=None)
    ap.add_argument("--sizes", default="100000,300000,1000000", help="(c) samples of the stores, comma-separated")
    ap.add_argument("--no-in-memory", action="store_true", help="(c) skip the in-memory side (1M needs ~1.2 GB)")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=100_000, help="(a) samples in the synthetic trace")
    ap.add_argument("--blocks", type=int, default=12, help="(a) blocks in the synthetic trace")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--texts", type=int, default=128, help="(b) sentences the model runs on")
    ap.add_argument("--preset", default="beex", help="(b) model preset (core.model.config), e.g. beex, tiny-bert")
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    if args.worker:
        mode, path, n, repeats = args.worker
        _worker(mode, path, int(n), int(repeats))
        return 0

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"ExitLens policy benchmark — numpy {np.__version__}, {os.cpu_count()} CPUs, load average {load}")
    ok = True
    if args.only in (None, "a"):
        trace = synthetic_trace(args.n, args.blocks)
        res = bench_sweeps(trace, 200, args.repeats)
        print(f"\n(a) sweeps on a synthetic Trace: {trace.n:,} samples × {trace.n_blocks} blocks, K = "
              f"{trace.n_classes}, with proto_dist and lte; 200 thresholds per policy")
        print(f"    {'policy':<16}{'median s':>10}{'best s':>10}")
        for name, (med, best) in res["per_policy"].items():
            note = "  (t ∈ 1..L-1 cycled to 200)" if name == "patience" else ""
            print(f"    {name:<16}{med:>10.4f}{best:>10.4f}{note}")
        verdict = "PASS" if res["total_median"] <= GOAL_A_S else "MISS"
        ok &= verdict == "PASS"
        print(f"    {'total 7 × 200':<16}{res['total_median']:>10.4f}{res['total_best']:>10.4f}"
              f"   goal ≤ {GOAL_A_S} s (median): {verdict}")
        print(f"in memory: {trace.n:,} × {trace.n_blocks}, 7 policies × 200 thresholds | {res['total_median']:.3f} s | "
              f"goal ≤ {GOAL_A_S} s | {'met' if verdict == 'PASS' else 'MISSED'}")
    if args.only in (None, "b"):
        texts = _texts(args.texts)
        run_model, desc = model_runner(args.preset, texts, args.max_len, args.batch_size)
        thresholds = np.linspace(0.0, np.log(2), 20)
        res = bench_sweep_vs_rerun(run_model, texts, thresholds, repeats=args.repeats)
        print(f"\n(b) {res['n_thresholds']} entropy thresholds on {res['n_texts']} sentences; model: {desc}")
        rows = [("record the Trace once (one model run)", res["record_s"]),
                (f"sweep {res['n_thresholds']} thresholds over the Trace", res["sweep_s"]),
                (f"re-run the model {res['n_thresholds']}× + decide", res["rerun_s"])]
        for label, s in rows:
            print(f"    {label:<44}{s:>12.4f} s")
        print(f"    {'speed ratio: re-run / sweep':<44}{res['ratio_sweep']:>12,.0f} ×")
        print(f"    {'speed ratio: re-run / (record + sweep)':<44}{res['ratio_with_record']:>12.1f} ×"
              f"   (one model run instead of {res['n_thresholds']})")
        print(f"20-threshold sweep from a Trace vs re-running the model per threshold | "
              f"{res['ratio_sweep']:,.0f}× faster | goal ≥ 1000× | {'met' if res['ratio_sweep'] >= 1000 else 'MISSED'}")
    if args.only in (None, "c"):
        ok &= bench_out_of_core([int(x) for x in args.sizes.split(",")], min(args.repeats, 3), not args.no_in_memory)
    print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the central contract "record once, decide anywhere" (design README §3), measured in one run.

(a) Sweeps: 7 threshold policies × 200 thresholds on a synthetic Trace of 100,000 samples × 12 blocks
    (K = 2, with prototype distances and LTE scores) — goal ≤ 0.5 s in total on the 2-core dev machine.
(b) 20 entropy thresholds: a sweep over a recorded Trace versus re-running the model once per threshold
    (``run_model(texts) -> Trace`` then ``decide``), which is what a tool without traces has to do.

    python -m bench.bench_policies                 # both
    python -m bench.bench_policies --only a        # just the sweeps
    python -m bench.bench_policies --texts 256 --preset tiny-bert

Timings are wall-clock, the median of --repeats runs (the best is shown too); the load average is printed
because other processes on a 2-core machine move these numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
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

    from core.config import preset
    from core.inference import record
    from core.model import MultiExitEncoder
    from core.tokenizer import train_wordpiece

    torch.manual_seed(0)
    tok = train_wordpiece(list(texts) * 2, vocab_size=2000, min_frequency=1)
    cfg = preset(preset_name, vocab_size=tok.get_vocab_size(), max_len=max(max_len, 8))
    model = MultiExitEncoder(cfg).eval()
    desc = (f"{preset_name} preset: {cfg.n_blocks} blocks × {cfg.hidden} wide ({cfg.block}), "
            f"{model.n_params():,} parameters, torch threads {torch.get_num_threads()}")
    return (lambda xs: record(model, tok, xs, batch_size=batch_size, max_len=max_len)), desc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_policies", description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("a", "b"), default=None)
    ap.add_argument("--n", type=int, default=100_000, help="(a) samples in the synthetic trace")
    ap.add_argument("--blocks", type=int, default=12, help="(a) blocks in the synthetic trace")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--texts", type=int, default=128, help="(b) sentences the model runs on")
    ap.add_argument("--preset", default="beex", help="(b) model preset (core.config), e.g. beex, tiny-bert")
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)

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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

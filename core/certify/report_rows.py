"""Which rows a number is measured on, and what may honestly be said about it (numpy only).

Every figure the app or a report shows names its rows (count and split), and is called *held-out* only
when the threshold behind it was chosen on other rows. This module holds the words and the small checks
behind that rule, shared by core.certify.report and the app's pages:

* :func:`rows_text` — "the other half of sst2 validation: 436 of 872 rows";
* :func:`single_block` / :func:`equivalent_text` — a policy that sends every sample to one block is
  "equivalent to a k-block model", never an early-exit speed-up;
* :func:`sampling_error` / :func:`small_sample_text` — the 95 % sampling error of a rate on n rows, and the
  warning under ~100 rows;
* :func:`meeting_threshold` — on a given split, the threshold of the grid that meets a target (or None);
* :func:`how_chosen` / :func:`figures_heading` — the report's words for the threshold and its figures.
"""
from __future__ import annotations

import math

import numpy as np

SMALL_ROWS = 100          # below this many rows a rate's sampling error is several points


def rows_text(n: int, data: str = "", of: int | None = None, part: str = "") -> str:
    """"sst2 validation: all 872 rows", or with ``part`` and ``of``: "the other half of sst2 validation:
    436 of 872 rows"."""
    where = f"{part} of {data}" if part and data else (part or data or "the data")
    count = f"{n:,} of {of:,} rows" if of is not None and of != n else f"all {n:,} rows"
    return f"{where}: {count}"


def single_block(exit_block) -> int | None:
    """The block (1-based) every sample exits at, or None when the exits spread over blocks (or no rows)."""
    blocks = np.unique(np.asarray(exit_block))
    return int(blocks[0]) + 1 if len(blocks) == 1 else None


def equivalent_text(k: int, n_blocks: int) -> str:
    """What a policy that exits every sample at block ``k`` is: a truncated model, not an early exit."""
    if k == n_blocks:
        return f"the full {n_blocks}-block model (every sample runs every block)"
    return (f"equivalent to a {k}-block model: every sample exits at block {k}, so nothing is decided per "
            f"sample — this is a smaller model, not an early-exit speed-up")


def sampling_error(rate: float, n: int) -> float:
    """Half-width of the 95 % normal interval of a rate measured on ``n`` rows (1.96·√(p(1−p)/n)); with
    p = 0 or 1 the rule-of-three bound 3/n is used instead of a zero width."""
    if n <= 0 or not math.isfinite(rate):
        return float("nan")
    p = min(max(rate, 0.0), 1.0)
    if p in (0.0, 1.0):
        return min(3.0 / n, 1.0)
    return 1.96 * math.sqrt(p * (1 - p) / n)


def small_sample_text(n: int, rate: float, what: str = "this figure") -> str | None:
    """A warning when ``n`` rows are too few for ``rate`` to mean much (None from SMALL_ROWS rows on)."""
    if n >= SMALL_ROWS:
        return None
    err = sampling_error(rate, n)
    return (f"Only {n:,} rows: {what} ({rate:.4f}) has a sampling error of about ±{err:.3f} (95 %), so it says "
            f"little — use at least {SMALL_ROWS} rows per half (a larger split or upload).")


def meeting_threshold(df, baseline: float, target_drop: float | None = None,
                      target_speedup: float | None = None, speed: str = "layer_speedup") -> float | None:
    """On one split's sweep ``df`` (columns threshold, metric, ``speed``): the grid threshold that meets the
    target there — the fastest within ``target_drop`` of ``baseline``, or the most accurate with ``speed`` ≥
    ``target_speedup`` — or None when none does."""
    m, v = df["metric"].to_numpy(dtype=float), df[speed].to_numpy(dtype=float)
    if target_drop is not None:
        ok = m >= baseline - target_drop - 1e-12
        key = (m, v)
    else:
        ok = v >= target_speedup - 1e-12
        key = (v, m)
    cand = np.flatnonzero(ok)
    if not len(cand):
        return None
    best = cand[np.lexsort((-cand, key[0][cand], key[1][cand]))[-1]]
    return float(df["threshold"].iloc[best])


def same_threshold(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


def how_chosen(threshold: float | None, certified: float | None, has_certificate: bool, symbol: str) -> str:
    """The report's "how it was chosen" for the threshold it documents."""
    if not has_certificate:
        return "chosen by the user (not certified)"
    if same_threshold(threshold, certified):
        return "certified on a calibration split (and applied)"
    cert = "the full model" if certified is None else f"{symbol} = {certified:.6g}"
    return (f"chosen by the user on the page; the certificate below is for {cert}, which is not the threshold "
            "applied, so this threshold carries no guarantee")


def figures_heading(held_out: bool, rows: str) -> tuple[str, str]:
    """(section title, sentence) for a table of a threshold's figures on ``rows``."""
    if held_out:
        return "Held-out figures", f"Measured on {rows}, which the threshold was not chosen on."
    return ("Figures on the report rows",
            f"Measured on {rows}. The threshold was not chosen on other rows (it was set on the page, where "
            "these rows are shown), so these are not held-out figures and may be optimistic.")

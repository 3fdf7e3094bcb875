"""Slices: where an exit rule hurts — one row per slice of the data (true label, predicted class, length,
negation, a regular expression, confidence, any column) with the policy's accuracy against the final exit's.

A certificate (core.certify.ltt) bounds the risk *on average* over new inputs; one slice can break it while the
average holds (design README §2b). ``slice_table`` shows each slice's exit-induced error rate with its upper
confidence bound and its speed-up with a confidence interval; core.certify.groups certifies every slice at once.

    slicing = make_slicing(trace, "length")               # or "label", "pred", "negation", "regex", an array …
    slice_table(trace, policy, slicing)                    # a DataFrame, one row per slice value

Every column is a ratio of integer counts per slice (``slice_sums``), so a store read chunk by chunk
(core.certify.store_slices) gives the same table to the last digit. A sample's slice depends on its input and the
final exit only — never on the threshold — so the same slicing can be used to certify.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analysis.depth import prediction_depth
from core.analysis.risk_stats import upper_bound
from core.policies import Exits, class_argmax, decide
from core.trace import Trace

# Word patterns of the probe categories (assets/probes.tsv) that a regular expression can find; GLUE's SST-2 text is
# tokenized ("is n't"), so "n't" is matched as a word of its own as well as inside "isn't".
PATTERNS = {
    "negation": r"\b(?:not|no|never|nothing|nobody|none|neither|nor|nowhere|without|cannot)\b|n't\b",
    "contrast": r"\b(?:but|however|although|though|yet|whereas|despite|nevertheless|instead)\b",
    "intensifier": r"\b(?:very|really|extremely|so|too|incredibly|absolutely|utterly|truly|remarkably|totally)\b",
}
LENGTH_EDGES = (10, 20, 30)                 # words: 1–10, 11–20, 21–30, > 30
CONFIDENCE_EDGES = (0.6, 0.7, 0.8, 0.9)     # the final exit's max_k p_k: ≤ .6, .6–.7, …, > .9
BY = {"label": "true label", "pred": "predicted class (final exit)", "length": "length (words)",
      "negation": "negation (word pattern)", "contrast": "contrast (word pattern)",
      "intensifier": "intensifier (word pattern)", "regex": "regular expression on the text",
      "confidence": "confidence of the final exit", "category": "probe category (recorded)"}
MAX_SLICES = 30                              # a column with more values keeps the 29 commonest + "other"


@dataclass(frozen=True)
class Slicing:
    """How to cut samples into G slices: ``codes(trace, rows)`` → (n,) ints in [0, G) indexing ``values``.

    kind "label" | "pred" | "length" | "confidence" | "pattern" read the chunk's own arrays (a store is sliced
    chunk by chunk); kind "array" holds one code per caller row (``codes_all``), e.g. a CSV column."""

    name: str                               # what the slices are, e.g. "length (words)"
    values: tuple[str, ...]                 # slice names, in display order
    kind: str
    pattern: str = ""
    edges: tuple[float, ...] = ()
    codes_all: np.ndarray | None = None     # (N,) int64 for kind "array"

    @property
    def needs_texts(self) -> bool:
        return self.kind in ("length", "pattern")

    def __len__(self) -> int:
        return len(self.values)

    def codes(self, trace: Trace, rows=None) -> np.ndarray:
        """(n,) int64 slice index of each sample of ``trace`` (``rows``: their caller rows, for kind "array")."""
        if self.kind == "array":
            return self.codes_all if rows is None else self.codes_all[np.asarray(rows)]
        if self.kind == "label":
            y = trace.labels
            return np.where(y >= 0, y, trace.n_classes).astype(np.int64)
        if self.kind == "pred":
            return class_argmax(trace.logits[:, -1]).astype(np.int64)
        if self.kind == "confidence":
            conf = trace.probs[:, -1].max(axis=-1).astype(np.float64)
            return np.searchsorted(np.asarray(self.edges), conf, side="left").astype(np.int64)   # (lo, hi] bins
        text = _texts(trace)
        if self.kind == "length":
            words = np.array([len(t.split()) for t in text], np.float64)
            return np.searchsorted(np.asarray(self.edges), words, side="left").astype(np.int64)
        rx = re.compile(self.pattern, re.IGNORECASE)
        return np.array([0 if rx.search(t) else 1 for t in text], np.int64)


def _texts(trace: Trace) -> list[str]:
    if trace.texts_b is None:
        return trace.texts
    return [f"{a} {b}" for a, b in zip(trace.texts, trace.texts_b)]


def _bins(edges, fmt, unit: str = "") -> tuple[str, ...]:
    e = list(edges)
    names = [f"≤ {fmt(e[0])}{unit}"] + [f"{fmt(a)}–{fmt(b)}{unit}" for a, b in zip(e[:-1], e[1:])]
    return tuple(names + [f"> {fmt(e[-1])}{unit}"])


def make_slicing(trace, by, *, pattern: str | None = None, edges=None, name: str | None = None) -> Slicing:
    """A :class:`Slicing` of ``trace`` (a Trace or a TraceStore: only its shape, labels and meta are read) by

    * "label", "pred" (the final exit's class), "confidence" (the final exit's max probability, ``edges``);
    * "length" (words of the text, both texts of a pair; ``edges`` = upper ends, default 10, 20, 30);
    * "negation", "contrast", "intensifier" (``PATTERNS``) or "regex" with ``pattern``: matches / does not;
    * "category" or any other key of ``trace.meta`` that holds one value per sample (a probe set's categories);
    * an array of one value per sample (any column of an uploaded CSV or a recorded trace): its distinct values
      (numbers with more than 12 of them: quartile bins; more than 30 values: the 29 commonest + "other")."""
    if not isinstance(by, str):
        return _from_values(np.asarray(by), name or "column", trace.n)
    if by == "label":
        extra = () if trace.has_labels else ("unknown label",)
        return Slicing(name or BY[by], tuple(trace.label_names) + extra, "label")
    if by == "pred":
        return Slicing(name or BY[by], tuple(trace.label_names), "pred")
    if by == "length":
        e = tuple(int(x) for x in (edges or LENGTH_EDGES))
        names = [f"1–{e[0]} words"] + [f"{a + 1}–{b} words" for a, b in zip(e[:-1], e[1:])] + [f"> {e[-1]} words"]
        return Slicing(name or BY[by], tuple(names), "length", edges=e)
    if by == "confidence":
        e = tuple(float(x) for x in (edges or CONFIDENCE_EDGES))
        return Slicing(name or BY[by], _bins(e, lambda x: f"{x:g}"), "confidence", edges=e)
    if by in PATTERNS or by == "regex":
        pat = PATTERNS.get(by, pattern)
        if not pat:
            raise ValueError("slicing by 'regex' needs a pattern, e.g. pattern=r\"\\bnot\\b\"")
        try:
            re.compile(pat)
        except re.error as e:
            raise ValueError(f"{pat!r} is not a regular expression: {e}") from e
        what = by if by in PATTERNS else f"/{pat}/"
        return Slicing(name or (BY[by] if by in PATTERNS else f"text matches /{pat}/"),
                       (f"{what}: yes", f"{what}: no"), "pattern", pattern=pat)
    col = trace.meta.get("categories" if by == "category" else by)
    if isinstance(col, (list, tuple, np.ndarray)) and len(col) == trace.n:
        return _from_values(np.asarray(col), name or BY.get(by, by), trace.n)
    raise ValueError(f"cannot slice by {by!r}: use one of {sorted(BY)} or an array of one value per sample "
                     f"({trace.n:,})")


def _from_values(v: np.ndarray, name: str, n: int) -> Slicing:
    if v.ndim != 1 or len(v) != n:
        raise ValueError(f"a slicing column needs one value per sample ({n:,}), got shape {v.shape}")
    if v.dtype.kind in "iuf" and len(np.unique(v[~np.isnan(v)] if v.dtype.kind == "f" else v)) > 12:
        x = v.astype(np.float64)
        e = tuple(np.unique(np.nanquantile(x, [0.25, 0.5, 0.75])))
        codes = np.searchsorted(np.asarray(e), x, side="left")
        names = _bins(e, lambda q: f"{q:.4g}")
        if np.isnan(x).any():
            codes = np.where(np.isnan(x), len(names), codes)
            names = names + ("missing",)
        return Slicing(f"{name} (quartiles)", names, "array", codes_all=codes.astype(np.int64))
    s = pd.Series(v).astype(str).where(pd.Series(v).notna(), "missing")
    counts = s.value_counts(sort=True)
    keep = sorted(counts.index[: MAX_SLICES - 1] if len(counts) > MAX_SLICES else counts.index)
    if len(counts) > MAX_SLICES:
        s = s.where(s.isin(keep), "other")
        keep = keep + ["other"]
    codes = pd.Categorical(s, categories=keep).codes.astype(np.int64)
    return Slicing(name, tuple(keep), "array", codes_all=codes)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# The table, from integer counts per slice

SUMS = ("samples", "labelled", "right_policy", "right_final", "induced", "fixed", "exit_blocks", "destructive")


def slice_sums(trace: Trace, exits: Exits, codes: np.ndarray, n_slices: int) -> dict[str, np.ndarray]:
    """Per slice (G,) int64 counts: samples, labelled samples, right under the policy, right at the final exit,
    exit-induced errors (final right, policy wrong), exit-fixed errors, Σ exit block (1-based), destructive
    overthinking (an earlier exit right, the final exit wrong) — labelled counts only where the label is known."""
    codes = np.asarray(codes, np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= n_slices):
        raise ValueError(f"slice codes must be in 0..{n_slices - 1}")
    y = trace.labels
    lab = y >= 0
    c = trace.correct                                                         # (N, L), False where unknown
    pol_ok = (np.asarray(exits.pred) == y) & lab
    fin_ok = c[:, -1]
    parts = {"samples": np.ones(trace.n, bool), "labelled": lab, "right_policy": pol_ok, "right_final": fin_ok,
             "induced": fin_ok & ~pol_ok & lab, "fixed": pol_ok & ~fin_ok,
             "destructive": c[:, :-1].any(axis=1) & ~fin_ok & lab}
    out = {k: np.bincount(codes[m], minlength=n_slices) for k, m in parts.items()}
    blocks = np.asarray(exits.exit_block, np.float64) + 1          # integers: float64 sums of them are exact
    out["exit_blocks"] = np.rint(np.bincount(codes, weights=blocks, minlength=n_slices))
    return {k: out[k].astype(np.int64) for k in SUMS}


def table_from_sums(sums: dict[str, np.ndarray], slicing: Slicing, n_blocks: int, delta: float = 0.05,
                    rows: str = "") -> pd.DataFrame:
    """The slice table from ``slice_sums`` (added over chunks or not): rates are counts ÷ samples; label-based
    columns are NaN in a slice with an unknown label. Bounds at confidence 1 − δ per slice: the induced rate's
    Clopper–Pearson upper bound, the layer speed-up's interval from Hoeffding's on the mean exit block in [1, L]."""
    n, lab = sums["samples"], sums["labelled"]
    with np.errstate(invalid="ignore", divide="ignore"):
        full = (lab == n) & (n > 0)
        rate = lambda k: np.where(full, k / np.maximum(n, 1), np.nan)
        mean_exit = np.where(n > 0, sums["exit_blocks"] / np.maximum(n, 1), np.nan)
        half = (n_blocks - 1) * np.sqrt(np.log(2 / delta) / (2 * np.maximum(n, 1)))
        hi_exit = np.minimum(mean_exit + half, n_blocks)
        lo_exit = np.maximum(mean_exit - half, 1.0)
        ucb = np.where(full, upper_bound(sums["induced"], np.maximum(n, 1), delta), np.nan)
    df = pd.DataFrame({
        "slice": list(slicing.values), "samples": n,
        "accuracy (policy)": rate(sums["right_policy"]), "accuracy (final exit)": rate(sums["right_final"]),
        "accuracy drop": rate(sums["right_final"] - sums["right_policy"]),
        "exit-induced error rate": rate(sums["induced"]), "induced rate bound": ucb,
        "mean exit block": mean_exit, "layer speed-up": n_blocks / mean_exit,
        "speed-up low": n_blocks / hi_exit, "speed-up high": n_blocks / lo_exit,
        "destructive overthinking rate": rate(sums["destructive"]),
    })
    df.attrs.update(slicing=slicing.name, delta=delta, rows=rows, n=int(n.sum()))
    return df


def rows_label(trace) -> str:
    """Which rows a number is measured on, in words: "872 rows of sst2 validation"."""
    meta = trace.meta
    what = " ".join(str(meta[k]) for k in ("task", "split") if meta.get(k))
    return f"{trace.n:,} rows" + (f" of {what}" if what else "")


def slice_table(trace: Trace, policy, groups, delta: float = 0.05) -> pd.DataFrame:
    """One row per slice value of ``groups`` (a :class:`Slicing`, a ``make_slicing`` name or one value per
    sample): samples, accuracy at the policy's exit and at the final exit, the accuracy drop, exit-induced error
    rate (final exit right, the policy's answer wrong) and its upper bound at 1 − δ, mean exit block (1-based),
    layer speed-up L/ℓ̄ with its interval, destructive-overthinking rate. ``attrs["rows"]`` says which rows."""
    slicing = groups if isinstance(groups, Slicing) else make_slicing(trace, groups)
    exits = decide(policy, trace)
    sums = slice_sums(trace, exits, slicing.codes(trace), len(slicing))
    return table_from_sums(sums, slicing, trace.n_blocks, delta, rows_label(trace))


def sample_frame(trace: Trace, exits: Exits, slicing: Slicing | None = None, max_chars: int = 200) -> pd.DataFrame:
    """One row per sample for a data table: text, label, the final exit's and the policy's answer, exit block and
    prediction depth (1-based), the final exit's confidence, exit-induced error, and the sample's slice."""
    names = trace.label_names
    final = class_argmax(trace.logits[:, -1])
    text = _texts(trace) if trace.texts_b is None else [f"{a}  ‖  {b}" for a, b in zip(trace.texts, trace.texts_b)]
    pred = np.asarray(exits.pred)
    y = trace.labels
    df = pd.DataFrame({
        "sample": np.arange(trace.n), "text": [t[:max_chars] for t in text],
        "label": [names[k] if k >= 0 else "?" for k in y], "final answer": [names[k] for k in final],
        "policy answer": [names[k] for k in pred], "exit block": np.asarray(exits.exit_block) + 1,
        "prediction depth": prediction_depth(trace) + 1,
        "confidence (final)": trace.probs[:, -1].max(axis=-1).astype(np.float64),
        "exit-induced error": (y >= 0) & (final == y) & (pred != y)})
    if slicing is not None:
        df["slice"] = np.asarray(slicing.values, dtype=object)[slicing.codes(trace)]
    return df


def csv_column(frame: pd.DataFrame, column: str, n: int) -> np.ndarray:
    """(n,) the values of ``column`` of an uploaded table, one per sample: the table has one line per sample in the
    data's order, or a ``row`` column giving each line's sample (rows it does not name are missing: None)."""
    if column not in frame.columns or column == "row":
        raise ValueError(f"no column {column!r} to slice by; the table has {', '.join(map(str, frame.columns))}")
    if "row" in frame.columns:
        rows = pd.to_numeric(frame["row"], errors="coerce")
        ok = rows.notna() & (rows >= 0) & (rows < n) & (rows == rows.round())
        f = frame[ok].assign(row=rows[ok].astype(int)).drop_duplicates("row")
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        out = np.full(n, np.nan) if numeric else np.full(n, None, dtype=object)
        out[f["row"].to_numpy()] = f[column].to_numpy(dtype=np.float64 if numeric else object)
        return out
    if len(frame) != n:
        raise ValueError(f"the table has {len(frame):,} lines but the data has {n:,} samples: give one line per "
                         "sample, in the data's order, or a 'row' column")
    return frame[column].to_numpy()

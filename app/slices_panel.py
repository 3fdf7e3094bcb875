"""Slices in the app: the slicing chooser, the calibration / report pair, and the comparison of the global
certificate with one certified in every slice — used by the Slices page and, as one call, by the Threshold
debugger (``threshold_hook``). Every number names its rows: calibration rows certify, report rows replay."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from app import sidebar, state, widgets
from app.charts import slices as slice_charts
from app.selection import DataChoice, Selection
from core.analysis import BY, Slicing, csv_column, make_slicing
from core.certify import certify, group_guarantee_text, realized, risk_by_slice
from core.policies import ThresholdPolicy
from core.trace import Trace

SPECS = ["length", "negation", "contrast", "intensifier", "label", "pred", "confidence", "regex"]
CSV = "a column of a CSV file"


@dataclass
class SliceChoice:
    slicing: Slicing            # on the page's trace
    spec: str | None            # a slicing name (re-sliced on other rows); None: a column of these rows
    pattern: str | None = None


def _columns(tr: Trace) -> list[str]:
    """Recorded columns: meta entries with one value per sample (a probe set's categories, a trace's columns)."""
    return [k for k, v in tr.meta.items() if isinstance(v, (list, tuple)) and len(v) == tr.n and tr.n > 0
            and k != "label_names"]


def choose_slicing(container, tr: Trace, key: str, columns: bool = True) -> SliceChoice | None:
    """A select box of the slicings (and, with ``columns``, recorded columns and a CSV column); None when a CSV is
    asked for and not given yet."""
    recorded = _columns(tr) if columns else []
    opts = SPECS + recorded + ([CSV] if columns else [])
    names = {**BY, "categories": BY["category"], CSV: CSV}
    by = widgets.choice(container, "slice by", opts, f"{key}_by", "length", format_func=lambda o: names.get(o, o),
                        help="what cuts the data into slices: a slice depends on the input and the final exit only, "
                             "never on the threshold")
    try:
        if by == "regex":
            widgets.restore(f"{key}_re", r"\bnot\b|n't")
            pat = container.text_input("regular expression (case-insensitive)", key=f"{key}_re")
            widgets.remember(f"{key}_re")
            return SliceChoice(make_slicing(tr, "regex", pattern=pat), "regex", pat)
        if by in recorded:
            return SliceChoice(make_slicing(tr, np.asarray(tr.meta[by], dtype=object), name=names.get(by, by)), None)
        if by == CSV:
            return _csv_choice(container, tr, key)
        return SliceChoice(make_slicing(tr, by), by)
    except ValueError as e:
        container.error(str(e), icon=":material/warning:")
        return None


def _csv_choice(container, tr: Trace, key: str) -> SliceChoice | None:
    up = container.file_uploader(f"a CSV with one line per sample ({tr.n:,}, in this data's order) — or a 'row' "
                                 "column giving each line's sample", type=["csv"], key=f"{key}_csv")
    if up is None:
        container.info("Upload a CSV to slice by one of its columns.", icon=":material/description:")
        return None
    df = pd.read_csv(io.BytesIO(up.getvalue()))
    cols = [c for c in df.columns if c != "row"]
    if not cols:
        raise ValueError("the CSV has no column to slice by (only 'row')")
    col = widgets.choice(container, "column", cols, f"{key}_col", cols[0])
    return SliceChoice(make_slicing(tr, csv_column(df, col, tr.n), name=str(col)), None)


def slicing_on(trace: Trace, choice: SliceChoice, idx: np.ndarray | None) -> Slicing:
    """The same slicing on other rows: re-computed for a named slicing, the column's rows ``idx`` otherwise."""
    if choice.spec is not None:
        return make_slicing(trace, choice.spec, pattern=choice.pattern)
    s = choice.slicing
    return Slicing(s.name, s.values, "array", codes_all=s.codes_all[idx])


@dataclass
class Pair:
    cal: Trace
    rep: Trace
    cal_idx: np.ndarray | None       # rows of the page's trace (a random half), None for the calibration split
    rep_idx: np.ndarray | None
    cal_what: str
    rep_what: str


def calibration_pair(sel: Selection, tr: Trace, named: bool = True, n: int | None = None) -> Pair:
    """Certify on the model's calibration split (when it has one, the slicing is named and its size is ``n`` if
    given), else on a random half of this data (split_halves' seed 0) and report on the other half."""
    b, data = sel.bundle, sel.data
    own = (named and data.source == "glue" and b.task is not None and data.task == b.task.name
           and data.split != "calibration")
    if own:
        cal = state.dataset_trace(b, DataChoice(source="glue", task=data.task, split="calibration"))
        if n is None or cal.n == n:
            return Pair(cal, tr, None, None, f"{cal.n:,} rows of the model's calibration split (train rows never "
                        "trained on)", f"{tr.n:,} rows of {data.label} (report data, held out from the certificate)")
    perm = np.random.default_rng(0).permutation(tr.n)
    a, c = np.sort(perm[: tr.n // 2]), np.sort(perm[tr.n // 2:])
    return Pair(tr.subset(a), tr.subset(c), a, c, f"a random half of {data.label} ({len(a):,} rows)",
                f"the other half ({len(c):,} rows, held out from the certificate)")


def compare_certificates(sel: Selection, tr: Trace, choice: SliceChoice, eps: float, delta: float, risk: str,
                         method: str, key: str, n: int | None = None) -> None:
    """The global certificate and the one certified in every slice, side by side, and per slice what each does."""
    pair = calibration_pair(sel, tr, choice.spec is not None, n)
    cal_sl, rep_sl = slicing_on(pair.cal, choice, pair.cal_idx), slicing_on(pair.rep, choice, pair.rep_idx)
    try:
        glob = certify(pair.cal, sel.policy, eps, delta, risk, method)
        grp = certify(pair.cal, sel.policy, eps, delta, risk, method, groups=cal_sl)
        g_cal = risk_by_slice(pair.cal, glob.policy, cal_sl, eps, delta, risk)
        g_rep = risk_by_slice(pair.rep, glob.policy, rep_sl, eps, risk=risk)
        s_rep = risk_by_slice(pair.rep, grp.policy, rep_sl, eps, risk=risk)
        rg, rs = realized(glob, pair.rep), realized(grp, pair.rep)
    except ValueError as e:
        st.error(str(e), icon=":material/warning:")
        return
    fmt = lambda c: "full model" if c.threshold is None else f"{c.threshold:.4g}"
    sym = sel.policy.symbol
    m = st.columns(4)
    m[0].metric(f"global certified {sym}", fmt(glob), help=f"certified on {pair.cal_what}")
    m[1].metric(f"{sym} certified in every slice", fmt(grp), help=f"certified on {pair.cal_what}")
    m[2].metric("layer speed-up, report rows: global → every slice",
                f"{rg.layer_speedup:.2f}× → {rs.layer_speedup:.2f}×", help=pair.rep_what)
    worst = g_cal.loc[g_cal["samples"] > 0, "risk bound"].max()
    m[3].metric("worst slice's bound (calibration): global → every slice", f"{worst:.4f} → {grp.bound:.4f}",
                help=f"Clopper–Pearson at δ/G = {g_cal.attrs['delta_slice']:.3g}, on {pair.cal_what}")
    table = pd.DataFrame({
        "slice": g_cal["slice"], "calibration rows": g_cal["samples"],
        "global: bound on calibration": g_cal["risk bound"], "global: bound above ε": g_cal["bound above ε"],
        "report rows": g_rep["samples"], "global: realized risk": g_rep["risk"],
        "global: realized above ε": g_rep["risk above ε"],
        "by slice: realized risk": s_rep["risk"], "by slice: bound on calibration": grp.slices["risk bound"],
        "note": grp.slices["note"]})
    unbound = table.loc[table["global: bound above ε"], "slice"].astype(str).tolist()
    broken = table.loc[table["global: realized above ε"], "slice"].astype(str).tolist()
    st.caption(f"Certified on {pair.cal_what}; realized on {pair.rep_what}. The global threshold's bound in a slice "
               f"(δ/G = {g_cal.attrs['delta_slice']:.3g}) is above ε = {eps:g} — the global certificate does not cover "
               f"the slice — in: {', '.join(unbound) or 'none'}; its realized risk on the report rows is above ε in: "
               f"{', '.join(broken) or 'none'}.")
    st.dataframe(table, hide_index=True, key=f"{key}_cmp", column_config={
        c: st.column_config.NumberColumn(format="%.4f") for c in table.columns if "risk" in c or "bound" in c})
    st.plotly_chart(slice_charts.slice_certificates(table, eps, f"calibration: {pair.cal_what}; report: "
                                                                 f"{pair.rep_what}"), key=f"{key}_cmp_fig")
    st.info(group_guarantee_text(grp), icon=":material/shield:")
    if st.button("apply the threshold certified in every slice", key=f"{key}_apply", disabled=grp.threshold is None):
        sidebar.request_policy(sel.policy_name, grp.threshold)


def threshold_hook(sel: Selection, tr: Trace) -> None:
    """The Threshold debugger's per-slice view of its certificate (the one its "Certified threshold" section made):
    which slices it breaks, and a threshold certified in every slice."""
    saved = st.session_state.get("_thr_cert")
    if not isinstance(sel.policy, ThresholdPolicy) or not saved or saved[0] != sel.policy.name:
        return
    cert = saved[1]
    with st.expander("Per slice: which slices this certificate breaks — and a threshold certified in every slice"):
        st.caption("A certificate bounds the risk on average over new inputs; one slice can break ε while the average "
                   "holds. Below, the same ε, δ, risk and method, per slice.")
        choice = choose_slicing(st, tr, "thr_sl", columns=False)
        if choice is not None:
            compare_certificates(sel, tr, choice, cert.epsilon, cert.delta, cert.risk, cert.method, "thr_sl", cert.n)

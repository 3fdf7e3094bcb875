"""The Threshold debugger's two ways to a threshold that holds on unseen data, and the shareable report.

* "Best threshold for a target" — tuned on a random half of the data, reported on the other half;
* "Certified" — Learn-then-Test or conformal risk control (core.certify.ltt) on a calibration set the model
  never trained on, with its guarantee in words, replayed on the report data.
"""
from __future__ import annotations

import streamlit as st

from app import params as P
from app import sidebar, speed, state, widgets
from app.selection import DataChoice, Selection
from core.analysis import best_threshold, split_halves, sweep
from core.certify import (
    RISKS,
    Certificate,
    certify,
    guarantee_text,
    holdout_warning,
    realized,
    risk_figure,
    smallest_epsilon_text,
    threshold_report_html,
)
from core.certify import report_rows as RR
from core.policies import ThresholdPolicy, decide
from core.trace import Trace


def best_threshold_section(sel: Selection, tr: Trace, x: str, mlabel: str) -> None:
    pol = sel.policy
    st.subheader("Best threshold for a target")
    speed_name = "flops_reduction" if x == "flops_reduction" else "layer_speedup"
    c1, c2, c3 = st.columns([3, 2, 3], vertical_alignment="bottom")
    target = widgets.choice(c1, "target", ["drop", "speed"], "thr_target", "drop", kind="segmented",
                            format_func={"drop": f"{mlabel} drop at most", "speed": "speed at least"}.get)
    if target == "drop":
        kw = {"target_drop": float(widgets.number(c2, f"largest {mlabel} drop (absolute; 0.01 = one point)",
                                                  "thr_drop", 0.01, min_value=0.0, max_value=1.0, step=0.005,
                                                  format="%.3f"))}
    elif speed_name == "layer_speedup":
        kw = {"target_speedup": float(widgets.number(c2, "layer speed-up at least (×)", "thr_speed",
                                                     min(1.5, float(tr.n_blocks)), min_value=1.0,
                                                     max_value=float(tr.n_blocks), step=0.1, format="%.2f"))}
    else:
        kw = {"target_speedup": float(widgets.number(c2, "FLOPs reduction at least (fraction)", "thr_flops", 0.3,
                                                     min_value=0.01, max_value=0.99, step=0.05, format="%.2f"))}
    if tr.n < 2:
        st.info("Tuning a threshold needs at least 2 labelled samples (one half to tune, the other to report "
                "on): add more rows.", icon=":material/info:")
        return
    tune, test = split_halves(tr, seed=0)
    try:
        tuned = best_threshold(tune, test, pol, thresholds=type(pol).threshold_spec(tr).grid(), speed=speed_name, **kw)
    except ValueError as e:
        state.fail(e)
    c3.caption(f"Tuned on a random half of the {tr.n:,} samples ({tune.n:,}), reported on the other half "
               f"({test.n:,}) — never tuned on the numbers it reports.")
    if not tuned.feasible:
        st.warning(f"No threshold meets “{tuned.target}” on the tuning half ({tune.n:,} rows): showing the closest "
                   "one.")
    _held_out_check(tuned, test, pol, speed_name, mlabel, kw)
    for part, name in ((tune, "tuning"), (test, "held-out")):
        rate = tuned.tune["metric"] if name == "tuning" else tuned.test["metric"]
        small = RR.small_sample_text(part.n, rate, f"the {name} half's {mlabel}")
        if small:
            st.warning(small, icon=":material/casino:")
            break
    r = st.columns([1, 1.1, 1.3, 1.6], vertical_alignment="center")
    r[0].metric(f"best {pol.symbol}", f"{tuned.threshold:.4g}", help=tuned.target)
    r[1].metric(f"{mlabel}, held-out half", f"{tuned.test['metric']:.4f}",
                help=f"on the held-out half ({test.n:,} of {tr.n:,} rows, never tuned on); the change against the "
                     "full model on the same half",
                **change_delta(-tuned.test["drop"], "vs full"))
    k = speed.speed_metric(r[2], "speed-up, held-out half", decide(pol.replace(threshold=tuned.threshold),
                                                                        test).exit_block,
                           test.n_blocks, tuned.test["layer_speedup"])
    if r[3].button("apply this threshold", disabled=abs(tuned.threshold - (sel.threshold or 0)) < 1e-12):
        sidebar.request_policy(sel.policy_name, tuned.threshold)
    speed.one_block_warning(k, test.n_blocks, f"the held-out half ({test.n:,} rows)")
    rows = [{"half": name, "samples": part.n, mlabel: row["metric"], f"full-model {mlabel}": row["baseline_metric"],
             "drop": row["drop"], "layer speed-up": row["layer_speedup"], "FLOPs reduction": row["flops_reduction"]}
            for name, part, row in (("tuning", tune, tuned.tune), ("held-out", test, tuned.test))]
    st.dataframe(rows, hide_index=True, column_config={
        k: st.column_config.NumberColumn(format="%.4f")
        for k in (mlabel, f"full-model {mlabel}", "drop", "layer speed-up", "FLOPs reduction")})


def _held_out_check(tuned, test: Trace, pol, speed: str, mlabel: str, kw: dict) -> None:
    """Say in words when the threshold tuned on one half misses the target on the other, with the threshold
    that would meet it there (chosen on those rows, so itself not held-out) or that none does."""
    row = tuned.test
    if "target_drop" in kw:
        missed = row["drop"] > kw["target_drop"] + 1e-12
        said = (f"the {mlabel} drop on the held-out half ({test.n:,} rows) is {row['drop']:.4f}, above the target "
                f"{kw['target_drop']:.4f}")
    else:
        missed = row[speed] < kw["target_speedup"] - 1e-12
        said = (f"the {speed.replace('_', ' ')} on the held-out half ({test.n:,} rows) is {row[speed]:.4g}, below "
                f"the target {kw['target_speedup']:.4g}")
    if not missed:
        return
    grid = type(pol).threshold_spec(test).grid()
    meets = RR.meeting_threshold(sweep(test, pol, grid), row["baseline_metric"], speed=speed, **kw)
    there = ("no threshold on the grid meets it on the held-out half either" if meets is None else
             f"on the held-out half the closest threshold that meets it is {pol.symbol} = {meets:.4g} — found on "
             "those rows, so it is not a held-out figure")
    tuned_on = ("The threshold met it on the tuning half only" if tuned.feasible else
                "No threshold met it on the tuning half either (the closest is shown)")
    st.warning(f"Target missed: {said}. {tuned_on}; {there}.", icon=":material/target:")


def _calibration_choice(sel: Selection, tr: Trace) -> tuple[Trace, Trace, str, str]:
    """(calibration trace, report trace, what each is) — the model's own calibration split when it has one."""
    b, data = sel.bundle, sel.data
    own = data.source == "glue" and b.task is not None and data.task == b.task.name and data.split != "calibration"
    options = (["split", "half"] if own else ["half"])
    labels = {"split": f"the model's calibration split (held-out train rows of {b.task.folder if b.task else ''})",
              "half": "a random half of this data (the other half reports)"}
    sidebar.page_param("thr_cal_src", "cert_cal", lambda raw: P.parse_choice(raw, options, options[0],
                                                                             "calibration data"), options[0])
    how = widgets.choice(st, "calibrate on", options, "thr_cal_src", options[0], kind="radio",
                         format_func=labels.get, horizontal=True)
    if how == "split":
        cal_data = DataChoice(source="glue", task=data.task, split="calibration")
        cal = state.dataset_trace(b, cal_data)
        return cal, tr, f"{cal.n:,} calibration rows (train − fit, never trained on)", RR.rows_text(tr.n, data.label)
    cal, rep = split_halves(tr, seed=0)
    return (cal, rep, f"a random half of {data.label} ({cal.n:,} of {tr.n:,} rows)",
            RR.rows_text(rep.n, data.label, of=tr.n, part="the other half (random, seed 0)"))


def _certificate_from_url() -> None:
    """A shared URL restores the whole certificate: ε, 1 − δ, the risk, the method (and, in
    _calibration_choice, the calibration data) — once per session, as the sidebar does."""
    sidebar.page_param("thr_eps", "cert_eps", lambda raw: P.parse_float(raw, 0.001, 0.5, 0.01, "ε"), 0.01)
    sidebar.page_param("thr_conf", "cert_conf", lambda raw: P.parse_float(raw, 0.5, 0.999, 0.95, "confidence 1 − δ"),
                       0.95)
    sidebar.page_param("thr_risk", "cert_risk", lambda raw: P.parse_choice(raw, list(RISKS), "induced", "risk"),
                       "induced")
    sidebar.page_param("thr_method", "cert_method", lambda raw: P.parse_choice(raw, ["ltt", "crc"], "ltt", "method"),
                       "ltt")


def change_delta(diff: float, against: str = "vs full model") -> dict:
    """``st.metric`` delta arguments for a change of the metric: a loss red (↓), a gain green (↑), no change
    grey — so that a sign is never left to the reader (4 decimals, as the metrics are shown)."""
    if round(diff, 4) == 0:
        return {"delta": f"±0.0000 {against}", "delta_color": "off", "delta_arrow": "off"}
    return {"delta": f"{diff:+.4f} {against}", "delta_color": "normal"}


def certified_section(sel: Selection, tr: Trace, mlabel: str) -> None:
    st.subheader("Certified threshold")
    st.caption("A threshold with a statistical guarantee: with ε the largest acceptable risk and 1 − δ the "
               "confidence, Learn-then-Test (Angelopoulos et al. 2021) tests the policy's thresholds from the most "
               "cautious to the fastest and keeps the fastest whose risk bound stays ≤ ε; conformal risk control "
               "bounds the expected risk instead.")
    _certificate_from_url()
    c = st.columns(4)
    eps = float(widgets.number(c[0], "ε: largest risk", "thr_eps", 0.01, min_value=0.001, max_value=0.5, step=0.005,
                               format="%.3f", help="0.01 = at most one point lost"))
    conf = float(widgets.number(c[1], "1 − δ: confidence", "thr_conf", 0.95, min_value=0.5, max_value=0.999,
                                step=0.01, format="%.3f"))
    risk = widgets.choice(c[2], "risk", list(RISKS), "thr_risk", "induced",
                          help="induced: the early exit is wrong where the full model is right (bounds the accuracy "
                               "drop); consistency: it differs from the full model (needs no labels)")
    method = widgets.choice(c[3], "method", ["ltt", "crc"], "thr_method", "ltt",
                            format_func={"ltt": "Learn-then-Test", "crc": "conformal risk control"}.get)
    st.session_state.pop("_thr_cert", None)
    cal, rep, cal_what, rep_what = _calibration_choice(sel, tr)
    sidebar.write_params({"cert_eps": eps, "cert_conf": conf, "cert_risk": risk, "cert_method": method,
                          "cert_cal": st.session_state.get("thr_cal_src")})
    warn = (holdout_warning(sel.bundle.card) if sel.bundle.trace is None else
            "a recorded trace does not say what its model was trained on: if these samples were in its training "
            "data, the calibration risk is optimistic and the certificate does not hold")
    if warn:
        st.warning(warn.replace("warning: ", "").capitalize() + ".", icon=":material/warning:")
    try:
        cert = certify(cal, sel.policy, eps, delta=1 - conf, risk=risk, method=method)
        real = realized(cert, rep)
    except ValueError as e:
        st.error(str(e), icon=":material/warning:")
        return
    st.session_state["_thr_cert"] = (sel.policy.name, cert, rep, rep_what)
    m = st.columns([1, 1, 1, 1.2, 1.6], vertical_alignment="center")
    sym = sel.policy.symbol
    m[0].metric(f"certified {sym}", "full model" if cert.threshold is None else f"{cert.threshold:.4g}",
                help=f"calibrated on {cal_what}")
    m[1].metric("risk bound", f"{cert.bound:.4f}", help=f"empirical on calibration: {cert.empirical_risk:.4f}")
    m[2].metric("realized risk", f"{real.risk:.4f}", help=f"on the report data: {rep_what}",
                delta=f"{'within' if real.within else 'above'} ε", delta_color="normal" if real.within else "inverse",
                delta_arrow="off")                        # a verdict, not a change: no arrow
    m[3].metric(f"{mlabel}, report data", f"{real.metric:.4f}",
                help=f"on the report data ({rep_what}): full model {real.full_metric:.4f} → {real.metric:.4f} at the "
                     f"certified threshold; layer speed-up {real.layer_speedup:.2f}×",
                **change_delta(real.metric - real.full_metric, "vs full"))
    if m[4].button("apply the certified threshold", disabled=cert.threshold is None):
        sidebar.request_policy(sel.policy_name, cert.threshold)
    if not RR.same_threshold(sel.threshold, cert.threshold):
        st.caption(f"The sidebar applies {sym} = {sel.threshold:.4g}, not the certified "
                   + ("full model" if cert.threshold is None else f"{sym} = {cert.threshold:.4g}")
                   + ": the guarantee below is for the certified threshold only, and the numbers at the top of the "
                     "page are for the applied one.")
    speed.one_block_warning(RR.single_block(decide(cert.policy, rep).exit_block) if cert.policy is not None else None,
                            rep.n_blocks, rep_what)
    st.info(guarantee_text(cert), icon=":material/verified_user:")
    st.caption(smallest_epsilon_text(cert.n, 1 - conf, method) + f" Report data: {rep_what}; speed-up there "
               f"{real.layer_speedup:.2f}×, FLOPs −{real.flops_reduction:.1%}.")
    st.plotly_chart(risk_figure(cert.curve.to_frame(), eps, cert.threshold, sel.policy.direction),
                    key="thr_risk_curve")


def report_download(container, sel: Selection, tr: Trace) -> None:
    """One standalone HTML file: the model, data, policy, Pareto chart, the threshold on the page (and the
    certified one beside it when they differ), the guarantee, and the figures on rows named by count and split:
    the certificate's report rows when there is one, else every row of the data (then not called held-out)."""
    ss = st.session_state
    if not isinstance(sel.policy, ThresholdPolicy):
        return
    saved = ss.get("_thr_cert")
    cert: Certificate | None = saved[1] if saved and saved[0] == sel.policy.name else None
    rep, rows = (saved[2], saved[3]) if cert is not None else (tr, RR.rows_text(tr.n, sel.data.label))
    threshold = sel.threshold
    held_out = cert is not None and RR.same_threshold(threshold, cert.threshold)
    key = (sel.bundle.key, sel.data.label, repr(sel.policy), rows,
           None if cert is None else (cert.threshold, cert.epsilon, cert.delta, cert.risk, cert.method))
    if container.button("make the threshold report (HTML)",
                        help="one file that opens offline: model, data, policy, the threshold on the page"
                             + (", the certificate" if cert is not None else "") + f", and its figures on {rows}"):
        ss["_thr_report"] = (key, threshold_report_html(
            rep, sel.policy, threshold, model=sel.bundle.name, data=sel.data.label, certificate=cert,
            guarantee=guarantee_text(cert) if cert is not None else "", rows=rows, held_out=held_out,
            curve=cert.curve.to_frame() if cert is not None else None).encode())
    made = ss.get("_thr_report")
    if made and made[0] == key:
        container.download_button("download the threshold report", data=made[1],
                                  file_name=f"threshold-report-{sel.bundle.name}-{sel.policy.name}.html",
                                  mime="text/html")

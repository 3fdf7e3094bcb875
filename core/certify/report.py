"""A threshold report to share: one standalone HTML file that opens offline, charts interactive.

    html = threshold_report_html(dev_trace, "entropy", 0.23, model="minilm-ee-sst2", data="SST-2 dev")

It holds the model, the data, the policy, a Pareto chart (task metric against layer speed-up, from
``core.analysis.sweep``), the chosen or certified threshold, its guarantee in words, the certificate's risk
curve, and the figures of the threshold on the held-out (report) split, with a few of the samples the
early exit got wrong. plotly.js is embedded inline once, in the head (what ``include_plotlyjs=True`` embeds,
so every chart below finds it), never fetched from a CDN; every text that comes from the user or the dataset is
escaped. A certificate is read by attribute (:class:`CertificateLike`, e.g. ``core.certify.ltt.Certificate``), so
this module does not import certify;
``core.certify.report_html`` is the one-call version for a certificate.
"""
from __future__ import annotations

import html
import json
from typing import Protocol

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from core.analysis import exit_induced_errors, metric, pareto_front, sweep, sweep_all, task_metric
from core.certify import report_rows as RR
from core.policies import POLICIES, Policy, ThresholdPolicy, decide, make_policy
from core.trace import Trace

N_EXAMPLES = 8
_CONFIG = {"displaylogo": False, "responsive": True}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:980px;margin:2rem auto;
padding:0 1rem;color:#212529;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dee2e6}
table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .7rem;border-bottom:1px solid #e9ecef;
text-align:left} th{background:#f8f9fa} .muted{color:#6c757d} .guarantee{background:#e7f5ff;padding:.7rem 1rem;
border-left:4px solid #1c7ed6} .warn{background:#fff4e6;padding:.7rem 1rem;border-left:4px solid #f76707}
"""


class CertificateLike(Protocol):
    """What the report reads from a certificate (``core.certify.ltt.Certificate`` has all of it)."""

    threshold: float | None
    bound: float
    empirical_risk: float
    n: int
    epsilon: float
    delta: float
    method: str
    risk: str
    layer_speedup: float


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v, digits: int = 4) -> str:
    if isinstance(v, (float, np.floating)):
        return "—" if not np.isfinite(v) else f"{float(v):.{digits}g}"
    return str(v)


def _table(rows: list[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _template(policy, trace: Trace) -> ThresholdPolicy:
    if isinstance(policy, str):
        cls = POLICIES.get(policy)
        if cls is None or not issubclass(cls, ThresholdPolicy):
            raise ValueError(f"the report needs a threshold policy, got {policy!r}; choose one of "
                             f"{sorted(k for k, c in POLICIES.items() if issubclass(c, ThresholdPolicy))}")
        policy = make_policy(policy, threshold=cls.threshold_range(trace)[0])
    if not isinstance(policy, ThresholdPolicy):
        raise ValueError(f"the report needs a threshold policy, got {policy!r}")
    return policy


def heldout_figures(trace: Trace, policy: ThresholdPolicy, threshold: float | None) -> dict:
    """The threshold's figures on the report split (threshold None: the full model)."""
    name = task_metric(trace)
    labelled = trace.has_labels
    full = metric(name, trace.labels, trace.preds[:, -1]) if labelled else float("nan")
    if threshold is None:
        row = {"metric": full, "layer_speedup": 1.0, "flops_reduction": 0.0, "exit_induced_errors": 0.0,
               "exit_fixed_errors": 0.0}
    else:
        row = sweep(trace, policy, [threshold]).iloc[0].to_dict()
    k = None if threshold is None else RR.single_block(decide(policy.replace(threshold=threshold), trace).exit_block)
    one = {} if k is None or k == trace.n_blocks else {"what it is": RR.equivalent_text(k, trace.n_blocks)}
    return {**one, "samples": trace.n, f"full-model {name}": full, f"{name} at the threshold": row["metric"],
            f"{name} drop (points)": 100 * (full - row["metric"]), "layer speed-up (×)": row["layer_speedup"],
            "FLOPs reduction": row["flops_reduction"],
            "exit-induced errors (early wrong, final right)": row["exit_induced_errors"],
            "exit-fixed errors (early right, final wrong)": row["exit_fixed_errors"],
            "exit-induced error rate": row["exit_induced_errors"] / trace.n if trace.n else float("nan")}


def pareto_figure(trace: Trace, policy: ThresholdPolicy, threshold: float | None, tag: str = "held-out") -> go.Figure:
    """Task metric against layer speed-up: the policy's grid, every policy's Pareto front, the full model
    and the chosen threshold."""
    name = task_metric(trace)
    df = sweep(trace, policy)
    fig = go.Figure()
    front = pareto_front(sweep_all(trace))
    fig.add_trace(go.Scatter(x=front["layer_speedup"], y=front["metric"], mode="lines",
                             name="Pareto front of this split (all policies)", line={"color": "#adb5bd", "dash": "dot"},
                             customdata=front["policy"],
                             hovertemplate="%{customdata}<br>%{x:.2f}× · %{y:.4f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=df["layer_speedup"], y=df["metric"], mode="lines+markers", name=policy.name,
                             marker={"size": 4}, customdata=df["threshold"],
                             hovertemplate=f"{policy.symbol} = %{{customdata:.4g}}<br>%{{x:.2f}}× · %{{y:.4f}}"
                                           "<extra></extra>"))
    full = metric(name, trace.labels, trace.preds[:, -1]) if trace.has_labels else np.nan
    fig.add_trace(go.Scatter(x=[1.0], y=[full], mode="markers", name="full model",
                             marker={"size": 10, "color": "#212529", "symbol": "square"}))
    if threshold is not None:
        r = sweep(trace, policy, [threshold]).iloc[0]
        fig.add_trace(go.Scatter(x=[r["layer_speedup"]], y=[r["metric"]], mode="markers", name="chosen threshold",
                                 marker={"size": 16, "color": "#e8590c", "symbol": "star"}))
    fig.update_layout(xaxis_title="layer speed-up L/ℓ̄ (×)", yaxis_title=f"{name} ({tag})", height=420,
                      margin={"t": 30}, legend={"orientation": "h", "y": -0.2})
    return fig


def risk_figure(curve: pd.DataFrame, epsilon: float, threshold: float | None, direction: str = "below") -> go.Figure:
    """Empirical risk and its upper bound along the grid (conservative on the left), the ε line and the
    chosen threshold. ``curve``: columns threshold(s), empirical_risk, ucb (``RiskCurve.to_frame()``)."""
    x = curve["thresholds"] if "thresholds" in curve else curve["threshold"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=curve["empirical_risk"], mode="lines", name="empirical risk (calibration)"))
    fig.add_trace(go.Scatter(x=x, y=curve["ucb"], mode="lines", name="upper bound", line={"dash": "dash"}))
    fig.add_hline(y=epsilon, line={"color": "#e03131"}, annotation_text=f"ε = {epsilon:g}")
    if threshold is not None:
        fig.add_vline(x=threshold, line={"color": "#e8590c", "dash": "dot"}, annotation_text="certified")
    fig.update_layout(xaxis_title="threshold (conservative → fast)", yaxis_title="risk", height=360, margin={"t": 30},
                      xaxis={"autorange": "reversed" if direction == "above" else True},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def _examples(trace: Trace, policy: ThresholdPolicy, threshold: float | None) -> str:
    if threshold is None or not trace.has_labels:
        return ""
    ex = decide(policy.replace(threshold=threshold), trace)
    idx = exit_induced_errors(trace, ex)[:N_EXAMPLES]
    if not len(idx):
        return "<p>No exit-induced errors on this split.</p>"
    names = trace.label_names
    text = lambda i: trace.texts[i] if trace.texts_b is None else f"{trace.texts[i]} ‖ {trace.texts_b[i]}"
    rows = "".join(f"<tr><td>{_e(text(i))}</td><td>{_e(names[trace.labels[i]])}</td>"
                   f"<td>{_e(names[ex.pred[i]])} (block {int(ex.exit_block[i]) + 1})</td></tr>" for i in idx)
    return ("<table><tr><th>text</th><th>label (the full model agrees)</th><th>early answer</th></tr>"
            f"{rows}</table>")


def _certificate_section(cert: CertificateLike | None, guarantee: str, curve: pd.DataFrame | None,
                         direction: str) -> tuple[str, go.Figure | None]:
    if cert is None:
        note = _e(guarantee) if guarantee else ("This threshold carries no statistical guarantee: it was not "
                                                 "certified. Certify it on a calibration split (core.certify.ltt).")
        return f'<div class="warn">{note}</div>', None
    rows = [("risk", cert.risk), ("method", cert.method), ("ε (allowed risk)", cert.epsilon),
            ("δ (failure probability)", cert.delta), ("calibration samples", cert.n),
            ("empirical risk (calibration)", cert.empirical_risk), ("bound", cert.bound),
            ("layer speed-up (calibration, ×)", cert.layer_speedup)]
    box = f'<div class="guarantee">{_e(guarantee)}</div>' if guarantee else ""
    fig = risk_figure(curve, cert.epsilon, cert.threshold, direction) if curve is not None and len(curve) else None
    return box + _table(rows), fig


def threshold_report_html(trace: Trace, policy: Policy | str, threshold: float | None = None, *, model: str,
                          data: str = "", certificate: CertificateLike | None = None, guarantee: str = "",
                          curve: pd.DataFrame | None = None, notes: tuple[str, ...] = (),
                          title: str = "ExitLens threshold report", rows: str = "", held_out: bool = True) -> str:
    """The report as one HTML string. ``trace``: the held-out (report) split; ``policy``: a threshold policy
    (name or instance: its threshold is ignored, its other parameters kept); ``threshold``: the chosen one
    (None: the full model); ``certificate``/``guarantee``/``curve``: the certificate, its sentence and its
    risk curve (``RiskCurve.to_frame()``), when the threshold was certified; ``notes``: warnings shown on top;
    ``rows``: which rows ``trace`` is (count and split, core.certify.report_rows.rows_text); ``held_out``: whether
    ``threshold`` was chosen on other rows. When the certificate's threshold is not ``threshold``, both are
    documented, each with its figures on the same rows."""
    pol = _template(policy, trace)
    params = {k: v for k, v in pol.params.items() if k != "threshold"}
    chosen = "full model (every block)" if threshold is None else f"{pol.symbol} = {threshold:.6g}"
    cert_thr = certificate.threshold if certificate is not None else None
    differs = certificate is not None and not RR.same_threshold(threshold, cert_thr)
    how = RR.how_chosen(threshold, cert_thr, certificate is not None, pol.symbol)
    rows = rows or RR.rows_text(trace.n, data or trace.meta.get("task", ""))
    tag = "held-out" if held_out else "report rows"
    cert_html, risk_fig = _certificate_section(certificate, guarantee, curve, pol.direction)
    figs = [pareto_figure(trace, pol, threshold, tag)] + ([risk_fig] if risk_fig is not None else [])
    divs = [f.to_html(full_html=False, include_plotlyjs=False, config=_CONFIG) for f in figs]
    warnings = "".join(f'<div class="warn">{_e(n)}</div>' for n in notes)
    setup = _table([("model", model), ("data", data or trace.meta.get("task", "")), ("report rows", rows),
                    ("samples", trace.n), ("blocks", trace.n_blocks), ("classes", ", ".join(trace.label_names))])
    policy_rows = [("policy", f"{pol.title} ({pol.name})"), ("paper", pol.paper),
                   ("parameters", json.dumps(params, default=lambda v: np.asarray(v).tolist())),
                   ("threshold", chosen), ("how it was chosen", how)]
    head, sentence = RR.figures_heading(held_out, rows)
    held = f"<h2>{_e(head)}</h2><p class=\"muted\">{_e(sentence)}</p>" + _table(
        list(heldout_figures(trace, pol, threshold).items()))
    if differs:
        cert_chosen = "the full model (every block)" if cert_thr is None else f"{pol.symbol} = {cert_thr:.6g}"
        policy_rows.append(("certified threshold (not applied)", cert_chosen))
        head, sentence = RR.figures_heading(True, rows)
        held += (f"<h3>The certified threshold, {_e(cert_chosen)}, on the same rows</h3>"
                 f"<p class=\"muted\">{_e(sentence)}</p>" + _table(list(heldout_figures(trace, pol, cert_thr).items())))
    risk_block = f"<h3>Risk along the grid</h3>{divs[1]}" if len(divs) > 1 else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)} · {_e(model)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body>
<h1>{_e(title)}</h1>
<p class="muted">One file, no network needed: the charts are interactive (hover, zoom) and plotly.js is inside.</p>
{warnings}
<h2>Model and data</h2>{setup}
<h2>Policy and threshold</h2>{_table(policy_rows)}
<h2>Guarantee</h2>{cert_html}{risk_block}
{held}
<h2>Speed against quality ({tag}: {_e(rows)})</h2>{divs[0]}
<h2>Samples the early exit got wrong ({tag})</h2>{_examples(trace, pol, threshold)}
<p class="muted">Generated by ExitLens.</p>
</body></html>
"""

"""Per-slice figures (the Slices page, the Threshold debugger's per-slice certificate): risk and speed-up per slice
with their bounds, prediction-depth histograms, KL to the final exit per block, confusion per exit. Every title
names the rows the numbers are measured on (``rows``)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.charts.common import _MARGIN, CLASS_COLORS, THRESHOLD_COLOR


def _colour(i: int) -> str:
    return CLASS_COLORS[i % len(CLASS_COLORS)]


def risk_and_speedup(table: pd.DataFrame, epsilon: float | None = None, rows: str = "") -> go.Figure:
    """Left: each slice's exit-induced error rate, the whisker up to its upper confidence bound ("induced rate
    bound"), ε as a line. Right: its layer speed-up with the interval ("speed-up low" … "speed-up high")."""
    d = table.attrs.get("delta", 0.05)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        f"exit-induced error rate (whisker: {1 - d:.0%} upper bound)", f"layer speed-up L/ℓ̄ ({1 - d:.0%} interval)"))
    s = table["slice"].astype(str)
    rate, ucb = table["exit-induced error rate"], table["induced rate bound"]
    fig.add_trace(go.Bar(x=s, y=rate, name="exit-induced error rate", marker_color="#e03131",
                         error_y=dict(type="data", symmetric=False, array=(ucb - rate).clip(lower=0),
                                      arrayminus=np.zeros(len(s))),
                         customdata=np.stack([table["samples"], ucb], 1),
                         hovertemplate="%{x}: %{y:.4f} (bound %{customdata[1]:.4f}, n = %{customdata[0]})"
                                       "<extra></extra>"), row=1, col=1)
    sp = table["layer speed-up"]
    fig.add_trace(go.Bar(x=s, y=sp, name="layer speed-up", marker_color="#1c7ed6",
                         error_y=dict(type="data", symmetric=False, array=(table["speed-up high"] - sp).clip(lower=0),
                                      arrayminus=(sp - table["speed-up low"]).clip(lower=0)),
                         hovertemplate="%{x}: %{y:.3f}×<extra></extra>"), row=1, col=2)
    if epsilon is not None:
        fig.add_hline(y=epsilon, line=dict(color=THRESHOLD_COLOR, dash="dash"), annotation_text=f"ε = {epsilon:g}",
                      row=1, col=1)
    fig.update_layout(title=f"Per slice — {rows}", showlegend=False, margin=_MARGIN, height=360)
    fig.update_yaxes(title_text="rate", row=1, col=1)
    fig.update_yaxes(title_text="×", row=1, col=2)
    return fig


def depth_histograms(hist: pd.DataFrame, rows: str = "") -> go.Figure:
    """One line per slice: the share of its samples whose prediction depth is block b (1-based)."""
    blocks = [c for c in hist.columns if c.startswith("block ")]
    fig = go.Figure()
    for i, r in hist.reset_index(drop=True).iterrows():
        n = max(int(r["samples"]), 1)
        fig.add_trace(go.Scatter(x=[int(b.split()[1]) for b in blocks], y=[r[b] / n for b in blocks],
                                 mode="lines+markers", name=f"{r['slice']} (n = {int(r['samples']):,})",
                                 line=dict(color=_colour(i)), customdata=[r[b] for b in blocks],
                                 hovertemplate="block %{x}: %{y:.1%} (%{customdata} samples)<extra></extra>"))
    fig.update_layout(title=f"Prediction depth: the block from which every later exit agrees with the last — {rows}",
                      xaxis_title="block (1-based)", yaxis_title="share of the slice's samples", margin=_MARGIN,
                      height=340, xaxis=dict(dtick=1), yaxis=dict(tickformat=".0%"))
    return fig


def kl_lines(kl: pd.DataFrame, rows: str = "") -> go.Figure:
    """Mean KL(p_L ‖ p_b) per block, one line per slice."""
    blocks = [c for c in kl.columns if c.startswith("block ")]
    fig = go.Figure()
    for i, r in kl.reset_index(drop=True).iterrows():
        fig.add_trace(go.Scatter(x=[int(b.split()[1]) for b in blocks], y=[r[b] for b in blocks], mode="lines+markers",
                                 name=str(r["slice"]), line=dict(color=_colour(i))))
    fig.update_layout(title=f"KL(final exit ‖ block b), mean per slice — {rows}", xaxis_title="block (1-based)",
                      yaxis_title="nats", margin=_MARGIN, height=320, xaxis=dict(dtick=1))
    return fig


def confusion(conf: np.ndarray, label_names: Sequence[str], title: str) -> go.Figure:
    """(K, K) counts: rows = true class, columns = predicted; each cell's count and row share written in it."""
    conf = np.asarray(conf)
    share = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    text = [[f"{conf[i, j]:,}<br>{share[i, j]:.0%}" for j in range(conf.shape[1])] for i in range(conf.shape[0])]
    names = list(label_names)
    fig = go.Figure(go.Heatmap(z=share, x=[f"pred {n}" for n in names], y=[f"true {n}" for n in names], text=text,
                               texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1, showscale=False,
                               hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_layout(title=title, margin=_MARGIN, height=300, yaxis=dict(autorange="reversed"))
    return fig


def slice_certificates(table: pd.DataFrame, epsilon: float, rows: str = "") -> go.Figure:
    """Per slice: the realized risk on report rows of the global and the slice-certified threshold (bars), and
    the global threshold's bound on the calibration rows (markers), against ε."""
    s = table["slice"].astype(str)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=s, y=table["global: realized risk"], name="global threshold: realized risk",
                         marker_color="#868e96"))
    fig.add_trace(go.Bar(x=s, y=table["by slice: realized risk"], name="certified by slice: realized risk",
                         marker_color="#2f9e44"))
    fig.add_trace(go.Scatter(x=s, y=table["global: bound on calibration"], mode="markers", name="global: bound "
                             "(calibration, δ/G)", marker=dict(symbol="line-ew-open", size=22, color="#e03131")))
    fig.add_hline(y=epsilon, line=dict(color=THRESHOLD_COLOR, dash="dash"), annotation_text=f"ε = {epsilon:g}")
    fig.update_layout(title=f"Risk per slice — {rows}", barmode="group", margin=_MARGIN, height=340,
                      yaxis_title="risk", legend=dict(orientation="h", y=-0.2))
    return fig

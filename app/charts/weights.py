"""Binarized weights: sign balance, α, latent histograms, sizes, sign flips, the ApproxSign surrogate."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from app.charts.common import (  # noqa: F401
    _MARGIN,
    CLASS_COLORS,
    COHORT_COLORS,
    EXIT_COLOR,
    POLICY_COLORS,
    THRESHOLD_COLOR,
    _axis,
    _blocks_axis,
    _class_color,
    _finite_range,
    _stack,
    _vline,
    fmt_flops,
    stat_title,
)


def _short(names: Sequence[str]) -> list[str]:
    return [n.replace("blocks.", "b").replace(".attn.", ".").replace("embeddings.", "emb.") for n in names]


def _layer_axis(fig: go.Figure, names: Sequence[str]) -> None:
    """Layer names on the x-axis: short, and at most ~48 labelled (a 6-block MiniLM's 36 all are; every layer
    still has its bar)."""
    short = _short(names)
    step = max(1, int(np.ceil(len(short) / 48)))
    fig.update_xaxes(title_text="binarized layer", tickangle=-60, tickfont=dict(size=9), automargin=True,
                     tickmode="array", tickvals=short[::step], ticktext=short[::step])


def sign_balance(names: Sequence[str], plus_share: Sequence[float]) -> go.Figure:
    v = np.asarray(plus_share, dtype=np.float64)
    fig = go.Figure(go.Bar(x=_short(names), y=v, name="share of +1 signs", marker_color="#1c7ed6",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.add_hline(y=0.5, line=dict(color="#868e96", dash="dash"), annotation_text="balanced")
    fig.update_yaxes(title_text="share of weights with sign +1 (fraction)", range=[0, 1])
    _layer_axis(fig, names)
    fig.update_layout(title="Sign balance per layer", height=360, margin=_MARGIN)
    return fig


def alpha_box(names: Sequence[str], alphas: Sequence[np.ndarray]) -> go.Figure:
    fig = go.Figure()
    for n, a in zip(_short(names), alphas):
        fig.add_trace(go.Box(y=np.asarray(a, dtype=np.float64), name=n, boxpoints=False, marker_color="#7048e8",
                             showlegend=False))
    fig.update_yaxes(title_text="α = mean |W| per output row (scale)")
    _layer_axis(fig, names)
    fig.update_layout(title="Scaling factors α per layer", height=360, margin=_MARGIN)
    return fig


def latent_histogram(edges: np.ndarray, counts: np.ndarray, name: str, latent: bool = True) -> go.Figure:
    """Histogram of a binarized layer's latent weights (``latent=False``: of the stored values ±α, when the
    checkpoint keeps no latents), with the surrogate's gradient window |w| < 1 shaded."""
    edges, counts = np.asarray(edges, np.float64), np.asarray(counts, np.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    inside = (np.abs(centers) < 1) | (not latent)
    fig = go.Figure(go.Bar(x=centers, y=counts, width=np.diff(edges), name="latent weights",
                           marker_color=np.where(inside, "#1c7ed6", "#adb5bd"),
                           hovertemplate="w ≈ %{x:.3f}: %{y} weights<extra></extra>"))
    lo, hi = float(edges[0]), float(edges[-1])
    if latent and (lo < 1 < hi or lo < -1 < hi):   # the window only means something when the data reaches it
        fig.add_vrect(x0=max(-1, lo), x1=min(1, hi), fillcolor="rgba(28,126,214,0.07)", line_width=0,
                      annotation_text="|w| < 1: gradient window", annotation_position="top left")
    fig.update_xaxes(title_text="latent weight w" if latent else "stored weight ±α (per row)")
    fig.update_yaxes(title_text="weights (count)")
    fig.update_layout(title=f"{'Latent' if latent else 'Stored'} weights of {name}", height=340, margin=_MARGIN)
    return fig


def window_share(names: Sequence[str], share: Sequence[float]) -> go.Figure:
    fig = go.Figure(go.Bar(x=_short(names), y=np.asarray(share, np.float64), marker_color="#2f9e44",
                           name="inside |w| < 1", hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_yaxes(title_text="share of latents inside |w| < 1 (fraction)", range=[0, 1.05])
    _layer_axis(fig, names)
    fig.update_layout(title="Latents still inside the surrogate's gradient window", height=360, margin=_MARGIN)
    return fig


def size_bars(fp32_bytes: int, packed_bytes: int, disk_bytes: int | None = None) -> go.Figure:
    labels = ["fp32 (every weight 32 bits)", "packed (1 bit + α per row)"]
    vals = [fp32_bytes, packed_bytes]
    if disk_bytes is not None:
        labels.append("on disk (model.safetensors)")
        vals.append(disk_bytes)
    kb = np.asarray(vals, dtype=np.float64) / 1024
    fig = go.Figure(go.Bar(x=labels, y=kb, marker_color=["#adb5bd", "#1c7ed6", "#2f9e44"][: len(vals)],
                           text=[f"{v:,.1f} KiB" for v in kb], textposition="outside", name="size"))
    fig.update_yaxes(title_text="size (KiB)", range=[0, float(kb.max()) * 1.18 if kb.size else 1])
    fig.update_layout(title="Model size", height=340, margin=_MARGIN)
    return fig


def sign_flip_bars(flips: Mapping[str, float], other: str) -> go.Figure:
    names = list(flips)
    fig = go.Figure(go.Bar(x=_short(names), y=[flips[n] for n in names], marker_color="#e8590c",
                           name="sign flips", hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    fig.update_yaxes(title_text="share of weights whose sign differs (fraction)", rangemode="tozero")
    _layer_axis(fig, names)
    fig.update_layout(title=f"Sign flips against {other}", height=360, margin=_MARGIN)
    return fig


def alpha_vs_reference(alphas: np.ndarray, reference: np.ndarray, name: str) -> go.Figure:
    """Per output row of one layer: the stored α against the pretrained weight's mean |W| (the α it
    started from); points above the diagonal grew in fine-tuning."""
    a, r = np.asarray(alphas, np.float64), np.asarray(reference, np.float64)
    lim = [0, float(max(a.max(initial=0), r.max(initial=0))) * 1.05 or 1.0]
    fig = go.Figure([go.Scattergl(x=r, y=a, mode="markers", name="rows", marker=dict(size=4, color="#7048e8",
                                                                                     opacity=0.6),
                                  hovertemplate="pretrained %{x:.4f} → α %{y:.4f}<extra></extra>"),
                     go.Scatter(x=lim, y=lim, mode="lines", name="unchanged", line=dict(color="#868e96", dash="dash"))])
    fig.update_xaxes(title_text="pretrained mean |W| per row", range=lim)
    fig.update_yaxes(title_text="stored α per row", range=lim)
    fig.update_layout(title=f"α against the pretrained weights — {_short([name])[0]}", height=360, margin=_MARGIN,
                      legend=dict(orientation="h", y=-0.25))
    return fig


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Learn

def approx_sign_chart(x: np.ndarray, sign: np.ndarray, grad: np.ndarray, marker: float | None = None) -> go.Figure:
    """sign(x) in the forward pass and the ApproxSign derivative (Bi-Real Net) in the backward pass."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=sign, mode="lines", name="forward: sign(w)", line=dict(color="#1c7ed6", width=3,
                                                                                          shape="hv")))
    fig.add_trace(go.Scatter(x=x, y=grad, mode="lines", name="backward: ApproxSign′(w)",
                             line=dict(color="#e8590c", width=3)))
    if marker is not None:
        gi = 2 - 2 * abs(marker) if abs(marker) < 1 else 0.0
        fig.add_trace(go.Scatter(x=[marker], y=[gi], mode="markers+text", name="gradient at w",
                                 text=[f"∂/∂w = {gi:.2f}"], textposition="top right",
                                 marker=dict(size=12, color=EXIT_COLOR)))
    fig.add_vrect(x0=-1, x1=1, fillcolor="rgba(28,126,214,0.07)", line_width=0)
    fig.update_xaxes(title_text="latent weight w")
    fig.update_yaxes(title_text="value", range=[-1.3, 2.3])
    fig.update_layout(title="Binarization: sign forward, a triangle-shaped surrogate backward", height=340,
                      margin=_MARGIN, legend=dict(orientation="h", y=-0.22))
    return fig

"""One sample's trip through the blocks: classes, probabilities, exit signals, prototype distances, FLOPs."""
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
from core.util import Stat

# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Per-sample trace (Playground, Learn, the sample drill-down of the Prototypes page)

def class_band(probs: np.ndarray, label_names: Sequence[str], exit_block: int | None = None,
               title: str = "Predicted class per block") -> go.Figure:
    """Heatmap of the probability of every class (rows) at every block (columns), the predicted class of
    each block as a coloured band on top, and the exit block outlined. ``probs`` (L, K); exit 0-based."""
    probs = np.asarray(probs, dtype=np.float64)
    n_blocks, k = probs.shape
    x = np.arange(1, n_blocks + 1)
    pred = probs.argmax(axis=1)
    layout, _ = _stack(2, heights=[0.22, 0.78], gap=0.04)
    traces = [
        # the band: one coloured square per block, in the predicted class's colour
        go.Bar(x=x, y=np.ones(n_blocks), marker_color=[_class_color(p) for p in pred],
               text=[label_names[p] for p in pred], textposition="inside", insidetextanchor="middle", textangle=0,
               name="prediction", showlegend=False, hovertemplate="block %{x}: %{text}<extra></extra>", width=0.96,
               xaxis="x", yaxis="y"),
        go.Heatmap(z=probs.T, x=x, y=list(label_names), zmin=0, zmax=1, colorscale="Blues",
                   text=np.round(probs.T, 2), texttemplate="%{text:.2f}", name="probability",
                   colorbar=dict(title="p", len=0.75, y=0.39, thickness=12),
                   hovertemplate="block %{x}<br>%{y}: p=%{z:.3f}<extra></extra>", xaxis="x2", yaxis="y2"),
    ]
    layout["yaxis"].update(visible=False, range=[0, 1.5 if exit_block is not None else 1])
    layout["yaxis2"].update(title_text="class", autorange="reversed")        # class 0 on top
    layout["xaxis2"].update(title_text="block")
    shapes = []
    if exit_block is not None:
        xe = exit_block + 1
        traces.append(go.Scatter(x=[xe], y=[1.15], mode="markers+text", name="exit", showlegend=False,
                                 marker=dict(symbol="triangle-down", size=14, color=EXIT_COLOR), text=["exit"],
                                 textposition="top center", cliponaxis=False, xaxis="x", yaxis="y",
                                 hovertemplate=f"exits after block {xe}<extra></extra>"))
        shapes.append(dict(type="rect", x0=xe - 0.5, x1=xe + 0.5, xref="x2", y0=0, y1=1, yref="y2 domain",
                           line=dict(color=EXIT_COLOR, width=2), fillcolor="rgba(0,0,0,0)"))
    fig = go.Figure(traces, dict(layout, title=title, height=150 + 42 * k, margin=_MARGIN, bargap=0.04,
                                 shapes=shapes))
    _blocks_axis(fig, n_blocks)
    return fig


def probability_lines(probs: np.ndarray, label_names: Sequence[str], exit_block: int | None = None) -> go.Figure:
    """p(class) per block, one line per class, with the exit block marked."""
    probs = np.asarray(probs, dtype=np.float64)
    n_blocks, k = probs.shape
    x = np.arange(1, n_blocks + 1)
    traces = [go.Scatter(x=x, y=probs[:, c], mode="lines+markers", name=str(label_names[c]),
                         line=dict(color=_class_color(c))) for c in range(k)]
    shapes = [] if exit_block is None else [_vline(exit_block + 1, color=EXIT_COLOR, dash="dot")]
    fig = go.Figure(traces, dict(title="Class probabilities per block", height=300, margin=_MARGIN, shapes=shapes,
                                 legend=dict(orientation="h", y=-0.25), yaxis=dict(title_text="probability",
                                                                                   range=[0, 1.02])))
    _blocks_axis(fig, n_blocks, title_text="block")
    return fig


def signal_curves(stats: Mapping[str, Stat], policy_key: str | None = None, threshold: float | None = None,
                  exit_block: int | None = None, direction: str = "below", keys: Sequence[str] | None = None,
                  title: str = "Exit signals per block") -> go.Figure:
    """One panel per signal (entropy, normalized entropy, ΔH, EDR, …), each titled and scaled by its Stat.

    On the policy's own signal (``policy_key``) the threshold is drawn as a line (a trace named
    "threshold") and the exit as a marker (a trace named "exit" at x = exit_block + 1). Every panel gets
    a dotted line at the exit block."""
    keys = [k for k in (keys or list(stats)) if k in stats]
    if policy_key in stats and policy_key not in keys:
        keys.append(policy_key)
    n_blocks = len(np.asarray(next(iter(stats.values())).value)) if stats else 1
    rows = max(len(keys), 1)
    layout, domains = _stack(rows, gap=0.1 if rows < 4 else 0.06)
    x = np.arange(1, n_blocks + 1)
    traces, shapes, annotations = [], [], []
    for r, key in enumerate(keys, start=1):
        st_ = stats[key]
        xa, ya = _axis(r)
        y = np.asarray(st_.value, dtype=np.float64)
        is_pol = key == policy_key
        annotations.append(dict(text=st_.name + (" — the policy's signal" if is_pol else ""), x=0.5, xref="paper",
                                y=domains[r - 1][0], yref="paper", yanchor="bottom", xanchor="center",
                                showarrow=False, font=dict(size=13)))
        traces.append(go.Scatter(x=x, y=np.where(np.isfinite(y), y, None), mode="lines+markers", name=st_.name,
                                 line=dict(color=EXIT_COLOR if is_pol else "#1c7ed6", width=3 if is_pol else 2),
                                 showlegend=False, xaxis=xa, yaxis=ya,
                                 hovertemplate=f"block %{{x}}: %{{y:.4f}} {st_.unit}<extra>{st_.name}</extra>"))
        yrange = _finite_range(st_.range, y)
        if is_pol and threshold is not None:
            verb = "exit when below" if direction == "below" else "exit when ≥"
            traces.append(go.Scatter(x=[0.5, n_blocks + 0.5], y=[threshold, threshold], mode="lines+text",
                                     name="threshold", line=dict(color=THRESHOLD_COLOR, dash="dash"),
                                     text=["", f"threshold {threshold:.4g} · {verb}"], textposition="top left",
                                     textfont=dict(color=THRESHOLD_COLOR, size=11),     # labelled on the chart
                                     hovertemplate=f"threshold {threshold:.4g} ({verb})<extra></extra>",
                                     showlegend=False, xaxis=xa, yaxis=ya))
            yrange = _finite_range(st_.range, np.append(y, threshold))
        if is_pol and exit_block is not None:
            yv = y[exit_block] if np.isfinite(y[exit_block]) else (threshold if threshold is not None else 0.0)
            traces.append(go.Scatter(x=[exit_block + 1], y=[yv], mode="markers", name="exit", showlegend=False,
                                     marker=dict(symbol="star", size=16, color=EXIT_COLOR,
                                                 line=dict(color="white", width=1)), xaxis=xa, yaxis=ya,
                                     hovertemplate=f"exit after block {exit_block + 1}<extra></extra>"))
        layout[f"yaxis{'' if r == 1 else r}"].update(title_text=st_.unit, range=yrange)
        if exit_block is not None:
            shapes.append(_vline(exit_block + 1, r, color=EXIT_COLOR, dash="dot", width=1))
    layout[f"xaxis{'' if rows == 1 else rows}"].update(title_text="block")
    fig = go.Figure(traces, dict(layout, title=title, height=70 + 170 * rows, margin=_MARGIN, showlegend=False,
                                 shapes=shapes, annotations=annotations))
    _blocks_axis(fig, n_blocks)
    return fig


def prototype_distances(dist: np.ndarray, label_names: Sequence[str], exit_block: int | None = None,
                        distance: str = "sqeuclidean") -> go.Figure:
    """Grouped bars: the distance of the sample's embedding to every class prototype, per block."""
    dist = np.asarray(dist, dtype=np.float64)
    n_blocks, k = dist.shape
    x = np.arange(1, n_blocks + 1)
    traces = [go.Bar(x=x, y=dist[:, c], name=f"to {label_names[c]}", marker_color=_class_color(c)) for c in range(k)]
    shapes = [] if exit_block is None else [_vline(exit_block + 1, color=EXIT_COLOR, dash="dot")]
    unit = "squared Euclidean" if distance == "sqeuclidean" else "1 − cosine"
    fig = go.Figure(traces, dict(title="Prototype distances per block (DE³)", barmode="group", height=300,
                                 margin=_MARGIN, legend=dict(orientation="h", y=-0.25), shapes=shapes,
                                 yaxis=dict(title_text=f"distance ({unit})", rangemode="tozero")))
    _blocks_axis(fig, n_blocks, title_text="block")
    return fig


def flops_bar(spent: float, full: float, exit_block: int, n_blocks: int) -> go.Figure:
    """FLOPs spent up to the exit next to the full depth's, in MFLOPs."""
    m = 1e6
    fig = go.Figure(go.Bar(
        y=[f"full depth ({n_blocks} blocks)", f"early exit ({exit_block + 1} of {n_blocks})"],
        x=[full / m, spent / m], orientation="h", marker_color=["#adb5bd", EXIT_COLOR],
        text=[fmt_flops(full), f"{fmt_flops(spent)} ({spent / full:.0%})" if full else ""],
        textposition="auto", name="FLOPs", hovertemplate="%{y}: %{x:,.1f} MFLOPs<extra></extra>"))
    fig.update_xaxes(title_text="MFLOPs (2 FLOPs per multiply-add)", rangemode="tozero", automargin=True)
    fig.update_layout(title="Compute spent on this sentence", height=220,
                      margin=dict(_MARGIN, b=40))
    return fig



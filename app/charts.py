"""Pure chart functions: numbers in, plotly Figures out — no Streamlit, unit-tested in tests/test_charts.py.

Statistics label themselves: a function that plots a :class:`core.analysis.Stat` takes its axis title
from the Stat's name and unit and its axis range from the Stat's range. Blocks are 1-based on every axis.
Named traces the tests (and readers) can find: "threshold" (the policy's threshold line), "exit" (the
exit marker), "pareto front", "current".
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.analysis import Stat

CLASS_COLORS = ["#e8590c", "#1c7ed6", "#2f9e44", "#ae3ec9", "#f59f00", "#0c8599"]
POLICY_COLORS = {"entropy": "#1c7ed6", "norm_entropy": "#15aabf", "maxprob": "#f59f00", "patience": "#ae3ec9",
                 "frac_reduction": "#2f9e44", "edr": "#e8590c", "lte": "#862e9c", "oracle": "#212529"}
COHORT_COLORS = {"destructive": "#e03131", "multi_flip": "#f08c00", "wasteful": "#b197fc",
                 "wrong": "#343a40", "correct": "#74c0fc", "unlabelled": "#adb5bd"}
EXIT_COLOR = "#c2255c"
THRESHOLD_COLOR = "#495057"
_MARGIN = dict(l=10, r=10, t=48, b=10)


def stat_title(stat: Stat) -> str:
    """"name (unit)" — the axis title a Stat gives itself."""
    return f"{stat.name} ({stat.unit})" if stat.unit else stat.name


def _finite_range(rng, values=None, pad: float = 0.05):
    """A plotly axis range from a Stat range; a NaN end is taken from the data."""
    lo, hi = (float(rng[0]), float(rng[1])) if rng is not None else (np.nan, np.nan)
    if values is not None:
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            lo = min(lo, v.min()) if np.isfinite(lo) else v.min()
            hi = max(hi, v.max()) if np.isfinite(hi) else v.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    span = (hi - lo) or 1.0
    return [lo - pad * span, hi + pad * span]


def _blocks_axis(fig: go.Figure, n_blocks: int, **kw) -> None:
    fig.update_xaxes(tickmode="array", tickvals=list(range(1, n_blocks + 1)), range=[0.5, n_blocks + 0.5], **kw)


def _class_color(k: int) -> str:
    return CLASS_COLORS[k % len(CLASS_COLORS)]


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Per-sample trace (Playground, Learn, the sample drill-down of the Prototypes page)

def _stack(rows: int, heights: Sequence[float] | None = None, gap: float = 0.08) -> tuple[dict, list[tuple]]:
    """Layout axes for ``rows`` panels stacked top to bottom that share the block axis — what make_subplots
    gives, written as one dict (make_subplots and per-row updates cost ~20–40 ms a figure; this ~1 ms).
    Returns (layout dict, [(top, bottom) domain per row]). Row r uses axes x{r}/y{r} ("x"/"y" for r = 1)."""
    heights = np.asarray(heights if heights is not None else np.ones(rows), dtype=np.float64)
    heights = heights / heights.sum() * (1 - gap * (rows - 1))
    layout, domains, top = {}, [], 1.0
    for r in range(1, rows + 1):
        bottom = max(top - heights[r - 1], 0.0)
        sx, sy = ("", "") if r == 1 else (str(r), str(r))
        layout[f"xaxis{sx}"] = dict(anchor=f"y{sy}", domain=[0, 1], showticklabels=r == rows,
                                    **({} if r == rows else {"matches": f"x{rows if rows > 1 else ''}"}))
        layout[f"yaxis{sy}"] = dict(anchor=f"x{sx}", domain=[bottom, top])
        domains.append((top, bottom))
        top = bottom - gap
    return layout, domains


def _axis(r: int) -> tuple[str, str]:
    """Trace axis references of stacked row r (1-based)."""
    return ("x", "y") if r == 1 else (f"x{r}", f"y{r}")


def _vline(x: float, r: int | None = None, **line) -> dict:
    """A vertical line shape over row r (None: the whole figure)."""
    xr, yr = _axis(r or 1)
    return dict(type="line", x0=x, x1=x, xref=xr, y0=0, y1=1, yref=f"{yr} domain" if r else "paper",
                line=line)


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
               text=[label_names[p] for p in pred], textposition="inside", insidetextanchor="middle",
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
            traces.append(go.Scatter(x=[0.5, n_blocks + 0.5], y=[threshold, threshold], mode="lines",
                                     name="threshold", line=dict(color=THRESHOLD_COLOR, dash="dash"),
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
        text=[f"{full / m:.3g} MFLOPs", f"{spent / m:.3g} MFLOPs ({spent / full:.0%})" if full else ""],
        textposition="auto", name="FLOPs", hovertemplate="%{y}: %{x:.4g} MFLOPs<extra></extra>"))
    fig.update_xaxes(title_text="FLOPs per sample (millions; 2 FLOPs per MAC)", rangemode="tozero")
    fig.update_layout(title="Compute spent on this sentence", height=200, margin=_MARGIN)
    return fig


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Dataset views (Threshold debugger, Compare)

X_AXES = {"layer_speedup": "layer speed-up L/ℓ̄ (×)", "flops_reduction": "FLOPs reduction (fraction)"}


def pareto_chart(sweep: pd.DataFrame, front: pd.DataFrame, x: str = "layer_speedup", metric_label: str = "accuracy",
                 current: tuple[str, float | None] | None = None, titles: Mapping[str, str] | None = None,
                 baseline: float | None = None) -> go.Figure:
    """Metric against speed for every policy's sweep (one line each), the Pareto front over all of them,
    the oracle as a star and the sidebar's current policy/threshold ringed. Every point carries
    customdata [policy, threshold] so a click can be mapped back to a setting."""
    titles = titles or {}
    fig = go.Figure()
    for name, d in sweep.groupby("policy", sort=False):
        d = d.sort_values(x)
        thr = d["threshold"].to_numpy(dtype=np.float64)
        is_oracle = name == "oracle"
        fig.add_trace(go.Scatter(
            x=d[x], y=d["metric"], mode="markers" if is_oracle else "lines+markers", name=titles.get(name, name),
            marker=dict(size=14 if is_oracle else 5, symbol="star" if is_oracle else "circle",
                        color=POLICY_COLORS.get(name, "#868e96")),
            line=dict(width=1.5, color=POLICY_COLORS.get(name, "#868e96")),
            customdata=np.stack([np.full(len(d), name, dtype=object), thr], axis=1),
            hovertemplate=("<b>%{customdata[0]}</b> threshold %{customdata[1]:.4g}<br>"
                           f"{metric_label} %{{y:.4f}}<br>{X_AXES.get(x, x)} %{{x:.3f}}<extra></extra>")))
    if len(front):
        fig.add_trace(go.Scatter(x=front[x], y=front["metric"], mode="lines", name="pareto front",
                                 line=dict(color="#212529", width=2.5, dash="dot", shape="hv"), hoverinfo="skip"))
    if baseline is not None and np.isfinite(baseline):
        fig.add_hline(y=baseline, line=dict(color="#868e96", dash="dash", width=1),
                      annotation_text="full model", annotation_position="bottom right")
    if current is not None:
        pol, thr = current
        d = sweep[sweep["policy"] == pol]
        if len(d):
            if thr is not None and d["threshold"].notna().any():
                row = d.iloc[int(np.nanargmin(np.abs(d["threshold"].to_numpy(dtype=np.float64) - thr)))]
            else:
                row = d.iloc[0]
            fig.add_trace(go.Scatter(x=[row[x]], y=[row["metric"]], mode="markers", name="current",
                                     marker=dict(size=20, symbol="circle-open", color=EXIT_COLOR,
                                                 line=dict(width=3)), hoverinfo="skip"))
    fig.update_xaxes(title_text=X_AXES.get(x, x))
    fig.update_yaxes(title_text=metric_label)
    fig.update_layout(title=f"{metric_label} vs {X_AXES.get(x, x).split(' (')[0]} — every policy; click a point to "
                            "apply it", height=470, margin=_MARGIN, legend=dict(orientation="h", y=-0.18),
                      clickmode="event+select", hovermode="closest")
    return fig


def picked_point(selection) -> tuple[str, float | None] | None:
    """(policy, threshold) of the first clicked point of ``pareto_chart`` (a Streamlit selection dict or
    object with ``points``, each with ``customdata``), or None when nothing usable was picked."""
    if selection is None:
        return None
    points = selection.get("points") if isinstance(selection, Mapping) else getattr(selection, "points", None)
    for p in points or []:
        cd = p.get("customdata") if isinstance(p, Mapping) else None
        if cd is None or len(cd) < 2:
            continue
        name = str(cd[0])
        try:
            thr = float(cd[1])
        except (TypeError, ValueError):
            thr = None
        return name, (thr if thr is not None and np.isfinite(thr) else None)
    return None


def exit_histogram(exit_block: np.ndarray, n_blocks: int, labels: np.ndarray | None = None,
                   label_names: Sequence[str] | None = None, title: str = "Samples per exit block") -> go.Figure:
    """How many samples exit at each block (stacked by true class when labels are given)."""
    eb = np.asarray(exit_block, dtype=np.int64)
    x = np.arange(1, n_blocks + 1)
    fig = go.Figure()
    if labels is not None and label_names is not None and len(labels) and (np.asarray(labels) >= 0).all():
        for k, name in enumerate(label_names):
            fig.add_trace(go.Bar(x=x, y=np.bincount(eb[labels == k], minlength=n_blocks), name=f"label {name}",
                                 marker_color=_class_color(k)))
        fig.update_layout(barmode="stack")
    else:
        fig.add_trace(go.Bar(x=x, y=np.bincount(eb, minlength=n_blocks), name="samples", marker_color="#1c7ed6"))
    _blocks_axis(fig, n_blocks, title_text="exit block")
    fig.update_yaxes(title_text="samples")
    fig.update_layout(title=title, height=320, margin=_MARGIN, legend=dict(orientation="h", y=-0.25))
    return fig


def ece_bars(ece: Stat) -> go.Figure:
    """Expected calibration error per exit block."""
    v = np.asarray(ece.value, dtype=np.float64)
    x = np.arange(1, len(v) + 1)
    fig = go.Figure(go.Bar(x=x, y=v, name=ece.name, marker_color="#7048e8", text=[f"{a:.3f}" for a in v],
                           textposition="outside"))
    _blocks_axis(fig, len(v), title_text="exit block")
    fig.update_yaxes(title_text=stat_title(ece), range=[0, max(0.05, float(np.nanmax(v)) * 1.25 if v.size else 1)])
    fig.update_layout(title="Calibration error per exit (ECE)", height=300, margin=_MARGIN)
    return fig


def reliability(confidence: np.ndarray, accuracy: np.ndarray, count: np.ndarray,
                blocks: Sequence[int] | None = None) -> go.Figure:
    """Reliability diagram: accuracy against mean confidence per bin, one line per exit block, and the
    diagonal of perfect calibration. Arrays (L, M); ``blocks`` 0-based to draw (default all)."""
    conf, acc = np.asarray(confidence, np.float64), np.asarray(accuracy, np.float64)
    n_blocks = conf.shape[0]
    blocks = list(range(n_blocks)) if blocks is None else list(blocks)
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                               line=dict(color="#adb5bd", dash="dash")))
    import plotly.colors as pc
    cols = pc.sample_colorscale("Viridis", [i / max(n_blocks - 1, 1) for i in range(n_blocks)])
    for b in blocks:
        ok = np.isfinite(conf[b]) & np.isfinite(acc[b])
        fig.add_trace(go.Scatter(x=conf[b][ok], y=acc[b][ok], mode="lines+markers", name=f"block {b + 1}",
                                 line=dict(color=cols[b]), customdata=np.asarray(count[b])[ok],
                                 hovertemplate="confidence %{x:.3f}<br>accuracy %{y:.3f}<br>"
                                               "%{customdata} samples<extra>block " + str(b + 1) + "</extra>"))
    fig.update_xaxes(title_text="mean confidence max p (per bin)", range=[0, 1.02])
    fig.update_yaxes(title_text="accuracy (per bin)", range=[0, 1.02])
    fig.update_layout(title="Reliability diagram per exit", height=360, margin=_MARGIN,
                      legend=dict(orientation="h", y=-0.22))
    return fig


def paired_pareto(fronts: Mapping[str, pd.DataFrame], x: str = "layer_speedup", metric_label: str = "accuracy",
                  sweeps: Mapping[str, pd.DataFrame] | None = None) -> go.Figure:
    """The Pareto fronts of several models on one chart (each model's full sweep faint behind it)."""
    fig = go.Figure()
    palette = ["#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9"]
    for j, (name, front) in enumerate(fronts.items()):
        color = palette[j % len(palette)]
        if sweeps is not None and name in sweeps:
            s = sweeps[name]
            fig.add_trace(go.Scatter(x=s[x], y=s["metric"], mode="markers", name=f"{name}: all policies",
                                     marker=dict(size=4, color=color, opacity=0.25), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=front[x], y=front["metric"], mode="lines+markers", name=f"{name}: pareto front",
                                 line=dict(color=color, width=3, shape="hv"),
                                 customdata=np.stack([front["policy"].astype(str),
                                                      front["threshold"].to_numpy(dtype=np.float64)], axis=1)
                                 if len(front) else None,
                                 hovertemplate="%{customdata[0]} %{customdata[1]:.4g}<br>%{y:.4f} at %{x:.3f}"
                                               f"<extra>{name}</extra>"))
    fig.update_xaxes(title_text=X_AXES.get(x, x))
    fig.update_yaxes(title_text=metric_label)
    fig.update_layout(title="Pareto fronts of both models", height=420, margin=_MARGIN,
                      legend=dict(orientation="h", y=-0.2))
    return fig


def difference_histogram(diff: np.ndarray, title: str = "Exit block of model B − model A") -> go.Figure:
    d = np.asarray(diff, dtype=np.int64)
    lo, hi = (int(d.min()), int(d.max())) if d.size else (0, 0)
    x = np.arange(lo, hi + 1)
    counts = np.bincount(d - lo, minlength=len(x)) if d.size else np.zeros(1)
    colors = ["#1c7ed6" if v < 0 else ("#868e96" if v == 0 else "#e8590c") for v in x]
    fig = go.Figure(go.Bar(x=x, y=counts, marker_color=colors, name="samples"))
    fig.update_xaxes(title_text="difference in exit block (blocks; < 0: B exits earlier)", tickmode="linear", dtick=1)
    fig.update_yaxes(title_text="samples")
    fig.update_layout(title=title, height=320, margin=_MARGIN)
    return fig


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Prototypes & overthinking

def projection_scatter(xy: np.ndarray, groups: np.ndarray, hover: Sequence[str], proto_xy: np.ndarray | None = None,
                       proto_names: Sequence[str] | None = None, title: str = "", method: str = "PCA",
                       group_labels: Mapping[str, str] | None = None,
                       colors: Mapping[str, str] | None = None, selected: Sequence[int] | None = None) -> go.Figure:
    """Samples in 2-D coloured by group (cohort), class prototypes as stars. Each sample's customdata is
    its index in the trace, so a lasso / click maps back to samples."""
    xy = np.asarray(xy, dtype=np.float64)
    groups = np.asarray(groups, dtype=object)
    colors = colors or COHORT_COLORS
    group_labels = group_labels or {}
    hover = np.asarray(list(hover), dtype=object)
    fig = go.Figure()
    order = [g for g in colors if g in set(groups)] + sorted(set(groups) - set(colors), key=str)
    many = len(xy) > 1500
    for g in order:
        idx = np.flatnonzero(groups == g)
        scatter = go.Scattergl if many else go.Scatter
        fig.add_trace(scatter(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=f"{group_labels.get(g, g)} ({len(idx)})",
            marker=dict(size=(6 if len(xy) < 2000 else 4) + (3 if g in ("destructive", "multi_flip") else 0),
                        color=colors.get(g, "#868e96"), opacity=0.85, line=dict(width=0)),
            customdata=idx, text=hover[idx], hovertemplate="#%{customdata}: %{text}<extra></extra>",
            selectedpoints=None if selected is None else [j for j, i in enumerate(idx) if i in set(selected)]))
    if proto_xy is not None and len(proto_xy):
        names = list(proto_names or [str(k) for k in range(len(proto_xy))])
        fig.add_trace(go.Scatter(x=proto_xy[:, 0], y=proto_xy[:, 1], mode="markers+text", name="class prototypes",
                                 marker=dict(symbol="star", size=22, color=[_class_color(k) for k in range(len(names))],
                                             line=dict(color="black", width=1.5)),
                                 text=[f"prototype {n}" for n in names],
                                 textposition=(["top center", "bottom center"] * len(names))[: len(names)],
                                 hovertemplate="%{text}<extra></extra>"))
    fig.update_xaxes(title_text=f"{method} 1", showticklabels=method == "PCA", zeroline=False)
    fig.update_yaxes(title_text=f"{method} 2", showticklabels=method == "PCA", zeroline=False)
    fig.update_layout(title=title, height=520, margin=_MARGIN, legend=dict(orientation="h", y=-0.12),
                      dragmode="lasso", hovermode="closest")
    return fig


def overthinking_per_layer(destructive: Stat, per_exit: Stat, oracle: float, final: float,
                           metric_label: str = "accuracy") -> go.Figure:
    """Bars: samples exit i gets right that the final exit gets wrong (destructive overthinking, SDN),
    with the per-exit accuracy, the oracle accuracy and the final accuracy as lines on a second axis."""
    d = np.asarray(destructive.value, dtype=np.float64)
    acc = np.asarray(per_exit.value, dtype=np.float64)
    n_blocks = len(d)
    x = np.arange(1, n_blocks + 1)
    ends = [0.5, n_blocks + 0.5]
    traces = [
        go.Bar(x=x, y=d, name=destructive.name, marker_color=COHORT_COLORS["destructive"], opacity=0.8),
        go.Scatter(x=x, y=acc, mode="lines+markers", name=per_exit.name, line=dict(color="#1c7ed6"), yaxis="y2"),
        go.Scatter(x=ends, y=[oracle, oracle], mode="lines", name="oracle accuracy",
                   line=dict(color="#2f9e44", dash="dash"), yaxis="y2"),
        go.Scatter(x=ends, y=[final, final], mode="lines", name="final-exit accuracy",
                   line=dict(color="#495057", dash="dot"), yaxis="y2"),
    ]
    both = np.append(acc, [oracle, final])
    lo, hi = (float(np.nanmin(both)), float(np.nanmax(both))) if n_blocks else (0.0, 1.0)
    pad = max(0.02, 0.15 * (hi - lo))
    fig = go.Figure(traces, dict(
        title="Overthinking per layer: right here, wrong at the final exit", height=380, margin=_MARGIN,
        legend=dict(orientation="h", y=-0.22),
        yaxis=dict(title_text=f"{destructive.name} ({destructive.unit})", rangemode="tozero"),
        yaxis2=dict(title_text="accuracy (fraction)", overlaying="y", side="right", tickformat=".2f",
                    showgrid=False, range=[max(0.0, lo - pad), min(1.0, hi + pad)])))
    _blocks_axis(fig, n_blocks, title_text="exit block")
    return fig


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Binarized weights

def _short(names: Sequence[str]) -> list[str]:
    return [n.replace("blocks.", "b").replace(".attn.", ".").replace("embeddings.", "emb.") for n in names]


def sign_balance(names: Sequence[str], plus_share: Sequence[float]) -> go.Figure:
    v = np.asarray(plus_share, dtype=np.float64)
    fig = go.Figure(go.Bar(x=_short(names), y=v, name="share of +1 signs", marker_color="#1c7ed6",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.add_hline(y=0.5, line=dict(color="#868e96", dash="dash"), annotation_text="balanced")
    fig.update_yaxes(title_text="share of weights with sign +1 (fraction)", range=[0, 1])
    fig.update_xaxes(title_text="binarized layer", tickangle=-45)
    fig.update_layout(title="Sign balance per layer", height=360, margin=_MARGIN)
    return fig


def alpha_box(names: Sequence[str], alphas: Sequence[np.ndarray]) -> go.Figure:
    fig = go.Figure()
    for n, a in zip(_short(names), alphas):
        fig.add_trace(go.Box(y=np.asarray(a, dtype=np.float64), name=n, boxpoints=False, marker_color="#7048e8",
                             showlegend=False))
    fig.update_yaxes(title_text="α = mean |W| per output row (scale)")
    fig.update_xaxes(title_text="binarized layer", tickangle=-45)
    fig.update_layout(title="Scaling factors α per layer", height=360, margin=_MARGIN)
    return fig


def latent_histogram(edges: np.ndarray, counts: np.ndarray, name: str, latent: bool = True) -> go.Figure:
    """Histogram of a binarized layer's latent weights (``latent=False``: of the stored values ±α, when the
    checkpoint keeps no latents), with the surrogate's gradient window |w| < 1 shaded."""
    edges, counts = np.asarray(edges, np.float64), np.asarray(counts, np.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    inside = np.abs(centers) < 1
    fig = go.Figure(go.Bar(x=centers, y=counts, width=np.diff(edges), name="latent weights",
                           marker_color=np.where(inside, "#1c7ed6", "#adb5bd"),
                           hovertemplate="w ≈ %{x:.3f}: %{y} weights<extra></extra>"))
    lo, hi = float(edges[0]), float(edges[-1])
    if lo < 1 < hi or lo < -1 < hi or hi <= 1:
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
    fig.update_xaxes(title_text="binarized layer", tickangle=-45)
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
    fig.update_xaxes(title_text="binarized layer", tickangle=-45)
    fig.update_layout(title=f"Sign flips against {other}", height=360, margin=_MARGIN)
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

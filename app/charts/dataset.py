"""A dataset's exits: Pareto fronts, exit histograms, calibration, projections, overthinking per layer."""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
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

X_AXES = {"layer_speedup": "layer speed-up L/ℓ̄ (×)", "flops_reduction": "FLOPs reduction (fraction)"}


def pareto_chart(sweep: pd.DataFrame, front: pd.DataFrame, x: str = "layer_speedup", metric_label: str = "accuracy",
                 current: tuple[str, float | None] | None = None, titles: Mapping[str, str] | None = None,
                 baseline: float | None = None, same: Mapping[str, str] | None = None) -> go.Figure:
    """Metric against speed for every policy's sweep (one line each), the Pareto front over all of them,
    the oracle as a star and the sidebar's current policy/threshold ringed. Every point carries
    customdata [policy, threshold] so a click can be mapped back to a setting. ``same``: {policy: the
    policy it makes the same decisions as} (core.analysis.equivalent) — those share one curve, named after
    all of them, instead of hiding one another (a click applies the first named)."""
    titles, same = titles or {}, same or {}
    fig = go.Figure()
    for name, d in sweep.groupby("policy", sort=False):
        if name in same:
            continue
        d = d.sort_values(x)
        thr = d["threshold"].to_numpy(dtype=np.float64)
        is_oracle = name == "oracle"
        twins = [titles.get(n, n) for n, rep in same.items() if rep == name]
        fig.add_trace(go.Scatter(
            x=d[x], y=d["metric"], mode="markers" if is_oracle else "lines+markers",
            name=" ≡ ".join([titles.get(name, name)] + twins),
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


def _points(selection) -> list:
    """The ``points`` of a Streamlit chart selection (a dict or an object), or []."""
    if selection is None:
        return []
    points = selection.get("points") if isinstance(selection, Mapping) else getattr(selection, "points", None)
    return list(points or [])


def picked_samples(selection) -> list[int]:
    """Trace indices of the samples a click, box or lasso picked on ``projection_scatter`` (their customdata;
    prototypes and points without one are skipped), sorted and unique."""
    out = set()
    for p in _points(selection):
        cd = p.get("customdata") if isinstance(p, Mapping) else None
        if isinstance(cd, Mapping):              # a customdata row comes back as {"0": index} from the browser
            cd = next(iter(cd.values()), None)
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        try:
            out.add(int(cd))
        except (TypeError, ValueError):
            continue
    return sorted(out)


def picked_point(selection) -> tuple[str, float | None] | None:
    """(policy, threshold) of the first clicked point of ``pareto_chart`` (a Streamlit selection dict or
    object with ``points``, each with ``customdata``), or None when nothing usable was picked."""
    for p in _points(selection):
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
    fig.update_xaxes(title_text="mean confidence max p (per bin)", range=[0, 1.02], automargin=True)
    fig.update_yaxes(title_text="accuracy (per bin)", range=[0, 1.02])
    fig.update_layout(title="Reliability diagram per exit", height=420, margin=_MARGIN,   # legend below: the
                      legend=dict(orientation="h", x=0, y=-0.22, xanchor="left", yanchor="top",  # plot keeps its
                                  font=dict(size=10)))                                            # width in a column
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
                       colors: Mapping[str, str] | None = None, selected: Sequence[int] | None = None,
                       totals: Mapping[str, int] | None = None) -> go.Figure:
    """Samples in 2-D coloured by group (cohort), class prototypes as stars. Each sample's customdata is
    its index in the trace, so a lasso / click maps back to samples. Hover text is HTML-escaped (it is
    the user's data). ``totals``: a group's size counting samples that are coloured by another group too
    (a sample in several cohorts wears one colour), shown as "752 here of 802"."""
    xy = np.asarray(xy, dtype=np.float64)
    groups = np.asarray(groups, dtype=object)
    colors = colors or COHORT_COLORS
    group_labels = group_labels or {}
    hover = np.asarray([html.escape(str(h)) for h in hover], dtype=object)
    totals = totals or {}
    fig = go.Figure()
    order = [g for g in colors if g in set(groups)] + sorted(set(groups) - set(colors), key=str)
    many = len(xy) > 1500
    for g in order:
        idx = np.flatnonzero(groups == g)
        scatter = go.Scattergl if many else go.Scatter
        fig.add_trace(scatter(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers",
            name=f"{group_labels.get(g, g)} ({len(idx)}"
                 + (f" here of {totals[g]}" if totals.get(g, len(idx)) != len(idx) else "") + ")",
            marker=dict(size=(6 if len(xy) < 2000 else 4) + (3 if g in ("destructive", "multi_flip") else 0),
                        color=colors.get(g, "#868e96"), opacity=0.85, line=dict(width=0)),
            customdata=idx.reshape(-1, 1), text=hover[idx], hovertemplate="#%{customdata[0]}: %{text}<extra></extra>",
            selectedpoints=None if selected is None else [j for j, i in enumerate(idx) if i in set(selected)]))
    if proto_xy is not None and len(proto_xy):
        names = list(proto_names or [str(k) for k in range(len(proto_xy))])
        star = go.Scattergl if many else go.Scatter          # drawn last in the same layer: on top of the points
        fig.add_trace(star(x=proto_xy[:, 0], y=proto_xy[:, 1], mode="markers+text", name="class prototypes",
                                 marker=dict(symbol="star", size=22, color=[_class_color(k) for k in range(len(names))],
                                             line=dict(color="black", width=1.5)),
                                 text=[f"prototype {n}" for n in names],
                                 textposition=(["top center", "bottom center"] * len(names))[: len(names)],
                                 hovertemplate="%{text}<extra></extra>"))
    fig.update_xaxes(title_text=f"{method} 1", showticklabels=method == "PCA", zeroline=False)
    fig.update_yaxes(title_text=f"{method} 2", showticklabels=method == "PCA", zeroline=False)
    fig.update_layout(title=title, height=560, margin=dict(_MARGIN, b=30),
                      legend=dict(orientation="h", y=-0.14, yanchor="top"), dragmode="zoom", hovermode="closest",
                      clickmode="event+select")
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


def failure_auroc_bars(auroc: Stat, signal: str) -> go.Figure:
    """Per exit, how well the policy's signal ranks that exit's errors above its right answers (AUROC)."""
    v = np.asarray(auroc.value, dtype=np.float64)
    x = np.arange(1, len(v) + 1)
    fig = go.Figure(go.Bar(x=x, y=np.nan_to_num(v, nan=0.0), marker_color=["#adb5bd" if not np.isfinite(a) else
                                                                             "#2f9e44" if a >= 0.7 else "#f59f00"
                                                                             for a in v],
                           text=[f"{a:.2f}" if np.isfinite(a) else "n/a" for a in v], textposition="outside",
                           name="AUROC", hovertemplate="block %{x}: AUROC %{text}<extra></extra>"))
    fig.add_hline(y=0.5, line=dict(color=THRESHOLD_COLOR, dash="dot"))
    fig.add_annotation(x=0.5, y=1.08, xref="x", yref="y", text="0.5 = chance", showarrow=False, xanchor="left",
                       font=dict(size=10, color=THRESHOLD_COLOR))
    _blocks_axis(fig, len(v), title_text="exit block")
    fig.update_yaxes(title_text="AUROC", range=[0, 1.1])
    fig.update_layout(title=f"Failure prediction by {signal}", height=300, margin=_MARGIN, showlegend=False)
    return fig


def honest_drops(drop_a: np.ndarray, drop_b: np.ndarray) -> go.Figure:
    """Per random split: the accuracy drop of a threshold tuned on half A, on A and on the unseen half B."""
    a, b = 100 * np.asarray(drop_a, np.float64), 100 * np.asarray(drop_b, np.float64)
    fig = go.Figure()
    for i, (ya, yb) in enumerate(zip(a, b)):
        fig.add_trace(go.Scatter(x=["on A (tuned there)", "on B (unseen)"], y=[ya, yb], mode="lines+markers",
                                 line=dict(color="#adb5bd", width=1), marker=dict(size=6, color="#868e96"),
                                 showlegend=False, hovertemplate=f"split {i}: %{{y:+.2f}} points<extra></extra>"))
    fig.add_trace(go.Scatter(x=["on A (tuned there)", "on B (unseen)"], y=[a.mean(), b.mean()], mode="lines+markers",
                             name="mean", line=dict(color=EXIT_COLOR, width=4), marker=dict(size=12)))
    fig.add_hline(y=1.0, line=dict(color=THRESHOLD_COLOR, dash="dot"), annotation_text="the 1-point target",
                  annotation_position="top left")
    fig.update_yaxes(title_text="accuracy drop vs the full model (points)", zeroline=True)
    fig.update_layout(title="The same threshold, on the data it was chosen on and on new data", height=380,
                      margin=_MARGIN, legend=dict(orientation="h", y=-0.15))
    return fig

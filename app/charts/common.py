"""What every chart shares: colours, margins, the block axis, axis titles from a Stat.

Statistics label themselves: a function that plots a :class:`core.analysis.Stat` takes its axis title
from the Stat's name and unit and its axis range from the Stat's range. Blocks are 1-based on every axis.
Named traces the tests (and readers) can find: "threshold" (the policy's threshold line), "exit" (the
exit marker), "pareto front", "current".
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.policies import POLICIES
from core.util import Stat

CLASS_COLORS = ["#e8590c", "#1c7ed6", "#2f9e44", "#ae3ec9", "#f59f00", "#0c8599"]
POLICY_COLORS = {name: cls.colour for name, cls in POLICIES.items()}    # each policy's own colour
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


def fmt_flops(x: float) -> str:
    """FLOPs for people: "1.94 GFLOPs", "385 MFLOPs", "12.3 kFLOPs" (never "1.94e+03 MFLOPs")."""
    x = float(x)
    for unit, scale in (("TFLOPs", 1e12), ("GFLOPs", 1e9), ("MFLOPs", 1e6), ("kFLOPs", 1e3)):
        if abs(x) >= scale:
            v = x / scale
            return f"{v:,.3g} {unit}" if v < 100 else f"{v:,.0f} {unit}"
    return f"{x:,.0f} FLOPs"


def export_config(filename: str, width: int = 1200, height: int = 640) -> dict:
    """A plotly ``config`` whose PNG export has a plain file name (no "ℓ̄" from the title) and room for a legend
    under the plot."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in filename).strip("-")
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": safe or "exitlens-chart",
                                                           "width": width, "height": height, "scale": 2}}

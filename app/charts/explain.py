"""Explanations of one sentence's exits: the words × blocks salience heatmap, one block's salience as
highlighted text (HTML), the attention map of one block and head, two trips side by side, and an edit as
a word diff. Pure functions: numbers in, a plotly Figure (or an HTML string) out.

Salience is signed (integrated gradients, gradient × input): a word *for* the class its block predicts is
blue, one *against* it red — the same two colours in the heatmap and the highlighted text. Each block
explains its own exit's class (core.explain.salience), so the column labels carry that class.
"""
from __future__ import annotations

import difflib
import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from app.charts.common import _MARGIN, EXIT_COLOR, THRESHOLD_COLOR, _axis, _blocks_axis, _class_color, _stack

FOR_RGB = (25, 113, 194)           # supports the block's own class (#1971c2)
AGAINST_RGB = (224, 49, 49)        # speaks against it (#e03131)
SALIENCE_SCALE = [[0.0, "rgb(224,49,49)"], [0.5, "rgb(248,249,250)"], [1.0, "rgb(25,113,194)"]]
_WORD_ROW_PX = 24                  # one word's row in the heatmap: room for a 12 px label


def scale_rows(scores: np.ndarray) -> np.ndarray:
    """(L, W) → (L, W) each row divided by its largest |score| (a row of zeros stays zero): every block's
    column uses the whole colour range, since logits — and so attributions — differ in size per block."""
    scores = np.asarray(scores, dtype=np.float64)
    top = np.abs(scores).max(axis=-1, keepdims=True)
    return np.divide(scores, top, out=np.zeros_like(scores), where=top > 0)


def _axis_labels(labels: Sequence[str], limit: int = 18) -> list[str]:
    """Tick labels for a numeric axis (plotly merges equal category names: two "the" would be one row)."""
    return [s if len(s) <= limit else s[: limit - 1] + "…" for s in labels]


def salience_heatmap(word_scores: np.ndarray, words: Sequence[str], target: Sequence[int],
                     label_names: Sequence[str], blocks: Sequence[int] | None = None,
                     marks: Mapping[int, str] | None = None, scaled: bool = True,
                     title: str = "Salience per word and block") -> go.Figure:
    """Words (rows, in reading order) × blocks (columns): each cell is how much the word pushed that block's
    exit toward the block's own predicted class ``target[b]`` (blue) or away from it (red).

    ``word_scores`` (L', W) for the blocks ``blocks`` (0-based; default 0..L'−1); ``target`` (L,) per block;
    ``marks`` {block: label} outlines columns (e.g. {exit: "exit"}); ``scaled`` divides each column by its
    largest |score| (the hover always shows the raw score)."""
    raw = np.asarray(word_scores, dtype=np.float64)
    n_rows, n_words = raw.shape
    blocks = np.arange(n_rows) if blocks is None else np.asarray(blocks, dtype=np.int64)
    z = scale_rows(raw) if scaled else raw
    top = float(np.abs(z).max()) or 1.0
    x = blocks + 1
    names = [str(label_names[int(target[b])]) for b in blocks]
    y = np.arange(n_words)
    hover_words = np.array([[w] * n_rows for w in words], dtype=object)                       # (W, L')
    fig = go.Figure(go.Heatmap(
        z=z.T, x=x, y=y, zmin=-top, zmax=top, zmid=0, colorscale=SALIENCE_SCALE, xgap=2, ygap=1,
        customdata=np.dstack([raw.T, hover_words]), name="salience",
        colorbar=dict(title=dict(text="for its class →" if scaled else "score", side="right"), thickness=12,
                      tickvals=[-top, 0, top], ticktext=["against", "0", "for"] if scaled else None),
        hovertemplate="block %{x} · %{customdata[1]}<br>score %{customdata[0]:.4g}<extra></extra>"))
    shapes, notes = [], []
    for b, label in (marks or {}).items():
        if b not in set(blocks.tolist()):
            continue
        shapes.append(dict(type="rect", x0=b + 0.5, x1=b + 1.5, y0=-0.5, y1=n_words - 0.5, xref="x", yref="y",
                           line=dict(color=EXIT_COLOR, width=3), fillcolor="rgba(0,0,0,0)"))
        notes.append(dict(x=b + 1, y=1, yref="paper", yanchor="bottom", text=f"<b>{html.escape(label)}</b>",
                          showarrow=False, font=dict(color=EXIT_COLOR, size=13)))
    fig.update_layout(title=dict(text=title, y=0.99, yanchor="top"), shapes=shapes, annotations=notes,
                      height=150 + _WORD_ROW_PX * n_words, margin=dict(_MARGIN, t=78))
    fig.update_yaxes(tickmode="array", tickvals=list(y), ticktext=_axis_labels(words), autorange="reversed",
                     title_text=None, tickfont=dict(size=12))
    fig.update_xaxes(tickmode="array", tickvals=list(x), ticktext=[f"block {b}<br>{n}" for b, n in zip(x, names)],
                     side="top", range=[x.min() - 0.5, x.max() + 0.5])
    return fig


def _rgba(score: float, top: float, alpha_max: float = 0.75) -> str:
    r, g, b = FOR_RGB if score >= 0 else AGAINST_RGB
    return f"rgba({r},{g},{b},{alpha_max * min(abs(score) / top, 1.0) if top > 0 else 0:.3f})"


def highlighted_text(text: str, spans: np.ndarray, scores: np.ndarray, top: float | None = None) -> str:
    """``text`` as HTML with each word's background coloured by its score (blue for, red against; the
    stronger, the darker), the score in its tooltip. ``spans`` (W, 2) character [start, end) of the words
    in ``text``; ``scores`` (W,); ``top`` the |score| of full colour (default: the largest here). Every piece
    of the user's text is HTML-escaped; characters outside the spans (a truncated tail) stay plain."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(spans) != len(scores):
        raise ValueError(f"{len(spans)} spans but {len(scores)} scores: give one score per word")
    top = float(np.abs(scores).max()) if top is None and len(scores) else float(top or 0.0)
    out, pos = [], 0
    for (a, b), s in sorted(zip(spans.tolist(), scores.tolist())):
        if a < pos or b > len(text):       # a span that overlaps the previous one or runs past the text
            continue
        out.append(html.escape(text[pos:a]))
        out.append(f'<span title="{s:+.4g}" style="background:{_rgba(s, top)};border-radius:3px;padding:1px 2px">'
                   f"{html.escape(text[a:b])}</span>")
        pos = b
    out.append(html.escape(text[pos:]))
    return '<div style="line-height:2.1;font-size:1.05rem;margin-bottom:0.7rem">' + "".join(out) + "</div>"


def attention_heatmap(weights: np.ndarray, tokens: Sequence[str], title: str = "Attention",
                      causal: bool = False) -> go.Figure:
    """(T, T) attention weights: row = the query token (who looks), column = the key token (looked at);
    every row sums to 1. Tokens are word pieces, [CLS]/[SEP] included. ``causal`` (a decoder): the cells above
    the diagonal — later tokens, which a token cannot see — are left blank, not drawn as zero weight."""
    w = np.asarray(weights, dtype=np.float64)
    t = w.shape[0]
    if causal:
        w = np.where(np.triu(np.ones((t, t), bool), 1), np.nan, w)
    if w.shape != (t, len(tokens)):
        raise ValueError(f"attention of shape {w.shape} does not fit {len(tokens)} tokens: give a (T, T) map")
    pos = np.arange(t)
    every = max(1, int(np.ceil(t / 60)))               # at most ~60 labels per axis stay legible
    ticks = dict(tickmode="array", tickvals=list(pos[::every]), ticktext=_axis_labels(list(tokens)[::every], 12),
                 tickfont=dict(size=11 if t <= 40 else 9))
    q = np.array([[tokens[i]] * t for i in range(t)], dtype=object)
    k = np.array([list(tokens)] * t, dtype=object)
    fig = go.Figure(go.Heatmap(z=w, x=pos, y=pos, zmin=0, zmax=float(max(np.nanmax(w), 1e-9)), colorscale="Blues",
                               customdata=np.dstack([q, k]), colorbar=dict(title="weight", thickness=12),
                               hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra></extra>"))
    side = int(min(max(360, 16 * t + 140), 900))
    fig.update_layout(title=title, height=side, margin=_MARGIN)
    fig.update_xaxes(title_text="looked at (key)", tickangle=-60, **ticks)
    fig.update_yaxes(title_text="looking (query)", autorange="reversed", **ticks)
    return fig


def trip_chart(probs: np.ndarray, signal: np.ndarray, label_names: Sequence[str], exit_block: int | None,
               signal_label: str, threshold: float | None = None, yrange: Sequence[float] | None = None,
               title: str = "") -> go.Figure:
    """One sentence's trip, compact: the predicted class per block (a coloured band, exit marked) over the
    policy's signal per block (with its threshold). ``probs`` (L, K), ``signal`` (L,); give two trips the
    same ``yrange`` to compare them."""
    probs = np.asarray(probs, dtype=np.float64)
    sig = np.asarray(signal, dtype=np.float64)
    n_blocks = probs.shape[0]
    x = np.arange(1, n_blocks + 1)
    pred = probs.argmax(1)
    layout, _ = _stack(2, heights=[0.25, 0.75], gap=0.08)
    traces = [go.Bar(x=x, y=np.ones(n_blocks), marker_color=[_class_color(p) for p in pred], width=0.96,
                     text=[str(label_names[p]) for p in pred], textposition="inside", insidetextanchor="middle",
                     customdata=probs.max(1), name="class", showlegend=False, xaxis="x", yaxis="y",
                     hovertemplate="block %{x}: %{text} (p=%{customdata:.3f})<extra></extra>"),
              go.Scatter(x=x, y=np.where(np.isfinite(sig), sig, None), mode="lines+markers", name="signal",
                         line=dict(color="#1c7ed6", width=2), showlegend=False, xaxis="x2", yaxis="y2",
                         hovertemplate=f"block %{{x}}: %{{y:.4f}}<extra>{html.escape(signal_label)}</extra>")]
    if threshold is not None:
        traces.append(go.Scatter(x=[0.5, n_blocks + 0.5], y=[threshold, threshold], mode="lines", name="threshold",
                                 line=dict(color=THRESHOLD_COLOR, dash="dash"), showlegend=False, xaxis="x2",
                                 yaxis="y2", hovertemplate=f"threshold {threshold:.4g}<extra></extra>"))
    shapes = []
    if exit_block is not None:
        xe = exit_block + 1
        ye = sig[exit_block] if np.isfinite(sig[exit_block]) else (threshold or 0.0)
        traces.append(go.Scatter(x=[xe], y=[ye], mode="markers", name="exit", showlegend=False, xaxis="x2",
                                 yaxis="y2", marker=dict(symbol="star", size=16, color=EXIT_COLOR),
                                 hovertemplate=f"exits after block {xe}<extra></extra>"))
        for r in (1, 2):
            shapes.append(dict(type="rect", x0=xe - 0.5, x1=xe + 0.5, xref=_axis(r)[0], y0=0, y1=1,
                               yref=f"{_axis(r)[1]} domain", line=dict(color=EXIT_COLOR, width=2),
                               fillcolor="rgba(0,0,0,0)"))
    layout["yaxis"].update(visible=False, range=[0, 1])
    layout["yaxis2"].update(title_text=signal_label, range=list(yrange) if yrange is not None else None)
    layout["xaxis2"].update(title_text="block")
    fig = go.Figure(traces, dict(layout, title=title, height=330, margin=_MARGIN, shapes=shapes, bargap=0.04))
    _blocks_axis(fig, n_blocks)
    return fig


def diff_html(old: str, new: str) -> str:
    """``new`` as inline HTML with the words that differ from ``old`` marked: removed ones struck through,
    added ones in bold on yellow. Both texts are HTML-escaped."""
    a, b = old.split(), new.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(html.escape(" ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f'<del style="color:#868e96">{html.escape(" ".join(a[i1:i2]))}</del>')
        if j2 > j1:
            out.append(f'<b style="background:#fff3bf;padding:0 2px">{html.escape(" ".join(b[j1:j2]))}</b>')
    return " ".join(out)

"""The parameter budget of a slenderized model (COST-EFF) beside the full-width model it came from: heads, FFN
neurons, the word embedding's rank, parameters and bytes on disk — the numbers of the slim model's card
(``card["slenderized"]``, measured by ``python -m core.card``)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.model import checkpoint


def _slim_card(models_dir, name: str) -> tuple[str, dict] | None:
    """(slim model name, its slenderized section) for ``name`` itself or for a model slenderized from it."""
    own = checkpoint.load_card(models_dir / name).get("slenderized")
    if own:
        return name, own
    for d in sorted(p for p in models_dir.iterdir() if (p / "card.json").is_file()):
        try:
            sec = checkpoint.load_card(d).get("slenderized")
        except checkpoint.CheckpointError:
            continue
        if sec and sec.get("from") == name:
            return d.name, sec
    return None


def budget_table(slim: str, sec: dict) -> pd.DataFrame:
    w, p, d = sec["widths"], sec["parameters"], sec["disk_bytes"]
    rows = [("attention heads per block", w["full"]["heads"], w["slim"]["heads"]),
            ("FFN neurons per block", w["full"]["ffn"], w["slim"]["ffn"]),
            ("word-embedding rank", w["full"]["embedding_rank"], w["slim"]["embedding_rank"]),
            ("blocks (every exit kept)", w["full"]["blocks"], w["slim"]["blocks"]),
            ("parameters", p["full"], p["slim"]),
            ("on disk (MiB)", round(d["full"] / 2**20, 2), round(d["slim"] / 2**20, 2))]
    df = pd.DataFrame(rows, columns=["", f"{sec['from']} (full width)", f"{slim} (slim)"])
    df["slim / full"] = [f"{s / f:.2f}×" if f else "—" for _, f, s in rows]
    return df


def budget_chart(sec: dict) -> go.Figure:
    w = sec["widths"]
    parts = [("heads", "heads"), ("FFN neurons", "ffn"), ("embedding rank", "embedding_rank")]
    fig = go.Figure([go.Bar(name=who, x=[p for p, _ in parts], y=[w[key][k] / w["full"][k] for _, k in parts],
                            text=[str(w[key][k]) for _, k in parts], textposition="outside", marker_color=c)
                     for who, key, c in (("full width", "full", "#868e96"), ("slim", "slim", "#3b5bdb"))])
    fig.update_layout(barmode="group", height=300, title="width kept per block, as a share of the full model",
                      yaxis=dict(title="share of full width", range=[0, 1.25], tickformat=".0%"),
                      legend=dict(orientation="h", y=-0.2), margin=dict(l=40, r=10, t=40, b=40))
    return fig


def show(models_dir, name: str) -> None:
    """The budget section, when ``name`` is a slim model or has one in the models folder; nothing otherwise."""
    found = _slim_card(models_dir, name)
    if found is None:
        return
    slim, sec = found
    st.subheader("Parameter budget: slenderized in width, every exit kept (COST-EFF)")
    st.dataframe(budget_table(slim, sec), hide_index=True, width="stretch")      # whole: its ratio column last
    st.plotly_chart(budget_chart(sec), key="wt_budget")
    if sec.get("combined_flops_ratio") is not None:
        st.caption(f"On {sec['reported_on']}: FLOPs per sentence at full depth {sec['flops_full_depth_ratio']:.2f}× "
                   f"the full model's; with early exit at the certified threshold ({sec['threshold']['policy']} "
                   f"{sec['threshold']['value']:.4g}, chosen on calibration) {sec['combined_flops_ratio']:.2f}×, "
                   f"accuracy {sec['slim_early_exit_metric']:.4f} against the full model's "
                   f"{sec['full_metric']:.4f} at full depth.")

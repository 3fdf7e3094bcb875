"""One sample's per-block trip, as the Prototypes page and the Learn page open it from a dataset trace."""
from __future__ import annotations

import streamlit as st

from app import charts
from core.analysis import preds_path
from core.policies import Exits, Policy, sample_signals
from core.trace import Trace


def sample_trip(tr: Trace, i: int, policy: Policy | None, exits: Exits | None, key: str) -> None:
    """Text, label, prediction per block, the class band, prototype distances and the exit signals of sample i,
    with the policy's exit (and the reason for it, in words) marked."""
    names = tr.label_names
    e_i = int(exits.exit_block[i]) if exits is not None else None
    st.text(tr.texts[i] + (f"\n‖ {tr.texts_b[i]}" if tr.texts_b is not None else ""))
    st.caption(f"label: {names[tr.labels[i]] if tr.labels[i] >= 0 else '?'} · prediction per block: "
               f"{preds_path(tr, i)}")
    if policy is not None and exits is not None:
        st.markdown(f"**Why:** {policy.reason(tr, i, exits)}.")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.class_band(tr.probs[i], names, e_i, title=f"Sample #{i}: predicted class per block"),
                    key=f"{key}_band")
    if tr.proto_dist is not None:
        c2.plotly_chart(charts.prototype_distances(tr.proto_dist[i], names, e_i,
                                                   tr.meta.get("distance", "sqeuclidean")),
                        key=f"{key}_dist")
    opts = policy.signal_options() if policy is not None else {}
    stats = sample_signals(tr, i, **opts)
    keys = ["entropy", "entropy_norm"] + (["edr"] if "edr" in stats else [])
    sig = policy.signal_key if policy is not None else None
    if sig and sig not in keys and sig in stats:
        keys.insert(0, sig)
    st.plotly_chart(charts.signal_curves(stats, sig, policy.scalar_threshold if policy is not None else None, e_i,
                                         getattr(policy, "direction", "below"), keys=keys,
                                         title=f"Sample #{i}: exit signals per block"), key=f"{key}_signals")

"""Binarized weights: sign balance, scaling factors α, latent weights and the real size on disk."""
import pandas as pd
import streamlit as st

from app import charts, sidebar, state
from app import params as P
from core import checkpoint
from core.weights import sign_flips, size_report

sel = state.current()
b = sel.bundle
ss = st.session_state

st.title("Binarized weights")
stored_bytes = state.stored_dtype_bytes(b.path)
rep = size_report(b.model, dtype_bytes=stored_bytes)
disk = checkpoint.disk_bytes(b.path)
other = "float16" if stored_bytes == 2 else "float32"


def size_row() -> None:
    m = st.columns(4)
    m[0].metric("fp32 size", f"{rep.fp32_bytes / 1024:,.1f} KiB", help="every parameter as 32-bit float")
    m[1].metric("packed size", f"{rep.packed_bytes / 1024:,.1f} KiB",
                help=f"1 bit per binarized weight + one α per row; the other tensors in {other}, as stored")
    m[2].metric("packed ratio", f"{rep.ratio:.2f}×", help="fp32 size / packed size (core.weights.size_report)")
    m[3].metric("on disk", f"{disk / 1024:,.1f} KiB", help="the real size of model.safetensors (header included)")


if not b.binarized:
    others = []
    for n in sel.models:
        try:
            if checkpoint.read_config(state.models_dir() / n).binarize:
                others.append(n)
        except checkpoint.CheckpointError:
            pass
    st.info(f"**{b.name}** has no binarized layer (its config binarizes nothing), so there are no signs, α or "
            "latent weights to show. "
            + (f"Pick a binarized model in the sidebar: {', '.join(others)}." if others else
               "Train one with `python -m core.train --preset beex` (it binarizes attention and FFN) "
               "or `--binarize attention,ffn`."), icon=":material/info:")
    size_row()
    st.stop()

st.caption(f"**{b.name}** binarizes {', '.join(b.cfg.binarize)}: the forward pass uses α·sign(W) "
           "(α = mean |W| per output row), the backward pass the ApproxSign surrogate, which only moves latent "
           "weights inside |w| < 1 (methods §1.3).")
size_row()
st.plotly_chart(charts.size_bars(rep.fp32_bytes, rep.packed_bytes, disk), key="wt_size")

stats = state.weight_stats(b, b.key)
lstats = state.weight_stats(b, b.key, latent=True)
names = [s.name for s in stats]
c1, c2 = st.columns(2)
c1.plotly_chart(charts.sign_balance(names, [s.plus_share for s in stats]), key="wt_balance")
c2.plotly_chart(charts.alpha_box(names, [s.alphas for s in stats]), key="wt_alpha")

st.subheader("Latent weights")
if lstats is None:
    st.info("This checkpoint is stored bit-packed: it keeps only sign(W) and α, not the latent weights W. "
            "The histogram below therefore shows the stored values ±α; the latents (and the share inside the "
            "gradient window |w| < 1) are in a training run's `train_state/latent.safetensors`.", icon=":material/info:")
hist_stats = lstats or stats
sidebar.page_param("wt_layer", "layer", lambda raw: P.parse_choice(raw, names, names[0], "layer"), names[0])
if ss.get("wt_layer") not in names:
    ss["wt_layer"] = names[0]
c1, c2 = st.columns(2)
with c1:
    st.selectbox("layer", names, key="wt_layer")
    s = next(x for x in hist_stats if x.name == ss["wt_layer"])
    st.plotly_chart(charts.latent_histogram(s.hist_edges, s.hist_counts, s.name, latent=lstats is not None),
                    key="wt_hist")
    if lstats is not None:
        st.caption(f"{s.window_share:.1%} of this layer's latent weights are inside |w| < 1.")
with c2:
    if lstats is not None:
        st.plotly_chart(charts.window_share(names, [x.window_share for x in lstats]), key="wt_window")
sidebar.write_params({"layer": ss["wt_layer"]})

table = pd.DataFrame([{"layer": s.name, "shape": f"{s.shape[0]}×{s.shape[1]}", "+1 share": s.plus_share,
                       "α mean": s.alpha_mean, "α std": s.alpha_std, "α min": s.alpha_min, "α max": s.alpha_max}
                      | ({"inside |w|<1": next(x for x in lstats if x.name == s.name).window_share}
                         if lstats is not None else {}) for s in stats])
st.dataframe(table, hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.4f")
                                                    for c in table.columns if c not in ("layer", "shape")})

st.subheader("Sign flips between two checkpoints")
same = []
for n in sel.models:
    if n == b.name:
        continue
    try:
        if checkpoint.read_config(state.models_dir() / n).to_dict() == b.cfg.to_dict():
            same.append(n)
    except checkpoint.CheckpointError:
        pass
if not same:
    st.info("No other model in the models folder has the same configuration, so there is nothing to compare "
            "signs with (e.g. two training runs or two epochs of the same binarized config).")
else:
    sidebar.page_param("wt_other", "other", lambda raw: P.parse_choice(raw, same, same[0], "second model"), same[0])
    if ss.get("wt_other") not in same:
        ss["wt_other"] = same[0]
    st.selectbox("second checkpoint (same configuration)", same, key="wt_other")
    sidebar.write_params({"other": ss["wt_other"]})
    try:
        other = state.load_bundle(state.models_dir() / ss["wt_other"])
    except state.USER_ERRORS as e:
        state.fail(e, "Pick another second checkpoint.")
    flips = sign_flips(b.model, other.model)
    total = sum(flips[n] * s.shape[0] * s.shape[1] for n, s in zip(names, stats) if n in flips)
    count = sum(s.shape[0] * s.shape[1] for s in stats if s.name in flips)
    st.metric("weights whose sign differs", f"{total / max(count, 1):.2%}", help=f"over {count:,} binarized weights")
    st.plotly_chart(charts.sign_flip_bars(flips, other.name), key="wt_flips")

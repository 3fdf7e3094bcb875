"""Binarized weights: sign balance, scaling factors α, what fine-tuning flipped, and the real size on disk."""
import pandas as pd
import streamlit as st

from app import budget_panel, charts, sidebar, state, widgets
from app import params as P
from core.model import checkpoint, flipped_share, sign_flips, size_report, stored_dtype_bytes

sel = state.current()
b = sel.bundle

st.title("Binarized weights")
stored_bytes = stored_dtype_bytes(b.path)
rep = size_report(b.model, dtype_bytes=stored_bytes)
disk = checkpoint.disk_bytes(b.path)
other_dtype = {2: "float16", 1: "int8"}.get(stored_bytes, "float32")


def size_row() -> None:
    m = st.columns(4)
    m[0].metric("fp32 size", f"{rep.fp32_bytes / 1024:,.1f} KiB", help="every parameter as 32-bit float")
    m[1].metric("packed size", f"{rep.packed_bytes / 1024:,.1f} KiB",
                help=f"1 bit per binarized weight + one α per row; the other tensors in {other_dtype}, as stored")
    m[2].metric("packed ratio", f"{rep.ratio:.2f}×", help="fp32 size / packed size (core.model.weights.size_report)")
    m[3].metric("on disk", f"{disk / 1024:,.1f} KiB", help="the real size of model.safetensors (header included)")


budget_panel.show(state.models_dir(), b.name)

if not b.binarized:
    binarized = [n for n in sel.models if getattr(checkpoint.read_config(state.models_dir() / n), "binarize", ())]
    st.info(f"**{b.name}** has no binarized layer (its config binarizes nothing), so there are no signs or α to "
            "show. " + (f"Pick a binarized model in the sidebar: {', '.join(binarized)}." if binarized else
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

# ── what fine-tuning changed: against the pretrained weights the model started from ─────────────────
st.subheader("What fine-tuning changed")
layers = state.against_pretrained(b, b.key)
if layers is None:
    st.info(f"{b.name}'s blocks do not have the pretrained MiniLM-L6 layout (it was trained from scratch), so there "
            "are no starting weights to compare its signs with.", icon=":material/info:")
else:
    flips = {x.name: x.flip_share for x in layers}
    total = flipped_share(layers)
    st.metric("block weights whose sign fine-tuning flipped (against pretrained MiniLM-L6)", f"{total:.2%}")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.sign_flip_bars(flips, "the pretrained MiniLM-L6 weights"), key="wt_flips_ref")
    with c2:
        sidebar.page_param("wt_layer", "layer", lambda raw: P.parse_choice(raw, list(flips), list(flips)[0], "layer"),
                           list(flips)[0])
        pick = widgets.choice(st, "layer", list(flips), "wt_layer", list(flips)[0])
        lay = next(x for x in layers if x.name == pick)
        st.plotly_chart(charts.alpha_vs_reference(lay.alphas, lay.reference_mean_abs, lay.name), key="wt_alpha_ref")
        sidebar.write_params({"layer": pick})

# ── latent weights, where a training run kept them ──────────────────────────────────────────────────
if lstats is not None:
    st.subheader("Latent weights (from the training run's train_state/)")
    if layers is None:                   # the URL's layer picks the latent layer when there is no pretrained start
        sidebar.page_param("wt_latent_layer", "layer", lambda raw: P.parse_choice(raw, names, names[0], "layer"),
                           names[0])
    lname = widgets.choice(st, "latent layer", names, "wt_latent_layer", names[0])
    if layers is None:
        sidebar.write_params({"layer": lname})
    s = next(x for x in lstats if x.name == lname)
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.latent_histogram(s.hist_edges, s.hist_counts, s.name, latent=True), key="wt_hist")
    c1.caption(f"{s.window_share:.1%} of this layer's latent weights are inside |w| < 1.")
    c2.plotly_chart(charts.window_share(names, [x.window_share for x in lstats]), key="wt_window")
else:
    st.caption("This checkpoint is stored bit-packed: it keeps sign(W) and α, not the latent weights W (those live "
               "in a training run's `train_state/latent.safetensors`), so the share of latents inside the "
               "surrogate's gradient window cannot be shown for it.")

table = pd.DataFrame([{"layer": s.name, "shape": f"{s.shape[0]}×{s.shape[1]}", "+1 share": s.plus_share,
                       "α mean": s.alpha_mean, "α std": s.alpha_std, "α min": s.alpha_min, "α max": s.alpha_max}
                      for s in stats])
st.dataframe(table, hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.4f")
                                                    for c in table.columns if c not in ("layer", "shape")})

# ── sign flips between two checkpoints of the same configuration ────────────────────────────────────
st.subheader("Sign flips between two checkpoints")
same = []
for n in sel.models:
    try:
        if n != b.name and checkpoint.read_config(state.models_dir() / n).to_dict() == b.cfg.to_dict():
            same.append(n)
    except checkpoint.CheckpointError:
        pass
if not same:
    st.info("No other model in the models folder has the same configuration, so there is nothing to compare "
            "signs with (e.g. two training runs or two epochs of the same binarized config).")
else:
    sidebar.page_param("wt_other", "other", lambda raw: P.parse_choice(raw, same, same[0], "second model"), same[0])
    pick = widgets.choice(st, "second checkpoint (same configuration)", same, "wt_other", same[0])
    sidebar.write_params({"other": pick})
    try:
        other = state.load_bundle(state.models_dir() / pick)
    except state.USER_ERRORS as e:
        state.fail(e, "Pick another second checkpoint.")
    flips = sign_flips(b.model, other.model)
    total = sum(flips[n] * s.shape[0] * s.shape[1] for n, s in zip(names, stats) if n in flips)
    count = sum(s.shape[0] * s.shape[1] for s in stats if s.name in flips)
    st.metric("weights whose sign differs", f"{total / max(count, 1):.2%}", help=f"over {count:,} binarized weights")
    st.plotly_chart(charts.sign_flip_bars(flips, other.name), key="wt_flips")

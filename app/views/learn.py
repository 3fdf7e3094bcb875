"""Learn: the ideas behind early exits, each with a figure driven by the live model."""
import numpy as np
import streamlit as st

from app import charts, derive, sidebar, state
from app import params as P
from core.analysis import destructive_overthinking
from core.policies import decide, make_policy

sel = state.current()
b = sel.bundle
ss = st.session_state

TOPICS = {"entropy": "Entropy exits", "patience": "Patience", "prototypes": "Prototypes",
          "overthinking": "Overthinking", "binarization": "Binarization"}
st.title("Learn")
st.caption("Short explanations with the model in the sidebar doing the work — move the sliders.")
sidebar.page_param("ln_topic", "topic", lambda raw: P.parse_choice(raw, list(TOPICS), "entropy", "topic"), "entropy")
if ss.get("ln_topic") not in TOPICS:
    ss["ln_topic"] = "entropy"
st.segmented_control("topic", list(TOPICS), key="ln_topic", format_func=TOPICS.get, label_visibility="collapsed")
topic = ss.get("ln_topic") or "entropy"
sidebar.write_params({"topic": topic})


def sentence():
    """The sentence the live figures use (one text box, two for a pair model) → its recorded trace."""
    ss.setdefault("ln_text", "the acting is n't terrible , but the script is n't good enough to rescue it ."
                  if not b.is_pair else "The company said profits rose 5 percent in the quarter .")
    if b.is_pair:
        ss.setdefault("ln_text_b", "Quarterly profit increased by 5 % , the company said .")
        c1, c2 = st.columns(2)
        c1.text_input("first sentence", key="ln_text")
        c2.text_input("second sentence", key="ln_text_b")
    else:
        st.text_input("sentence", key="ln_text")
    text = ss["ln_text"]
    text_b = ss.get("ln_text_b") if b.is_pair else None
    if not text.strip():
        st.info("Type a sentence to see its exits.")
        st.stop()
    try:
        return state.sentence_trace(b, b.key, text, text_b, None)
    except state.USER_ERRORS as e:
        state.fail(e)


def threshold_demo(tr, policy: str, key: str, default: float, lo: float, hi: float, step: float, signal: str,
                   extra: dict | None = None):
    """A threshold slider on one sentence's signal curve; returns the exit (0-based) it gives."""
    from core.policies import POLICIES
    cls = POLICIES[policy]
    label = f"{cls.threshold_label} ({cls.unit})"
    ss.setdefault(key, default)
    if isinstance(default, int):
        st.slider(label, int(lo), int(hi), step=1, key=key)
    else:
        st.slider(label, lo, hi, step=step, key=key)
    pol = make_policy(policy, threshold=ss[key], **(extra or {}))
    e = int(decide(pol, tr).exit_block[0])
    stats = derive.sample_signals(tr, 0, pol)
    st.plotly_chart(charts.signal_curves({signal: stats[signal]}, signal, float(ss[key]), e,
                                         getattr(pol, "direction", "below"), title=""), key=f"{key}_fig")
    st.metric("exits after block", f"{e + 1} of {tr.n_blocks}")
    return e


if topic == "entropy":
    st.markdown(
        "Every block of the encoder has its own small classifier (an **exit**). Its output $p$ is a "
        "probability per class; its **entropy** $H(p) = -\\sum_k p_k \\ln p_k$ is 0 when one class has all "
        "the mass and $\\ln K$ when all are equal. **DeeBERT** stops at the first block whose entropy is "
        "below a threshold $S$ — a confident exit answers, an unsure one passes the sentence on. FastBERT "
        "divides by $\\ln K$ so that one threshold fits any number of classes; BEExformer instead looks at "
        "how much the entropy *fell* from one block to the next.")
    tr = sentence()
    e = threshold_demo(tr, "entropy", "ln_entropy", float(min(0.3, np.log(b.n_classes))), 0.0,
                       float(np.log(b.n_classes)), 0.005, "entropy")
    st.plotly_chart(charts.class_band(tr.probs[0], tr.label_names, e), key="ln_entropy_band")

elif topic == "patience":
    st.markdown(
        "**PABEE** (“BERT loses patience”) does not trust one exit's confidence. It counts how many blocks in a "
        "row have predicted the *same* class and stops when that counter reaches the patience $t$. A sentence "
        "whose prediction keeps flipping runs deeper; a stable one stops early.")
    tr = sentence()
    hi = max(b.n_blocks, 2)
    e = threshold_demo(tr, "patience", "ln_patience", int(min(2, hi - 1)), 1, hi, 1, "patience")
    st.plotly_chart(charts.class_band(tr.probs[0], tr.label_names, e), key="ln_patience_band")

elif topic == "prototypes":
    st.markdown(
        "**DE³-BERT** adds a prototypical network at every exit: the pooled state is projected into a small space "
        "where each class has a learned **prototype**. $r_1$ is the distance to the prototype of the predicted "
        "class, $r_2$ to the nearest other one; the distance ratio $DR = \\tfrac12(1 + (r_1-r_2)/\\max(r_1,r_2))$ "
        "is small when the sample sits clearly on its class's side. The exit test is the harmonic mean of DR and "
        "the normalized entropy, weighted by $\\lambda$: "
        "$EDR = (\\lambda + 1) / (\\lambda/DR + 1/\\tilde H)$.")
    if b.cfg.proto_dim == 0:
        st.info(f"{b.name} has no prototype heads (proto_dim = 0): pick a model with prototypes to see this live.")
    else:
        tr = sentence()
        ss.setdefault("ln_lam", 1.0)
        st.slider("λ (weight of DR)", 0.0, 5.0, step=0.1, key="ln_lam")
        threshold_demo(tr, "edr", "ln_edr", 0.4, 0.0, 1.0, 0.005, "edr", {"lam": float(ss["ln_lam"])})
        pol = make_policy("edr", threshold=float(ss["ln_edr"]), lam=float(ss["ln_lam"]))
        stats = derive.sample_signals(tr, 0, pol)
        st.plotly_chart(charts.signal_curves(stats, None, None, None, keys=["dr", "entropy_norm"],
                                             title="The two ingredients of EDR"), key="ln_ingredients")
        st.plotly_chart(charts.prototype_distances(tr.proto_dist[0], tr.label_names,
                                                   distance=tr.meta.get("distance", "sqeuclidean")), key="ln_dist")

elif topic == "overthinking":
    st.markdown(
        "**Shallow-Deep Networks** (SDN) noticed that a network can be right at an early exit and wrong at the "
        "last one: the later blocks *overthink* the sample. **Destructive** overthinking changes a right answer "
        "into a wrong one; **wasteful** overthinking spends blocks after the answer was already right. The "
        "**oracle** — stop at the first right exit — measures how much a perfect exit rule could gain. Below: "
        f"a destructive example from {sel.data.label}.")
    tr = state.dataset_trace(b, sel.data)
    if not tr.has_labels:
        st.info("This data has no labels, so overthinking cannot be measured: pick a labelled split.")
    else:
        d = destructive_overthinking(tr)
        if d.count == 0:
            st.info("No destructive overthinking on this data: every sample the final exit gets wrong was wrong "
                    "at every earlier exit too.")
        else:
            opts = d.samples[:50].tolist()
            if ss.get("ln_over") not in opts:
                ss["ln_over"] = opts[0]
            st.selectbox(f"one of the {d.count:,} destructive samples", opts, key="ln_over",
                         format_func=lambda i: f"#{i}: {tr.texts[i][:90]}")
            i = int(ss["ln_over"])
            st.text(tr.texts[i])
            st.caption(f"label: {tr.label_names[tr.labels[i]]} · prediction per block: {derive.preds_path(tr, i)}")
            st.plotly_chart(charts.class_band(tr.probs[i], tr.label_names,
                                              title=f"Right early, wrong at the end (sample #{i})"), key="ln_over_band")
            st.metric("share of the final exit's errors that an earlier exit got right",
                      f"{float(d.share_of_errors):.1%}", help=f"{d.count} of {d.n_errors} errors")

else:
    st.markdown(
        "**BEExformer** binarizes its weights: the forward pass uses $\\alpha\\,\\mathrm{sign}(W)$ — one bit per "
        "weight plus one scale α per row, so the stored model is ~32× smaller for those layers. The sign has no "
        "useful gradient, so training uses a **surrogate**: Bi-Real Net's ApproxSign, a triangle of width 2 "
        "around 0. Only latent weights inside $|w| < 1$ get a gradient — a weight pushed far out is frozen in "
        "its sign.")
    ss.setdefault("ln_w", 0.3)
    st.slider("a latent weight w", -1.5, 1.5, step=0.05, key="ln_w")
    xs = np.linspace(-1.5, 1.5, 301)
    sign, grad = derive.approx_sign_curves(xs)
    st.plotly_chart(charts.approx_sign_chart(xs, sign, grad, float(ss["ln_w"])), key="ln_sign")
    if b.binarized:
        lat = state.latent_model(str(b.path), b.key)
        if lat is not None:
            from core.weights import layer_stats
            ls = layer_stats(lat)
            share = float(np.mean([s.window_share for s in ls]))
            st.metric(f"{b.name}: latent weights inside |w| < 1 (mean over layers)", f"{share:.1%}")
    else:
        st.caption(f"{b.name} is full precision; pick a binarized model to see its weights on the "
                   "Binarized weights page.")

st.divider()
st.markdown(
    "**Papers.** "
    "[BEExformer](https://arxiv.org/abs/2412.05225) (Ansar et al., arXiv 2412.05225) · "
    "[DE³-BERT](https://arxiv.org/abs/2402.05948) (He et al., arXiv 2402.05948) · "
    "[COST-EFF](https://arxiv.org/abs/2210.15523) (Shen et al., EMNLP 2022, arXiv 2210.15523) · "
    "[DeeBERT](https://aclanthology.org/2020.acl-main.204/) (Xin et al., ACL 2020) · "
    "[PABEE](https://arxiv.org/abs/2006.04152) (Zhou et al., NeurIPS 2020) · "
    "[SDN](https://arxiv.org/abs/1810.07052) (Kaya et al., ICML 2019) · "
    "[FastBERT](https://arxiv.org/abs/2004.02178) (Liu et al., ACL 2020) · "
    "[BERxiT](https://aclanthology.org/2021.eacl-main.8/) (Xin et al., EACL 2021).")

"""The Learn page's topics: one function each, text first, then a figure driven by the live model.

Thresholds start where the sidebar has them (one source of truth), and every policy's name, formula,
signal and unit come from its own description (core.policies.base), so a new policy appears here by itself.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, sidebar, state, widgets
from app.lesson_slices import slices  # noqa: F401  (the "slices" topic)
from app.selection import Selection
from core.analysis import best_threshold, destructive_overthinking, preds_path, split_halves
from core.model import approx_sign_curves
from core.policies import POLICIES, SIGNALS, Policy, ThresholdPolicy, decide, make_policy, sample_signals

PAPERS = (
    "**Papers.** "
    "[BEExformer](https://arxiv.org/abs/2412.05225) (Ansar et al., arXiv 2412.05225) · "
    "[DE³-BERT](https://arxiv.org/abs/2402.05948) (He et al., arXiv 2402.05948) · "
    "[COST-EFF](https://arxiv.org/abs/2210.15523) (Shen et al., EMNLP 2022) · "
    "[DeeBERT](https://aclanthology.org/2020.acl-main.204/) (Xin et al., ACL 2020) · "
    "[PABEE](https://arxiv.org/abs/2006.04152) (Zhou et al., NeurIPS 2020) · "
    "[SDN](https://arxiv.org/abs/1810.07052) (Kaya et al., ICML 2019) · "
    "[FastBERT](https://arxiv.org/abs/2004.02178) (Liu et al., ACL 2020) · "
    "[BERxiT](https://aclanthology.org/2021.eacl-main.8/) (Xin et al., EACL 2021) · "
    "[Learn-then-Test](https://arxiv.org/abs/2110.01052) (Angelopoulos et al., 2021).")


def _sentence(sel: Selection):
    """The sentence the live figures use (one text box, two for a pair model) → its recorded trace."""
    b = sel.bundle
    if b.model is None:
        st.info("This figure runs the model on a sentence, and a recorded trace has no model: open a model in the "
                "sidebar (the Overthinking, Every policy and Honest thresholds topics work on the trace).",
                icon=":material/folder_open:")
        st.stop()
    widgets.restore("ln_text", "the acting is n't terrible , but the script is n't good enough to rescue it ."
                    if not b.is_pair else "The company said profits rose 5 percent in the quarter .")
    if b.is_pair:
        widgets.restore("ln_text_b", "Quarterly profit increased by 5 % , the company said .")
        c1, c2 = st.columns(2)
        c1.text_input("first sentence", key="ln_text")
        c2.text_input("second sentence", key="ln_text_b")
        widgets.remember("ln_text_b")
    else:
        st.text_input("sentence", key="ln_text")
    text = widgets.remember("ln_text")
    text_b = st.session_state.get("ln_text_b") if b.is_pair else None
    if not text.strip():
        st.info("Type a sentence to see its exits.")
        st.stop()
    try:
        return state.sentence(b, b.key, text, text_b, None)[0]
    except state.USER_ERRORS as e:
        state.fail(e)


def _demo(sel: Selection, tr, name: str, **extra) -> Policy:
    """A threshold slider for policy ``name`` on one sentence's signal curve — starting where the sidebar has
    that policy's threshold — and the exit it gives; returns the policy."""
    cls = POLICIES[name]
    spec = cls.threshold_spec(tr)
    key = f"ln_{name}"
    side = widgets.current_threshold(sidebar.thr_key(name), spec)
    if st.session_state.get(f"_ln_from_{name}") != side:      # the sidebar moved (or first visit): follow it;
        st.session_state[f"_ln_from_{name}"] = side            # a move here is a what-if until it moves again
        widgets.set_value(f"_v_{key}", side)
    thr = widgets.threshold(st, spec, key)
    pol = make_policy(name, threshold=thr, **extra)
    ex = decide(pol, tr)
    e = int(ex.exit_block[0])
    stats = sample_signals(tr, 0, **pol.signal_options())
    st.plotly_chart(charts.signal_curves({cls.signal_key: stats[cls.signal_key]}, cls.signal_key, thr, e,
                                         cls.direction, title=""), key=f"{key}_fig")
    st.metric("exits after block", f"{e + 1} of {tr.n_blocks}")
    st.caption(f"Why: {pol.reason(tr, 0, ex)}.")
    return pol


LOGIT_LENS = ("**This model is a decoder classifier, so its exits are logit-lens exits.** A decoder (GPT-2, Llama, "
              "Qwen, …) reads left to right and classifies from its *last* real token. Its exit after block $b$ "
              "applies the model's own final norm and its own score head to block $b$'s state of that token — the "
              "*logit lens* (nostalgebraist 2020): what the model would answer if its later blocks were skipped. "
              "The last exit is the model itself; the early ones were never trained to answer, which is why probe "
              "exits (one head fitted per block) are offered too.")


def exit_kind_note(sel: Selection) -> None:
    """What an exit of this model is, when it is not an encoder's own trained exit (a decoder's logit lens)."""
    if getattr(sel.bundle.model, "causal", False):
        st.info(LOGIT_LENS, icon=":material/visibility:")


def entropy(sel: Selection) -> None:
    exit_kind_note(sel)
    st.markdown(
        "Every block of the encoder has its own small classifier (an **exit**). Its output $p$ is a "
        "probability per class; its **entropy** $H(p) = -\\sum_k p_k \\ln p_k$ is 0 when one class has all "
        "the mass and $\\ln K$ when all are equal. **DeeBERT** stops at the first block whose entropy is "
        "below a threshold $S$ — a confident exit answers, an unsure one passes the sentence on. FastBERT "
        "divides by $\\ln K$ so that one threshold fits any number of classes; BEExformer instead looks at "
        "how much the entropy *fell* from one block to the next.")
    tr = _sentence(sel)
    pol = _demo(sel, tr, "entropy")
    st.plotly_chart(charts.class_band(tr.probs[0], tr.label_names, int(decide(pol, tr).exit_block[0])),
                    key="ln_entropy_band")


def patience(sel: Selection) -> None:
    st.markdown(
        "**PABEE** (“BERT loses patience”) does not trust one exit's confidence. It counts how many blocks in a "
        "row have predicted the *same* class and stops when that counter reaches the patience $t$. A sentence "
        "whose prediction keeps flipping runs deeper; a stable one stops early.")
    tr = _sentence(sel)
    pol = _demo(sel, tr, "patience")
    st.plotly_chart(charts.class_band(tr.probs[0], tr.label_names, int(decide(pol, tr).exit_block[0])),
                    key="ln_patience_band")


def prototypes(sel: Selection) -> None:
    st.markdown(
        "**DE³-BERT** adds a prototypical network at every exit: the pooled state is projected into a small space "
        "where each class has a **prototype** (ExitLens keeps it at its class's mean). $r_1$ is the distance to "
        "the prototype of the predicted class, $r_2$ to the nearest other one; the distance ratio "
        "$DR = \\tfrac12(1 + (r_1-r_2)/\\max(r_1,r_2))$ is small when the sample sits clearly on its class's side. "
        "The exit test is the harmonic mean of DR and the normalized entropy, weighted by $\\lambda$: "
        "$EDR = (\\lambda + 1) / (\\lambda/DR + 1/\\tilde H)$.")
    b = sel.bundle
    if not b.has_prototypes:
        st.info(f"{b.name} has no prototype heads (proto_dim = 0): pick a model with prototypes to see this live.")
        return
    tr = _sentence(sel)
    lam = float(widgets.number(st, "λ (weight of DR)", "ln_lam", 1.0, min_value=0.0, max_value=10.0, step=0.1))
    _demo(sel, tr, "edr", lam=lam)
    stats = sample_signals(tr, 0, lam=lam)
    st.plotly_chart(charts.signal_curves(stats, None, None, None, keys=["dr", "entropy_norm"],
                                         title="The two ingredients of EDR"), key="ln_ingredients")
    st.plotly_chart(charts.prototype_distances(tr.proto_dist[0], tr.label_names,
                                               distance=tr.meta.get("distance", "sqeuclidean")), key="ln_dist")


def overthinking(sel: Selection) -> None:
    st.markdown(
        "**Shallow-Deep Networks** (SDN) noticed that a network can be right at an early exit and wrong at the "
        "last one: the later blocks *overthink* the sample. **Destructive** overthinking changes a right answer "
        "into a wrong one; **wasteful** overthinking spends blocks after the answer was already right. The "
        "**oracle** — stop at the first right exit — measures how much a perfect exit rule could gain. Below: "
        f"a destructive example from {sel.data.label}.")
    tr = state.dataset_trace(sel.bundle, sel.data)
    if not tr.has_labels:
        st.info("This data has no labels, so overthinking cannot be measured: pick a labelled split.")
        return
    d = destructive_overthinking(tr)
    if d.count == 0:
        st.info("No destructive overthinking on this data: every sample the final exit gets wrong was wrong "
                "at every earlier exit too.")
        return
    opts = d.samples[:50].tolist()
    i = int(widgets.choice(st, f"one of the {d.count:,} destructive samples", opts, "ln_over", opts[0],
                           format_func=lambda i: f"#{i}: {tr.texts[i][:90]}"))
    st.text(tr.texts[i])
    st.caption(f"label: {tr.label_names[tr.labels[i]]} · prediction per block: {preds_path(tr, i)}")
    st.plotly_chart(charts.class_band(tr.probs[i], tr.label_names,
                                      title=f"Right early, wrong at the end (sample #{i})"), key="ln_over_band")
    st.metric("share of the final exit's errors that an earlier exit got right", f"{float(d.share_of_errors):.1%}",
              help=f"{d.count} of {d.n_errors} errors")
    from app import explain_panel  # here, not at the top: this lesson is the only one that explains words

    y = int(tr.labels[i])
    early = int(np.flatnonzero(tr.preds[i, :-1] == y)[0])        # the first exit that was right
    st.markdown(f"**What the early block saw and the late block changed.** Block {early + 1} was right; block "
                f"{tr.n_blocks} overturned it. Which words did each lean on?")
    explain_panel.early_vs_late(sel.bundle, tr.texts[i], None if tr.texts_b is None else tr.texts_b[i], early,
                                tr.n_blocks - 1, y)


def binarization(sel: Selection) -> None:
    st.markdown(
        "**BEExformer** binarizes its weights: the forward pass uses $\\alpha\\,\\mathrm{sign}(W)$ — one bit per "
        "weight plus one scale α per row, so the stored model is ~32× smaller for those layers. The sign has no "
        "useful gradient, so training uses a **surrogate**: Bi-Real Net's ApproxSign, a triangle of width 2 "
        "around 0. Only latent weights inside $|w| < 1$ get a gradient — a weight pushed far out is frozen in "
        "its sign.")
    w = float(st.slider("a latent weight w", -1.5, 1.5, value=0.3, step=0.05, key="ln_w"))
    xs = np.linspace(-1.5, 1.5, 301)
    sign, grad = approx_sign_curves(xs)
    st.plotly_chart(charts.approx_sign_chart(xs, sign, grad, w), key="ln_sign")
    b = sel.bundle
    if not b.binarized:
        st.caption(f"{b.name} is full precision; pick a binarized model to see its weights on the Binarized "
                   "weights page.")
        return
    lat = state.latent_model(str(b.path), b.key)
    if lat is not None:
        from core.model import layer_stats
        share = float(np.mean([s.window_share for s in layer_stats(lat)]))
        st.metric(f"{b.name}: latent weights inside |w| < 1 (mean over layers)", f"{share:.1%}")
    else:
        st.caption(f"{b.name} is stored bit-packed (signs and α only): its latent weights are not shipped.")


def policies(sel: Selection) -> None:
    st.markdown("Every exit rule ExitLens knows, as each one describes itself — the same descriptions build the "
                "sidebar, the URL and the charts, so a new policy shows up here by itself.")
    rows = []
    for cls in POLICIES.values():
        info = SIGNALS.get(cls.signal_key or "")
        rows.append({"policy": cls.title, "rule": cls.formula, "signal": info.label if info else "—",
                     "unit": info.unit if info else "—", "source": cls.paper,
                     "this model": "✓" if cls.runs_on(sel.bundle.has_prototypes, sel.bundle.has_lte) else "—"})
    st.table(pd.DataFrame(rows).set_index("policy"))        # a static table wraps long rules, never clips them


def honest(sel: Selection) -> None:
    st.markdown(
        "A threshold chosen on some data looks better **on that data** than it will on new data: among many "
        "thresholds, the winner is partly the one that was lucky on those samples. Below, the live model's "
        "trace is split in two random halves, A and B, over and over. Each time the fastest threshold within "
        "one point of the full model is **tuned on A**, then its accuracy drop is measured on A (where it was "
        "chosen) and on B (data it has not seen). The gap between the two is how much a same-data number "
        "overstates itself — the reason the Threshold debugger tunes on one part and reports on another, and "
        "certifies on a calibration split.")
    pol = sel.policy
    if not isinstance(pol, ThresholdPolicy):
        st.info("Pick a threshold policy in the sidebar to see this.")
        return
    tr = state.dataset_trace(sel.bundle, sel.data)
    if not tr.has_labels or tr.n < 20:
        st.info("This needs a labelled split with at least 20 samples: pick the validation split.")
        return
    n_seeds = int(st.slider("random splits", 5, 60, value=20, step=5, key="ln_seeds"))
    rows = []
    for seed in range(n_seeds):
        a, b = split_halves(tr, seed=seed)
        t = best_threshold(a, b, pol, target_drop=0.01, thresholds=type(pol).threshold_spec(tr).grid())
        rows.append({"seed": seed, "drop on A (tuned there)": t.tune["drop"], "drop on B (unseen)": t.test["drop"]})
    df = pd.DataFrame(rows)
    st.plotly_chart(charts.honest_drops(df["drop on A (tuned there)"].to_numpy(), df["drop on B (unseen)"].to_numpy()),
                    key="ln_honest")
    gap = float((df["drop on B (unseen)"] - df["drop on A (tuned there)"]).mean())
    st.metric("mean extra accuracy drop on unseen data", f"{100 * gap:+.2f} points",
              help="drop on B − drop on A, averaged over the random splits")

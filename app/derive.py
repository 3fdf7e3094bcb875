"""Small pure helpers that put core's results into the shape a page shows — numpy / pandas, no Streamlit.

Nothing here decides an exit or computes a metric on its own: the per-block signals come from
core.policies, the cohorts, costs and calibration from core.analysis. What is added is labelling (every
signal becomes a :class:`core.analysis.Stat` with its name, unit and range, so charts label themselves),
tables for the pages, and reading a training run's latent weights (core.checkpoint stores only α·sign(W)
for a binarized layer; the latent W that the gradient window |w| < 1 is about lives in
``<model>/train_state/latent.safetensors``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.analysis import Stat, cohorts, first_correct_block, flips
from core.policies import (POLICIES, Exits, FractionalReduction, HybridEDR, Policy, ThresholdPolicy, dr_signal,
                           edr, frac_reduction_signal, max_prob, patience_count)
from core.trace import Trace

# which signal each threshold policy tests (the keys of ``sample_signals``)
POLICY_SIGNAL = {"entropy": "entropy", "norm_entropy": "entropy_norm", "maxprob": "max_prob",
                 "patience": "patience", "frac_reduction": "frac_reduction", "edr": "edr", "lte": "lte"}

COHORT_ORDER = ("destructive", "multi_flip", "wasteful", "wrong", "correct")
COHORT_LABELS = {"destructive": "destructive overthinking", "multi_flip": "multi-flip (≥ 2 changes)",
                 "wasteful": "wasteful overthinking", "wrong": "wrong (final exit)",
                 "correct": "correct (final exit)", "unlabelled": "no label"}


def block_labels(n_blocks: int) -> list[int]:
    """Blocks as the UI numbers them: 1..L."""
    return list(range(1, n_blocks + 1))


def sample_signals(trace: Trace, i: int, policy: Policy | None = None) -> dict[str, Stat]:
    """Every per-block exit signal of sample ``i`` (L values each) as a labelled Stat, from core.

    The fractional reduction uses the policy's reference and EDR the policy's λ when the policy is that
    one (so the chart shows exactly what the policy tests); otherwise the defaults."""
    one = trace.subset([i])
    k = trace.n_classes
    ref = policy.reference if isinstance(policy, FractionalReduction) else "previous"
    lam = policy.lam if isinstance(policy, HybridEDR) else 1.0
    out = {
        "entropy": Stat("entropy H(p)", one.entropy[0], "nats", (0.0, float(np.log(k))),
                        "DeeBERT: exit when H < S"),
        "entropy_norm": Stat("normalized entropy H/ln K", one.entropy_norm[0], "× ln K", (0.0, 1.0),
                             "FastBERT: exit when H/ln K < speed"),
        "max_prob": Stat("max probability", max_prob(one)[0], "probability", (1.0 / k, 1.0),
                         "SDN: exit when max p ≥ q"),
        "frac_reduction": Stat(f"fractional entropy reduction ΔH ({ref})", frac_reduction_signal(one, ref)[0],
                               "fraction of H_ref", (np.nan, 1.0), "BEExformer: (H_ref − H_i)/H_ref"),
        "patience": Stat("patience counter", patience_count(one)[0].astype(float), "blocks",
                         (0.0, float(trace.n_blocks - 1)), "PABEE: consecutive agreeing blocks"),
    }
    if trace.proto_dist is not None:
        out["dr"] = Stat("distance ratio DR", dr_signal(one)[0], "0–1", (0.0, 1.0),
                         "DE³: ½(1 + (r1 − r2)/max(r1, r2))")
        out["edr"] = Stat(f"hybrid indicator EDR (λ={lam:g})", edr(one, lam)[0], "0–1", (0.0, 1.0),
                          "DE³-BERT: harmonic mean of DR and H/ln K")
    if trace.lte is not None:
        out["lte"] = Stat("learn-to-exit score u", one.lte[0].astype(float), "0–1", (0.0, 1.0),
                          "BERxiT: exit when u < τ")
    return out


def policy_signal_key(policy: Policy) -> str | None:
    return POLICY_SIGNAL.get(policy.name)


def threshold_of(policy: Policy) -> float | None:
    return float(policy.threshold) if isinstance(policy, ThresholdPolicy) and np.ndim(policy.threshold) == 0 else None


def exit_summary(trace: Trace, exits: Exits, i: int = 0) -> dict:
    """What the Playground's metric row shows for sample ``i``: 1-based exit block, the answer, its
    confidence, the layer speed-up L/(exit+1) and the FLOPs spent up to the exit vs the full depth."""
    e, a = int(exits.exit_block[i]), int(exits.answer_block[i])
    pred = int(exits.pred[i])
    spent = float(trace.flops_embed + trace.flops_per_block[: e + 1].sum())
    return {"exit_block": e + 1, "answer_block": a + 1, "pred": pred, "pred_name": trace.label_names[pred],
            "confidence": float(trace.probs[i, a, pred]), "layer_speedup": trace.n_blocks / (e + 1),
            "flops_spent": spent, "flops_full": trace.flops_full, "fired": bool(exits.fired[i])
            if exits.fired is not None else True}


def primary_cohort(trace: Trace) -> np.ndarray:
    """(N,) str: one cohort per sample for colouring, the first that applies in ``COHORT_ORDER``
    (destructive before multi-flip before wasteful before wrong / correct) — from core.analysis.cohorts."""
    out = np.full(trace.n, "unlabelled", dtype=object)
    coh = cohorts(trace)
    for name in reversed(COHORT_ORDER):          # later writes win: write the lowest priority first
        if name in coh:
            out[coh[name]] = name
    return out


def preds_path(trace: Trace, i: int) -> str:
    """The predicted class per block of sample i, e.g. "neg → pos → pos"."""
    names = trace.label_names
    return " → ".join(names[int(p)] for p in trace.preds[i])


def sample_table(trace: Trace, idx, exits: Exits | None = None, max_chars: int = 120) -> pd.DataFrame:
    """One row per selected sample: text, label, prediction per block, first-correct block, flips, exit."""
    idx = np.asarray(idx, dtype=np.int64)
    names = trace.label_names
    fc = first_correct_block(trace) if trace.has_labels else np.full(trace.n, -1)
    fl = flips(trace)
    rows = []
    for i in idx:
        text = trace.texts[i] if trace.texts_b is None else f"{trace.texts[i]}  ‖  {trace.texts_b[i]}"
        row = {"sample": int(i), "text": text[:max_chars] + ("…" if len(text) > max_chars else ""),
               "label": names[trace.labels[i]] if trace.labels[i] >= 0 else "?",
               "prediction per block": preds_path(trace, int(i)),
               "first correct block": int(fc[i]) + 1 if fc[i] >= 0 else None,
               "flips": int(fl[i])}
        if exits is not None:
            row["exit block"] = int(exits.exit_block[i]) + 1
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_table(trace: Trace, exits: Exits) -> pd.DataFrame:
    """Per true class: samples, recall under the policy, recall of the final exit, mean exit block."""
    names = trace.label_names
    rows = []
    eb = np.asarray(exits.exit_block) + 1
    final = trace.preds[:, -1]
    for k, name in enumerate(names):
        m = trace.labels == k
        n = int(m.sum())
        rows.append({"class": name, "samples": n,
                     "recall (policy)": float((exits.pred[m] == k).mean()) if n else np.nan,
                     "recall (final exit)": float((final[m] == k).mean()) if n else np.nan,
                     "mean exit block": float(eb[m].mean()) if n else np.nan,
                     "predicted as this class": int((exits.pred == k).sum())})
    return pd.DataFrame(rows)


def agreement(exits_a: Exits, exits_b: Exits, labels: np.ndarray) -> dict:
    """Agreement of two models' answers on the same samples (and, with labels, who is right)."""
    pa, pb = np.asarray(exits_a.pred), np.asarray(exits_b.pred)
    out = {"agree": float((pa == pb).mean()) if len(pa) else np.nan, "n": int(len(pa))}
    if len(labels) and (labels >= 0).all():
        ra, rb = pa == labels, pb == labels
        out.update(both_right=int((ra & rb).sum()), a_only=int((ra & ~rb).sum()), b_only=int((~ra & rb).sum()),
                   both_wrong=int((~ra & ~rb).sum()))
    return out


def largest_differences(trace: Trace, exits_a: Exits, exits_b: Exits, top: int = 20) -> pd.DataFrame:
    """The samples whose exit block differs most between model A and model B (B − A, 1-based blocks)."""
    diff = np.asarray(exits_b.exit_block) - np.asarray(exits_a.exit_block)
    order = np.lexsort((np.arange(len(diff)), -np.abs(diff)))[:top]
    names = trace.label_names
    return pd.DataFrame({
        "sample": order,
        "exit A": np.asarray(exits_a.exit_block)[order] + 1, "exit B": np.asarray(exits_b.exit_block)[order] + 1,
        "B − A": diff[order],
        "answer A": [names[p] for p in np.asarray(exits_a.pred)[order]],
        "answer B": [names[p] for p in np.asarray(exits_b.pred)[order]],
        "label": [names[y] if y >= 0 else "?" for y in trace.labels[order]],
        "text": [trace.texts[i][:100] for i in order],
    })


def embeddings_at(trace: Trace, block: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The samples' embedding at ``block`` (0-based) for the projection, the class prototypes in the same
    space (or None) and which space it is: DE³'s prototype space when recorded, else the pooled state."""
    if trace.proto_emb is not None:
        protos = None if trace.prototypes is None else np.asarray(trace.prototypes[block], dtype=np.float32)
        return np.asarray(trace.proto_emb[:, block], dtype=np.float32), protos, "prototype space e_m"
    return np.asarray(trace.pooled[:, block], dtype=np.float32), None, "pooled hidden state"


def pca_2d(x: np.ndarray, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """2-D PCA by numpy SVD of the centred samples; ``extra`` points (prototypes) go through the same map."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=0, keepdims=True) if len(x) else np.zeros((1, x.shape[1]))
    xc = x - mu
    if len(x) < 2 or not np.isfinite(xc).all():
        comps = np.eye(x.shape[1])[:2].T if x.shape[1] >= 2 else np.ones((x.shape[1], 2))
    else:
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        comps = vt[:2].T
        if comps.shape[1] < 2:
            comps = np.pad(comps, ((0, 0), (0, 2 - comps.shape[1])))
        comps = comps * np.sign(comps[np.abs(comps).argmax(axis=0), range(2)] + 1e-30)   # deterministic signs
    xy = (xc @ comps).astype(np.float32)
    ex = None if extra is None else ((np.asarray(extra, np.float64) - mu) @ comps).astype(np.float32)
    return xy, ex


def load_latent_state(model_dir: str | Path) -> dict | None:
    """The latent (pre-binarization) weights a training run keeps in ``train_state/latent.safetensors``,
    or None when the directory has none (a shipped checkpoint is bit-packed only)."""
    path = Path(model_dir) / "train_state" / "latent.safetensors"
    if not path.is_file():
        return None
    from safetensors.torch import load_file
    try:
        return load_file(str(path))
    except Exception:       # a damaged training state is not worth failing the page for
        return None


def approx_sign_curves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sign(x) and the ApproxSign surrogate derivative (methods §1.3, core.binary.ApproxSign.backward),
    computed through core.binary so the teaching figure is the code's own function."""
    import torch
    from core.binary import approx_sign
    t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = approx_sign(t)
    y.sum().backward()
    return y.detach().numpy(), t.grad.numpy()


def policy_title(name: str) -> str:
    return POLICIES[name].title

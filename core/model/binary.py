"""Weight binarization with a second-order surrogate gradient, and bit packing.

BEExformer (arXiv 2412.05225) binarizes through "a differentiable second-order approximation to the
impulse function" that carries gradients for "both the sign and the magnitude of the weights". The
reconstruction in methods.md §1.3 is Bi-Real Net's ApproxSign (liuzechun/Bi-Real-net, birealnet.py):

    forward   sign(x)                                  (hard ±1; sign(0) := +1)
    backward  dF/dx = 2 + 2x  on [-1, 0)
                      2 - 2x  on [0, 1)
                      0       elsewhere                 (a triangle ≈ 2δ(x): the "impulse")

and the weight actually used is  W_b = α ⊙ sign(W)  with α = mean|W| per output row, *not* detached, so
∂W_b/∂W_j = α·F'(W_j) (sign part) + sign(W_j)·sign(W_j)/n_in (magnitude part).

A binarized layer is stored as one bit per weight plus α per row (``pack_signs``), so a checkpoint's size
on disk is the real packed size.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# sign with the ApproxSign surrogate

class ApproxSign(torch.autograd.Function):
    """sign(x) forward; Bi-Real's piecewise-polynomial derivative backward (methods.md §1.3)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        inside = (x.abs() < 1).to(grad_out.dtype)
        return grad_out * (2.0 - 2.0 * x.abs()) * inside


def approx_sign(x: torch.Tensor) -> torch.Tensor:
    return ApproxSign.apply(x)


def binarize_weight(w: torch.Tensor) -> torch.Tensor:
    """α ⊙ sign(W), α = mean|W| over each output row (last dim = inputs), gradient through both."""
    alpha = w.abs().mean(dim=-1, keepdim=True)          # (out, 1)
    return alpha * approx_sign(w)


# layers

class BinaryLinear(nn.Linear):
    """Drop-in for ``nn.Linear`` whose weight is α·sign(W) in the forward pass.

    The latent full-precision weight W is what the optimizer updates; only latents with |W| < 1 receive a
    sign gradient (the surrogate's window), which is why ``core.model.weights`` reports that share.

    Shape: (*, in_features) → (*, out_features).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, binarize_weight(self.weight), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", binary=α·sign(W), α per output row"


class BinaryEmbedding(nn.Embedding):
    """An embedding table whose rows are α_row·sign(E_row): one bit per entry plus one scale per token."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, binarize_weight(self.weight), self.padding_idx)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", binary=α·sign(E), α per row"


def is_binary(module: nn.Module) -> bool:
    return isinstance(module, (BinaryLinear, BinaryEmbedding))


# bit packing (used by core.model.checkpoint and core.model.weights)

def pack_signs(w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(out, in) latent weight → (packed sign bits (out, ceil(in/8)) uint8, α (out,) float32)."""
    w = w.detach().float().cpu().numpy()
    alpha = np.abs(w).mean(axis=-1).astype(np.float32)
    bits = np.packbits(w >= 0, axis=-1)
    return bits, alpha


def unpack_signs(bits: np.ndarray, alpha: np.ndarray, n_in: int) -> torch.Tensor:
    """Inverse of ``pack_signs``: α ⊙ sign as a float32 tensor (out, n_in). Binarizing it again is exact."""
    signs = np.unpackbits(bits, axis=-1, count=n_in).astype(np.float32) * 2.0 - 1.0
    return torch.from_numpy(signs * alpha[:, None].astype(np.float32))


def packed_bytes(n_out: int, n_in: int, alpha_bytes: int = 4) -> int:
    return n_out * math.ceil(n_in / 8) + n_out * alpha_bytes


# inference: binarize once instead of on every forward pass

def freeze_binarized(model: nn.Module) -> int:
    """Binarize every binary layer's weight once, for inference, instead of on every forward pass.

    BinaryLinear computes α·sign(W) from the latent W in each forward (what training needs); for a loaded
    model that is most of a sentence's time (beex-sst2: ~40 ms of ~45). Each binary module's ``forward`` is
    replaced by the same F.linear / F.embedding on the α·sign(W) tensor computed once by ``binarize_weight``
    — the same numbers, bit for bit. The weights themselves are not touched (core.model.weights still reads them),
    so do this on models that will not be trained again. Returns how many layers were frozen."""
    import types

    n = 0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BinaryLinear):
                wb = binarize_weight(m.weight).detach()
                m.forward = types.MethodType(lambda self, x, _w=wb: F.linear(x, _w, self.bias), m)
                n += 1
            elif isinstance(m, BinaryEmbedding):
                wb = binarize_weight(m.weight).detach()
                m.forward = types.MethodType(lambda self, ids, _w=wb: F.embedding(ids, _w, self.padding_idx), m)
                n += 1
    return n


def approx_sign_curves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sign(x) and the ApproxSign surrogate derivative at x, through the code's own autograd function
    (what the Learn page draws)."""
    t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = approx_sign(t)
    y.sum().backward()
    return y.detach().numpy(), t.grad.numpy()

"""Binarization: the ApproxSign surrogate, α's magnitude gradient, bit packing (methods.md §1.3)."""
import numpy as np
import pytest
import torch

from core.model import (
    BinaryEmbedding,
    BinaryLinear,
    approx_sign,
    binarize_weight,
    pack_signs,
    packed_bytes,
    unpack_signs,
)


def test_approx_sign_forward_is_hard_sign_and_backward_is_the_triangle():
    x = torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.25, 0.9, 1.0, 3.0], requires_grad=True)
    y = approx_sign(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1, 1]
    y.sum().backward()
    # dF/dx = 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere — computed by hand
    assert x.grad.tolist() == pytest.approx([0.0, 0.0, 1.0, 2.0, 1.5, 0.2, 0.0, 0.0])


def test_binarized_weight_carries_sign_and_magnitude_gradients():
    w = torch.tensor([[0.5, -0.25]], requires_grad=True)
    wb = binarize_weight(w)
    assert wb[0].tolist() == pytest.approx([0.375, -0.375])          # α = mean|w| = 0.375
    (wb * torch.tensor([[1.0, 0.0]])).sum().backward()
    # ∂/∂w_j = α·F'(w_j)·g_j + (Σ_k g_k sign(w_k))·sign(w_j)/n_in
    # j=0: 0.375·(2−1.0)·1 + 1·(+1)/2 = 0.875;  j=1: 0 + 1·(−1)/2 = −0.5
    assert w.grad[0].tolist() == pytest.approx([0.875, -0.5])


def test_binary_linear_is_a_drop_in_for_linear():
    torch.manual_seed(0)
    lin = BinaryLinear(16, 4)
    x = torch.randn(3, 16)
    alpha = lin.weight.abs().mean(1, keepdim=True)
    ref = x @ (alpha * torch.where(lin.weight >= 0, 1.0, -1.0)).T + lin.bias
    assert torch.allclose(lin(x), ref, atol=1e-6)
    assert "binary" in repr(lin)
    lin(x).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_binary_embedding_rows_are_scaled_signs():
    torch.manual_seed(0)
    emb = BinaryEmbedding(10, 6)
    out = emb(torch.tensor([3]))
    w = emb.weight[3]
    assert torch.allclose(out[0], w.abs().mean() * torch.where(w >= 0, 1.0, -1.0))


@pytest.mark.parametrize("n_in", [1, 7, 8, 9, 384, 1536])
def test_packing_round_trips_exactly(n_in):
    torch.manual_seed(n_in)
    w = torch.randn(5, n_in)
    bits, alpha = pack_signs(w)
    assert bits.dtype == np.uint8 and bits.shape == (5, (n_in + 7) // 8)
    back = unpack_signs(bits, alpha, n_in)
    assert torch.equal(torch.sign(back), torch.where(w >= 0, 1.0, -1.0))
    # binarizing the unpacked weight gives exactly the same α·sign(W)
    assert torch.allclose(binarize_weight(back), binarize_weight(w), atol=1e-7)
    assert bits.nbytes + alpha.nbytes == packed_bytes(5, n_in)

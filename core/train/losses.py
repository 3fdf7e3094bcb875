"""Training losses for a multi-exit encoder (methods.md §1.6, §2.2, §4).

exit losses (how the K-way cross-entropies of the L exits are combined)
    "sum"       uniform weights 1/L (DeeBERT's off-ramps, COST-EFF's Σ over exits)
    "weighted"  weights ∝ depth i: Σ i·CE_i / Σ i (PABEE, BERxiT's "weight-linear")
    "soft"      BEExformer's soft-routing loss, reconstructed (methods.md §1.6 (b)): the routing mass
                w_i = q_i Π_{j<i}(1 − q_j), q_i = σ((δ − ΔH_i)/T) the probability that the entropy-reduction
                rule exits at i (the last exit takes what is left); mixed half-and-half with the uniform
                weights so that no exit is starved early in training. q is detached: the weights route
                the gradient, they are not themselves optimised (otherwise the model learns to never exit).
prototype losses (DE³-BERT, reconstructed)
    proto       cross-entropy of softmax(−d(e_m, c_{m,k})) against y, every block
    DAR         distance-aware regularization: a hinge  max(0, d(e, c_y) − min_{k≠y} d(e, c_k) + margin)
                that pulls a sample to its class prototype and away from the nearest other one
learn-to-exit (BERxiT)
    lte         MSE(u_i, 1 − 𝟙[argmax z_i = y]) with the target detached
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.model import EncoderOutput

EXIT_LOSSES = ("sum", "weighted", "soft")


def exit_weights(logits: torch.Tensor, how: str, delta: float = 0.1, temperature: float = 0.05) -> torch.Tensor:
    """(B, L, K) logits → (B, L) non-negative weights per sample that sum to 1 over the exits."""
    b, n_blocks, _ = logits.shape
    if how == "sum":
        return logits.new_full((b, n_blocks), 1.0 / n_blocks)
    if how == "weighted":
        w = torch.arange(1, n_blocks + 1, dtype=logits.dtype, device=logits.device)
        return (w / w.sum()).expand(b, n_blocks)
    if how != "soft":
        raise ValueError(f"exit loss must be one of {EXIT_LOSSES}, got {how!r}")
    with torch.no_grad():
        p = logits.softmax(-1)
        h = -(p * p.clamp_min(1e-12).log()).sum(-1)                       # (B, L) nats
        dh = torch.zeros_like(h)
        dh[:, 1:] = (h[:, :-1] - h[:, 1:]) / h[:, :-1].clamp_min(1e-12)   # fractional reduction
        q = torch.sigmoid((delta - dh) / temperature)
        q[:, 0] = 0.0                                                     # block 1 has no ΔH
        q[:, -1] = 1.0                                                    # the last exit takes the rest
        survive = torch.cumprod(torch.cat([torch.ones_like(q[:, :1]), 1 - q[:, :-1]], 1), 1)
        routed = q * survive
        return 0.5 * routed + 0.5 / n_blocks


def exit_loss(logits: torch.Tensor, y: torch.Tensor, how: str = "sum") -> torch.Tensor:
    b, n_blocks, k = logits.shape
    ce = F.cross_entropy(logits.reshape(-1, k), y.repeat_interleave(n_blocks), reduction="none").view(b, n_blocks)
    return (exit_weights(logits, how) * ce).sum(1).mean()


def prototype_loss(dist: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, L, K) distances → mean over blocks of CE(softmax(−d), y)."""
    b, n_blocks, k = dist.shape
    return F.cross_entropy(-dist.reshape(-1, k), y.repeat_interleave(n_blocks))


def dar_loss(dist: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Distance-aware regularization: hinge between the own-class and the nearest other prototype."""
    own = dist.gather(2, y[:, None, None].expand(-1, dist.shape[1], 1)).squeeze(2)   # (B, L)
    other = dist.scatter(2, y[:, None, None].expand(-1, dist.shape[1], 1), float("inf")).min(2).values
    return F.relu(own - other + margin).mean()


def lte_loss(logits: torch.Tensor, lte: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    target = (logits.argmax(-1) != y[:, None]).to(lte.dtype).detach()   # 1 = wrong, continue
    return F.mse_loss(lte, target)


def total_loss(out: EncoderOutput, y: torch.Tensor, how: str = "sum", proto_weight: float = 0.1,
               dar_weight: float = 0.05, dar_margin: float = 1.0, lte_weight: float = 0.1,
               exit_weight: float = 1.0) -> dict[str, torch.Tensor]:
    parts = {"exit": exit_weight * exit_loss(out.logits, y, how)}
    if out.proto_dist is not None and proto_weight:
        parts["proto"] = proto_weight * prototype_loss(out.proto_dist, y)
    if out.proto_dist is not None and dar_weight:
        parts["dar"] = dar_weight * dar_loss(out.proto_dist, y, dar_margin)
    if out.lte is not None and lte_weight:
        parts["lte"] = lte_weight * lte_loss(out.logits, out.lte, y)
    parts["total"] = sum(parts.values())
    return parts

"""Encoders whose layers need more than an attention bias: MPNet (a relative position bias), DeBERTa-v2/v3
(disentangled relative attention) and ModernBERT (rotary positions, alternating local/global attention, a final
norm). Each runs the model's own layer modules, given the inputs its base model's forward builds for them; only
the context (and ModernBERT's exit) differ from core.model.families.HFMultiExit.
"""
from __future__ import annotations

import torch

from core.model.families import HFMultiExit
from core.model.interface import BlockContext, Shared, additive_bias


class HFMPNetMultiExit(HFMultiExit):
    """MPNet: every layer adds the encoder's relative position bias (B, H, T, T) to its attention scores."""

    def context(self, attention_mask: torch.Tensor, h: torch.Tensor) -> BlockContext:
        return BlockContext(bias=additive_bias(attention_mask, h.dtype),
                            position_bias=self.backbone.encoder.compute_position_bias(h))

    def block(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return self.blocks[i].layer(h, ctx["bias"], ctx["position_bias"])[0]

    def block_attention(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return self.blocks[i].layer(h, ctx["bias"], ctx["position_bias"], output_attentions=True)[1]


class HFDebertaMultiExit(HFMultiExit):
    """DeBERTa-v2/v3: a pairwise (B, 1, T, T) mask, the relative positions and the (normed) relative embeddings of
    the encoder; the optional convolution after the first layer (``conv_kernel_size``) reads the embeddings."""

    def context(self, attention_mask: torch.Tensor, h: torch.Tensor) -> BlockContext:
        enc = self.backbone.encoder
        ctx = BlockContext(mask=enc.get_attention_mask(attention_mask), input_mask=attention_mask, embedded=h)
        ctx["relative_pos"] = Shared((enc.get_rel_pos(h),))
        ctx["rel_embeddings"] = Shared((enc.get_rel_embedding(),))
        return ctx

    def _run(self, i: int, h: torch.Tensor, ctx: BlockContext, attentions: bool):
        return self.blocks[i].layer(h, ctx["mask"], relative_pos=ctx["relative_pos"][0],
                                    rel_embeddings=ctx["rel_embeddings"][0], output_attentions=attentions)

    def block(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        out = self._run(i, h, ctx, False)
        out = out[0] if isinstance(out, tuple) else out
        conv = self.backbone.encoder.conv
        return conv(ctx["embedded"], out, ctx["input_mask"]) if i == 0 and conv is not None else out

    def block_attention(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return self._run(i, h, ctx, True)[1]


class HFModernBertMultiExit(HFMultiExit):
    """ModernBERT: rotary cos/sin per attention type, global layers see every real token and local layers a
    window of ±``sliding_window``; an exit pools the *final-normed* state (its family's ``norm``), as the head
    reads it."""

    def _types(self) -> list[str]:
        return list(self.backbone.config.layer_types)

    def context(self, attention_mask: torch.Tensor, h: torch.Tensor) -> BlockContext:
        c = self.backbone.config
        bias = additive_bias(attention_mask, h.dtype)                                   # (B, 1, 1, T)
        pos = torch.arange(h.shape[1], device=h.device)
        far = (pos[:, None] - pos[None, :]).abs() > c.sliding_window
        ctx = BlockContext(full_attention=bias,
                           sliding_attention=bias.masked_fill(far[None, None], torch.finfo(h.dtype).min))
        for kind in set(self._types()):
            ctx[f"rotary_{kind}"] = Shared(self.backbone.rotary_emb(h, pos[None], kind))
        return ctx

    def _kwargs(self, i: int, ctx: BlockContext) -> dict:
        kind = self._types()[i]
        return {"attention_mask": ctx[kind], "position_embeddings": tuple(ctx[f"rotary_{kind}"])}

    def block(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        out = self.blocks[i].layer(h, **self._kwargs(i, ctx))
        return out[0] if isinstance(out, tuple) else out

    def block_attention(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return self.eager_weights(i, "attn", "attn_norm", h, **self._kwargs(i, ctx))

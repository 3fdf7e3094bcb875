"""A Hugging Face decoder classifier (GPT-2, Llama, Mistral, Qwen2/Qwen3, Gemma, Phi-3 ``*ForSequenceClassification``)
as a multi-exit model: :class:`HFDecoderMultiExit`, the decoder pieces of core.model.interface.MultiExitModel.

It runs the model's own modules — its word table (Gemma's scaled one), rotary embedding (or GPT-2's learned
positions), decoder layers and final norm — and differs from the encoder wrapper only where a decoder does:

    context(mask, h)   a causal additive mask (B, 1, T, T) over the real tokens (a sliding window on the layers
                       whose config says so) and the rotary cos/sin of positions 0..T−1, as transformers builds
                       them (with left padding the positions shift; rotary attention only sees their differences)
    block(i, h, ctx)   decoder layer i, called the way the base model calls it
    exit(i, h, mask)   the last real token (either padding side, as transformers picks it) → the final norm →
                       the head: the model's own ``score`` ("own") — the logit lens of a middle layer — or a
                       probe trained on the same normed state. At the last layer it *is* the model's output.
"""
from __future__ import annotations

import torch
from torch import nn

from core.model.families import HFMultiExit
from core.model.interface import BlockContext, Shared, seq_lengths


class HFDecoderMultiExit(HFMultiExit):
    """A transformers causal LM base model with an exit after every layer (see the module docstring)."""

    causal = True

    def _part(self, path: str | None) -> nn.Module | None:
        return None if path is None else self.backbone.get_submodule(path)

    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self._part(self.cfg.family.embed)(input_ids)

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.embed_rows(self.word_embeddings(input_ids))

    def embed_rows(self, e: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        wpe = self._part(self.cfg.family.positions)       # GPT-2: + learned positions, then dropout
        if wpe is None:
            return e
        return self.backbone.drop(e + wpe(torch.arange(e.shape[1], device=e.device))[None])

    def _window(self, i: int) -> int | None:
        """The sliding window of layer i (None: full causal attention), as the model's own forward decides it."""
        c = self.backbone.config
        window = getattr(c, "sliding_window", None)
        types = getattr(c, "layer_types", None)
        if types:
            return window if types[i] == "sliding_attention" else None
        return window if getattr(c, "use_sliding_window", True) else None

    def context(self, attention_mask: torch.Tensor, h: torch.Tensor) -> BlockContext:
        t = h.shape[1]
        q = torch.arange(t, device=h.device)
        rel = q[:, None] - q[None, :]                                              # (T, T) query − key
        real = attention_mask[:, None, None, :].bool()                             # (B, 1, 1, T)
        low = torch.finfo(h.dtype).min
        ctx = BlockContext()
        for w in {self._window(i) for i in range(self.n_blocks)}:
            keep = (rel >= 0) & (rel < w) if w else rel >= 0
            ctx[f"mask{w or ''}"] = torch.where(keep[None, None] & real, 0.0, low).to(h.dtype)    # (B, 1, T, T)
        pos = q[None]
        ctx["position_ids"] = Shared((pos,))
        rotary = self._part(self.cfg.family.rotary)
        if rotary is not None:
            ctx["rotary"] = Shared(rotary(h, pos))                                 # (cos, sin), (1, T, Dh)
        return ctx

    def _layer_kwargs(self, i: int, ctx: BlockContext) -> dict:
        kw = {"attention_mask": ctx[f"mask{self._window(i) or ''}"]}
        if "rotary" in ctx:
            kw.update(position_embeddings=tuple(ctx["rotary"]), position_ids=ctx["position_ids"][0])
        return kw

    def block(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        out = self.blocks[i].layer(h, **self._layer_kwargs(i, ctx))
        return out[0] if isinstance(out, tuple) else out

    def block_attention(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """Layer i's own attention module on its normed input, run with eager attention on a shallow copy (the
        weights are shared; the model itself and its attention kernel are never switched)."""
        fam = self.cfg.family
        return self.eager_weights(i, fam.attn, fam.attn_norm, h, **self._layer_kwargs(i, ctx))

    def flops_per_block(self, seq_len: float, seq_len_sq: float | None = None) -> float:
        """One decoder layer (grouped K/V projections, a gated FFN where the family has one) plus its exit
        (final norm, head, class-mean distances), for one sample of ``seq_len`` tokens."""
        c, (n, n2) = self.cfg, seq_lengths(seq_len, seq_len_sq)
        hc = self.backbone.config
        d, f, k = c.hidden, c.ffn, c.n_classes
        heads = int(getattr(hc, "num_attention_heads", 1))
        head_dim = int(getattr(hc, "head_dim", None) or d // heads)
        kv = int(getattr(hc, "num_key_value_heads", None) or heads) * head_dim
        attn = n * (2 * d * heads * head_dim + 2 * d * kv) + 2 * n2 * heads * head_dim / 2   # causal: half of QKᵀ, AV
        ffn = n * (3 if c.family.gated_ffn else 2) * d * f
        head = d * k + (k * d if c.proto_dim else 0) + d
        return 2.0 * (attn + ffn + head)

    def flops_embed(self, seq_len: float) -> float:
        return 2.0 * float(seq_len) * self.cfg.hidden

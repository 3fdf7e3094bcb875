"""The one interface every model ExitLens runs implements: :class:`MultiExitModel`.

Recording and real early exit (core.run), salience, attention and counterfactual search (core.explain) reach a
model only through it — never through its class. Two kinds implement it, both by subclassing
:class:`MultiExitBase`, which owns the per-block forward loop (written once, here):

    core.model.encoder.MultiExitEncoder    ExitLens' own multi-exit encoder
    core.model.families.HFMultiExit        an imported Hugging Face classifier (its own layer modules)

The pieces (B batch, T tokens, E word-table width, D hidden, K classes, H heads):

    word_embeddings(ids)        (B, T) → (B, T, E)   the word-table rows (what integrated gradients interpolates)
    embed_rows(e, types)        (B, T, E) → (B, T, D) the rest of the embeddings after the table lookup
    embed(ids, types)           (B, T) → (B, T, D)   = embed_rows(word_embeddings(ids), types)
    context(mask, h)            → BlockContext       what every block of this batch needs besides h (the
                                                     attention bias; position inputs for rotary families)
    block(i, h, ctx)            (B, T, D) → (B, T, D) block i
    block_attention(i, h, ctx)  → (B, H, T, T)       block i's attention weights on its input h
    exit(i, h, mask)            → ExitOutput         exit i on block i's output
    n_blocks, max_len           number of blocks; longest input, special tokens included
    contract                    :class:`core.model.tokenizer.TokenizerContract`: pad id, padding side, special
                                ids, whether segment ids reach the model — from the model's config and tokenizer
    flops_per_block(n, n2), flops_embed(n)           analytic FLOPs (methods.md §6)
    cfg, protos, lte_head       the config; per-exit prototypes (or None); the learn-to-exit head (or None)
    causal                      True for a decoder (a token sees only itself and the tokens before it)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from core.model.encoding import TokenizerContract


@dataclass
class ExitOutput:
    """What one exit reports for a batch (all (B, ...))."""
    logits: torch.Tensor            # (B, K)
    pooled: torch.Tensor            # (B, D)
    proto_emb: torch.Tensor | None  # (B, P)
    proto_dist: torch.Tensor | None  # (B, K)
    lte: torch.Tensor | None        # (B,) in [0, 1]


@dataclass
class EncoderOutput:
    """Every exit of a full-depth pass, stacked on a block axis."""
    logits: torch.Tensor             # (B, L, K)
    pooled: torch.Tensor             # (B, L, D)
    proto_emb: torch.Tensor | None   # (B, L, P)
    proto_dist: torch.Tensor | None  # (B, L, K)
    lte: torch.Tensor | None         # (B, L)
    hidden: list[torch.Tensor] | None = None  # L × (B, T, D), only when asked


class Shared(tuple):
    """Context values that are not per row (rotary cos/sin of one position row): kept whole by ``select``."""


class BlockContext(dict):
    """What every block of one batch reads besides the hidden states (name → batch-first tensor, a tuple of
    them, or a :class:`Shared` tuple); a batch that loses rows (real early exit) keeps its context with ``select``."""

    def select(self, rows: torch.Tensor) -> BlockContext:
        pick = lambda v: v if isinstance(v, Shared) else tuple(x[rows] for x in v) if isinstance(v, tuple) \
            else v[rows]
        return BlockContext({k: pick(v) for k, v in self.items()})


@runtime_checkable
class MultiExitModel(Protocol):
    """What core.run and core.explain may use of a model (see the module docstring)."""
    cfg: object
    protos: nn.ModuleList | None
    lte_head: nn.Module | None
    causal: bool                       # a decoder: a token attends only to itself and the tokens before it

    @property
    def n_blocks(self) -> int: ...
    @property
    def max_len(self) -> int: ...
    @property
    def contract(self) -> TokenizerContract: ...
    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor: ...
    def embed_rows(self, e: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor: ...
    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor: ...
    def context(self, attention_mask: torch.Tensor, h: torch.Tensor) -> BlockContext: ...
    def block(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor: ...
    def block_attention(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor: ...
    def exit(self, i: int, h: torch.Tensor, attention_mask: torch.Tensor) -> ExitOutput: ...
    def attention_maps(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor: ...
    def flops_per_block(self, seq_len: float, seq_len_sq: float | None = None) -> float: ...
    def flops_embed(self, seq_len: float) -> float: ...


class MultiExitBase(nn.Module):
    """The shared half of every :class:`MultiExitModel`: the per-block loops, written once. A subclass supplies
    the pieces (word_embeddings, embed_rows, context, block, block_attention, exit, contract, FLOPs)."""

    causal = False

    @property
    def n_blocks(self) -> int:
        return int(self.cfg.n_blocks)

    @property
    def max_len(self) -> int:
        return int(self.cfg.max_len)

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.embed_rows(self.word_embeddings(input_ids), token_type_ids)

    @staticmethod
    def attention_bias(attention_mask: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        return additive_bias(attention_mask, dtype)

    def context(self, attention_mask: torch.Tensor, h: torch.Tensor) -> BlockContext:
        """Bidirectional attention over the real tokens (an encoder); decoder families add a causal mask."""
        return BlockContext(bias=additive_bias(attention_mask, h.dtype))

    def block(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """Block i on the encoder context: ``blocks[i](h, bias)`` (families whose layers need more override it)."""
        return self.blocks[i](h, ctx["bias"])

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, return_hidden=False) -> EncoderOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        h = self.embed(input_ids, token_type_ids)
        ctx = self.context(attention_mask, h)
        outs, hidden = [], []
        for i in range(self.n_blocks):
            h = self.block(i, h, ctx)
            outs.append(self.exit(i, h, attention_mask))
            if return_hidden:
                hidden.append(h)
        stack = lambda name: (None if getattr(outs[0], name) is None
                              else torch.stack([getattr(o, name) for o in outs], 1))
        return EncoderOutput(stack("logits"), stack("pooled"), stack("proto_emb"), stack("proto_dist"),
                             stack("lte"), hidden if return_hidden else None)

    def attention_maps(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """(L, B, H, T, T) every block's attention weights on its own input (rows sum to 1 on real keys)."""
        h = self.embed(input_ids, token_type_ids)
        ctx = self.context(attention_mask, h)
        maps = []
        for i in range(self.n_blocks):
            maps.append(self.block_attention(i, h, ctx))
            h = self.block(i, h, ctx)
        return torch.stack(maps)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def seq_lengths(seq_len: float, seq_len_sq: float | None = None) -> tuple[float, float]:
    """(n, E[n²]) of the FLOPs formulas: ``seq_len_sq`` when averaging over samples of different lengths, else n²."""
    n = float(seq_len)
    return n, n * n if seq_len_sq is None else float(seq_len_sq)


def additive_bias(attention_mask: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """(B, T) 1/0 mask → additive (B, 1, 1, T) bias, the form scaled_dot_product_attention and HF layers add."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min

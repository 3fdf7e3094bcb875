"""MultiExitEncoder: embeddings → blocks → an exit head (and a prototype head) after every block.

One readable file, leaf modules first (nanoGPT / HF single-file style). Sources:
  * BERT block (post-LN) — HF ``modeling_bert.py``; loads all-MiniLM-L6-v2 weights (core.model.minilm).
  * SLFN block — BEExformer's Selective-Learn-Forget feed-forward, reconstructed from the predecessor
    code Wazib/Transformer_SLFN_PSCE (methods.md §1.4):  y = LN(a + (W2 σ(W1 a)) ⊙ (W4 tanh(W3 a))).
  * Binarization — core.model.binary (BEExformer §1.3); which parts are binary is ``ModelConfig.binarize``.
  * Exit heads — DeeBERT/COST-EFF style (methods.md §0), one per block; BERxiT's shared learn-to-exit head.
  * Prototypes — DE³-BERT (methods.md §2.2): per block a projection g_m and K learnable prototypes.
  * Factorized word embedding — COST-EFF's SVD slenderization (methods.md §3.3), ``emb_rank``.

Dimension legend: B batch, T tokens, D hidden, L blocks, K classes, P prototype width, H heads, Dh head width.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.model.binary import BinaryEmbedding, BinaryLinear
from core.model.config import ModelConfig
from core.model.encoding import TokenizerContract
from core.model.interface import BlockContext, ExitOutput, MultiExitBase, seq_lengths


def linear(cfg: ModelConfig, part: str, n_in: int, n_out: int, bias: bool = True) -> nn.Linear:
    """An nn.Linear, or a BinaryLinear where the config binarizes ``part``."""
    return (BinaryLinear if part in cfg.binarize else nn.Linear)(n_in, n_out, bias=bias)


# embeddings

class Embeddings(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        emb = BinaryEmbedding if "embeddings" in cfg.binarize else nn.Embedding
        if cfg.emb_rank:  # COST-EFF: E (V×D) ≈ E1 (V×r) · E2 (r×D)
            self.word = emb(cfg.vocab_size, cfg.emb_rank, padding_idx=cfg.pad_id)
            self.word_proj = nn.Linear(cfg.emb_rank, cfg.hidden, bias=False)
        else:
            self.word = emb(cfg.vocab_size, cfg.hidden, padding_idx=cfg.pad_id)
            self.word_proj = None
        self.position = nn.Embedding(cfg.max_len, cfg.hidden)
        self.token_type = nn.Embedding(cfg.type_vocab, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, ids: torch.Tensor, token_type: torch.Tensor) -> torch.Tensor:  # (B, T) → (B, T, D)
        return self.rows(self.word(ids), token_type)

    def rows(self, e: torch.Tensor, token_type: torch.Tensor) -> torch.Tensor:  # (B, T, E) → (B, T, D)
        """Everything after the word-table lookup: COST-EFF projection, + position + segment, LayerNorm, dropout."""
        x = self.word_proj(e) if self.word_proj is not None else e
        pos = torch.arange(e.shape[1], device=e.device)
        x = x + self.position(pos)[None] + self.token_type(token_type)
        return self.drop(self.norm(x))


# blocks

class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        a = cfg.attn_width
        self.query = linear(cfg, "attention", cfg.hidden, a)
        self.key = linear(cfg, "attention", cfg.hidden, a)
        self.value = linear(cfg, "attention", cfg.hidden, a)
        self.out = linear(cfg, "attention", a, cfg.hidden)
        self.p_drop = cfg.dropout

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        split = lambda y: y.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, Dh)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                           dropout_p=self.p_drop if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, t, -1))


def attention_weights(attn: SelfAttention, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(B, T, D), (B, 1, 1, T) → (B, H, T, T): softmax(q kᵀ/√Dh + bias), the weights that
    ``SelfAttention.forward`` hands to scaled_dot_product_attention (its default scale is 1/√Dh)."""
    b, t, _ = x.shape
    split = lambda y: y.view(b, t, attn.n_heads, attn.head_dim).transpose(1, 2)     # (B, H, T, Dh)
    q, k = split(attn.query(x)), split(attn.key(x))
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(attn.head_dim) + bias, dim=-1)


class BertBlock(nn.Module):
    """Post-LN BERT layer: a = LN(x + Attn(x)); y = LN(a + W2·gelu(W1·a))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.ffn_in = linear(cfg, "ffn", cfg.hidden, cfg.ffn)
        self.ffn_out = linear(cfg, "ffn", cfg.ffn, cfg.hidden)
        self.norm2 = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        a = self.norm1(x + self.drop(self.attn(x, bias)))
        return self.norm2(a + self.drop(self.ffn_out(F.gelu(self.ffn_in(a)))))


class SLFNBlock(nn.Module):
    """BEExformer block: attention, then the Selective-Learn-Forget gated feed-forward (methods.md §1.4).

    gate = W2·σ(W1·a)  selects what to learn / forget (not bounded: W2 follows the sigmoid, as in the
    predecessor code); cand = W4·tanh(W3·a) is the candidate update; y = LN(a + gate ⊙ cand).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.gate_in = linear(cfg, "ffn", cfg.hidden, cfg.ffn)
        self.gate_out = linear(cfg, "ffn", cfg.ffn, cfg.hidden)
        self.cand_in = linear(cfg, "ffn", cfg.hidden, cfg.ffn)
        self.cand_out = linear(cfg, "ffn", cfg.ffn, cfg.hidden)
        self.norm2 = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        a = self.norm1(x + self.drop(self.attn(x, bias)))
        gate = self.gate_out(torch.sigmoid(self.gate_in(a)))
        cand = self.cand_out(torch.tanh(self.cand_in(a)))
        return self.norm2(a + self.drop(gate * cand))


# exits

def pool(h: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """(B, T, D), (B, T) → (B, D): the first token ([CLS]), the last real token (a decoder classifier's, with
    either padding side: the rightmost position the mask keeps, as transformers picks it) or the mask-aware mean."""
    if how == "cls":
        return h[:, 0]
    if how == "last":
        last = (torch.arange(mask.shape[1], device=mask.device) * (mask != 0)).argmax(-1)        # (B,)
        return h[torch.arange(h.shape[0], device=h.device), last]
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


class ExitHead(nn.Module):
    """Pooled state → K logits: optional tanh pooler (DeeBERT), dropout, Linear D→K."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.dense = linear(cfg, "heads", cfg.hidden, cfg.hidden) if cfg.head == "pooler" else None
        self.drop = nn.Dropout(cfg.dropout)
        self.classifier = linear(cfg, "heads", cfg.hidden, cfg.n_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.dense(pooled)) if self.dense is not None else pooled
        return self.classifier(self.drop(x))


class PrototypeHead(nn.Module):
    """DE³-BERT per-block prototypical network: e = g(pooled) ∈ R^P, distances to K class prototypes."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.hidden, cfg.proto_dim)
        self.prototypes = nn.Parameter(torch.randn(cfg.n_classes, cfg.proto_dim) * 0.1)  # (K, P)
        self.distance = cfg.proto_distance

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.proj(pooled)                                           # (B, P)
        return e, prototype_distance(e, self.prototypes, self.distance)  # (B, K)


def prototype_distance(e: torch.Tensor, protos: torch.Tensor, how: str) -> torch.Tensor:
    """(B, P), (K, P) → (B, K): squared Euclidean (Snell et al. 2017) or 1 − cosine."""
    if how == "cosine":
        return 1.0 - F.normalize(e, dim=-1) @ F.normalize(protos, dim=-1).T
    return (e.unsqueeze(1) - protos.unsqueeze(0)).pow(2).sum(-1)


# the model

class MultiExitEncoder(MultiExitBase):
    """Encoder with an exit after every block.

    Args:
        cfg: a :class:`core.model.config.ModelConfig`.

    Shape:
        input_ids, attention_mask, token_type_ids: (B, T) → :class:`core.model.interface.EncoderOutput`, (B, L, ·).

    Example:
        >>> from core.model.config import preset
        >>> m = MultiExitEncoder(preset("tiny")); ids = torch.randint(5, 256, (2, 7))
        >>> m(ids, torch.ones_like(ids)).logits.shape
        torch.Size([2, 2, 2])
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        block = BertBlock if cfg.block == "bert" else SLFNBlock
        self.blocks = nn.ModuleList(block(cfg) for _ in range(cfg.n_blocks))
        self.exits = nn.ModuleList(ExitHead(cfg) for _ in range(cfg.n_blocks))
        self.protos = nn.ModuleList(PrototypeHead(cfg) for _ in range(cfg.n_blocks)) if cfg.proto_dim else None
        self.lte_head = nn.Linear(cfg.hidden, 1) if cfg.lte else None  # BERxiT: one shared LTE head
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    # the pieces of core.model.interface.MultiExitModel (the loops are MultiExitBase's)
    @property
    def contract(self) -> TokenizerContract:
        return TokenizerContract(pad_id=int(self.cfg.pad_id))

    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embeddings.word(input_ids)

    def embed_rows(self, e: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros(e.shape[:2], dtype=torch.long, device=e.device)
        return self.embeddings.rows(e, token_type_ids)

    def block_attention(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return attention_weights(self.blocks[i].attn, h, ctx["bias"])

    def exit(self, i: int, h: torch.Tensor, attention_mask: torch.Tensor) -> ExitOutput:
        pooled = pool(h, attention_mask, self.cfg.pooling)
        logits = self.exits[i](pooled)
        emb = dist = lte = None
        if self.protos is not None:
            emb, dist = self.protos[i](pooled)
        if self.lte_head is not None:
            lte = torch.sigmoid(self.lte_head(pooled)).squeeze(-1)
        return ExitOutput(logits, pooled, emb, dist, lte)

    # cost accounting (methods.md §6): analytic MACs, 2 FLOPs per MAC
    def flops_per_block(self, seq_len: float, seq_len_sq: float | None = None) -> float:
        """FLOPs of one block plus its exit (head, prototype distances, LTE) for one sample of ``seq_len``
        tokens (``seq_len_sq`` = E[n²] when averaging over samples of different lengths)."""
        c, (n, n2) = self.cfg, seq_lengths(seq_len, seq_len_sq)
        d, a, f = c.hidden, c.attn_width, c.ffn
        macs = n * 4 * d * a + 2 * n2 * a                      # Q, K, V, O projections + QKᵀ and AV
        macs += n * (2 * d * f if c.block == "bert" else 4 * d * f + d)   # FFN, or SLFN's two branches + ⊙
        macs += (d * d if c.head == "pooler" else 0) + d * c.n_classes   # exit head
        if c.proto_dim:
            macs += d * c.proto_dim + c.n_classes * c.proto_dim            # projection + K distances
        if c.lte:
            macs += d
        return 2.0 * macs

    def flops_embed(self, seq_len: float) -> float:
        c = self.cfg
        return 2.0 * float(seq_len) * (c.emb_rank * c.hidden if c.emb_rank else 0) + 4.0 * seq_len * c.hidden

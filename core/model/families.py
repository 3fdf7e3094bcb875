"""A Hugging Face encoder classifier as a multi-exit model (core.model.interface.MultiExitModel).

``HFMultiExit`` wraps the *base* model of a ``transformers`` sequence classifier (BERT, DistilBERT, RoBERTa,
XLM-R/CamemBERT, ELECTRA, ALBERT) and puts an exit after every layer; it supplies the interface's pieces and
inherits its loops (core.model.interface.MultiExitBase):

    embed / embed_rows      the family's embeddings (+ ELECTRA's / ALBERT's E→D projection)
    context(mask, h)        the additive (B, 1, 1, T) bias HF's eager and sdpa attention both add
    block(i, h, ctx)        HF layer i (ALBERT: the shared layer group layer i runs)
    exit(i, h, mask)        pooled state → exit head i; distances to the class means

Exit heads (``HFExitConfig.exit_heads``):
    "own"    the model's own classifier with its pooler/dense layer, read off every layer's [CLS] state: the
             logit lens (nostalgebraist 2020) applied to the classification head. At the last layer it *is*
             the model, so the final exit's logits equal the original model's.
    "probe"  a head trained here with the backbone frozen (core.hf.importer): linear probes (Alain & Bengio
             2016), or copies of the own head fine-tuned on every layer (DeeBERT's second stage).

Prototypes (DE³-BERT, methods.md §2.2) are the class means of the *unprojected* pooled state per exit on
the task's fit split (no projection g_m is learned: proto_emb = pooled, P = D). Distances are squared
Euclidean; the DR ratio that EDR reads is scale-free, so the raw hidden scale does not matter.

Saved as an ExitLens model directory by ``core.model.checkpoint.save`` (config.json carries ``"format":
"exitlens-hf/1"`` plus the transformers config; model.safetensors holds the base model's weights under
``backbone.``, the heads and the prototypes); ``core.model.checkpoint.load`` dispatches to :func:`load_dir`.
Only torch is imported at module level: ``transformers`` loads when a backbone is built.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from core.model.encoder import pool, prototype_distance
from core.model.encoding import TokenizerContract
from core.model.hf_config import _ATTN, ACTIVATIONS, HFExitConfig, HFModelError
from core.model.interface import BlockContext, ExitOutput, MultiExitBase, seq_lengths

# heads and prototypes

class HeadMLP(nn.Module):
    """pooled (B, D) → logits (B, K): [dense → act [→ norm]] → out, the shape of every supported family's head
    (ModernBERT's prediction head has the norm)."""

    def __init__(self, hidden: int, n_classes: int, dense: bool, act: str = "tanh", norm: nn.Module | None = None):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden) if dense else None
        self.act = act
        if norm is not None and dense:
            self.norm = norm
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = ACTIVATIONS[self.act](self.dense(pooled)) if self.dense is not None else pooled
        norm = getattr(self, "norm", None)
        return self.out(norm(x) if norm is not None else x)


class ClassMeans(nn.Module):
    """The K class prototypes of one exit: (K, D) class means of the pooled state (a buffer, not learned)."""

    def __init__(self, n_classes: int, dim: int):
        super().__init__()
        self.register_buffer("prototypes", torch.zeros(n_classes, dim))


class _Block:
    """Exit i's layers as one callable ``blk(h, bias)`` (a plain object: the layers stay registered once,
    in the backbone, so ALBERT's shared weights are not duplicated in the state dict)."""

    def __init__(self, layer: nn.Module):
        self.layer = layer

    def __call__(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        out = self.layer(h, bias)           # transformers ≥ 5: a layer returns the hidden states tensor
        return out[0] if isinstance(out, tuple) else out


# the model

class HFMultiExit(MultiExitBase):
    """A transformers base model with an exit after every layer (see the module docstring).

    Shape:
        input_ids, attention_mask, token_type_ids: (B, T) → :class:`core.model.encoder.EncoderOutput`, (B, L, ·).
    """

    exitlens_kind = "hf"
    lte_head = None                     # no BERxiT learn-to-exit head (MultiExitEncoder's attribute)

    def __init__(self, cfg: HFExitConfig, backbone: nn.Module):
        super().__init__()
        self.cfg = cfg
        fam = cfg.family
        self.backbone = backbone
        self._eager: dict[int, nn.Module] = {}      # per layer: an eager-attention view of its attention module
        own = "own" in cfg.exit_heads
        self.own_head = self._make_head(bool(fam.dense)) if own else None
        self.probes = nn.ModuleList(self._make_head(cfg.probe_dense) if kind == "probe" else nn.Identity()
                                    for kind in cfg.exit_heads)
        self.protos = nn.ModuleList(ClassMeans(cfg.n_classes, cfg.hidden) for _ in range(cfg.n_blocks)) \
            if cfg.proto_dim else None
        # a path, not the module: assigning a module here would register (and save) its weights twice
        self._embed_proj = fam.embed_proj if fam.embed_proj and _has(backbone, fam.embed_proj) else None
        layers = backbone.get_submodule(fam.layers)
        if cfg.model_type == "albert":     # layer i runs group ⌊i / (L / G)⌋ (AlbertTransformer.forward)
            groups = len(layers)
            self.blocks = [_Block(layers[int(i / (cfg.n_blocks / groups))]) for i in range(cfg.n_blocks)]
        else:
            self.blocks = [_Block(layer) for layer in layers]
        if len(self.blocks) != cfg.n_blocks:
            raise HFModelError(f"the backbone has {len(self.blocks)} layers but the config says {cfg.n_blocks}",
                               "Use the config.json saved with these weights")

    def eager_weights(self, i: int, attn: str, norm: str, h: torch.Tensor, **kw) -> torch.Tensor:
        """(B, H, T, T) block i's own attention module (``attn``, after its pre-norm ``norm``) run with eager
        attention on a shallow copy: the weights are shared, the model and its attention kernel never switched."""
        layer = self.blocks[i].layer
        if i not in self._eager:
            att = copy.copy(layer.get_submodule(attn))
            att.config = copy.copy(att.config)
            att.config._attn_implementation = "eager"
            self._eager[i] = att
        return self._eager[i](layer.get_submodule(norm)(h), **kw)[1]

    def _make_head(self, dense: bool) -> HeadMLP:
        norm = None
        if self.cfg.family.head_norm:             # ModernBERT: LayerNorm(eps, bias) as its config says
            c = self.backbone.config
            norm = nn.LayerNorm(self.cfg.hidden, eps=c.norm_eps, bias=c.norm_bias)
        return HeadMLP(self.cfg.hidden, self.cfg.n_classes, dense, self.cfg.family.act, norm)

    def head(self, i: int) -> nn.Module:
        return self.own_head if self.cfg.exit_heads[i] == "own" else self.probes[i]

    # the pieces of core.model.interface.MultiExitModel (the loops are MultiExitBase's)
    @property
    def contract(self) -> TokenizerContract:
        c = self.cfg
        return TokenizerContract(int(c.pad_id), c.padding_side, tuple(c.special_ids),
                                 c.family.token_types and c.token_types)

    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.backbone.get_submodule(self.cfg.family.word)(input_ids)

    def _types(self, token_type_ids, like: torch.Tensor) -> torch.Tensor:
        # as the source's own tokenizer feeds the model: RoBERTa (one segment) and v5 ALBERT get zeros
        if token_type_ids is None or not self.cfg.token_types:
            return torch.zeros(like.shape[:2], dtype=torch.long, device=like.device)
        return token_type_ids

    def _project(self, h: torch.Tensor) -> torch.Tensor:
        return self.backbone.get_submodule(self._embed_proj)(h) if self._embed_proj is not None else h

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.backbone.embeddings                 # from the ids: RoBERTa's positions skip its padding
        if self.cfg.family.token_types:
            return self._project(emb(input_ids=input_ids, token_type_ids=self._types(token_type_ids, input_ids)))
        return self._project(emb(input_ids))           # DistilBERT has no segment embedding

    def embed_rows(self, e: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, E) word-table rows → (B, T, D): the embeddings after their table lookup (``inputs_embeds``)."""
        emb = self.backbone.embeddings
        if self.cfg.family.token_types:
            return self._project(emb(inputs_embeds=e, token_type_ids=self._types(token_type_ids, e)))
        return self._project(emb(None, inputs_embeds=e))

    def block_attention(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """softmax(q kᵀ·scaling + bias) from block i's (ALBERT: its first layer's) own q/k projections: the
        model's attention kernel is never switched, so a shared model is untouched."""
        path, q_name, k_name = _ATTN.get(self.cfg.model_type, ("attention.self", "query", "key"))
        layer = self.blocks[i].layer
        layer = layer.albert_layers[0] if self.cfg.model_type == "albert" else layer
        att = layer.get_submodule(path)
        q, k = (getattr(att, name)(h).unflatten(-1, (-1, att.attention_head_size)).transpose(1, 2)
                for name in (q_name, k_name))                                          # (B, H, T, Dh)
        return torch.softmax(q @ k.transpose(-1, -2) * att.scaling + ctx["bias"], dim=-1)

    def exit(self, i: int, h: torch.Tensor, attention_mask: torch.Tensor) -> ExitOutput:
        """Pool block i's state (through the family's final norm, where its head reads one: a decoder's logit lens,
        ModernBERT) and read exit i's head and class-mean distances."""
        norm, how = self.cfg.family.norm, self.cfg.pooling
        if norm is None:
            pooled = pool(h, attention_mask, how)                                          # (B, D)
        elif how == "mean":                                     # the norm is per token: the mean of the normed
            pooled = pool(self.backbone.get_submodule(norm)(h), attention_mask, how)
        else:                                                   # one token: pool, then norm (cheaper, the same)
            pooled = self.backbone.get_submodule(norm)(pool(h, attention_mask, how))
        logits = self.head(i)(pooled)                                      # (B, K)
        emb = dist = None
        if self.protos is not None:
            emb = pooled
            dist = prototype_distance(pooled, self.protos[i].prototypes, self.cfg.proto_distance)  # (B, K)
        return ExitOutput(logits, pooled, emb, dist, None)

    # cost accounting, the formulas of MultiExitEncoder (methods.md §6): analytic MACs, 2 FLOPs per MAC
    def flops_per_block(self, seq_len: float, seq_len_sq: float | None = None) -> float:
        """One block (ALBERT: its ``layers_per_block`` layers) plus its exit, for one sample; the head cost is
        the largest of the exits' (the interface has no block index; a head is < 2 % of a block)."""
        c, (n, n2) = self.cfg, seq_lengths(seq_len, seq_len_sq)
        d, f, k = c.hidden, c.ffn, c.n_classes
        layer = n * 4 * d * d + 2 * n2 * d + n * 2 * d * f          # Q, K, V, O + QKᵀ and AV + FFN
        dense = any(kind == "own" for kind in c.exit_heads) or c.probe_dense
        head = (d * d if dense else 0) + d * k + (k * d if c.proto_dim else 0)
        return 2.0 * (c.layers_per_block * layer + head)

    def flops_embed(self, seq_len: float) -> float:
        c = self.cfg
        return 2.0 * float(seq_len) * c.emb_size * c.hidden + 4.0 * seq_len * c.hidden


def _has(module: nn.Module, path: str) -> bool:
    try:
        module.get_submodule(path)
        return True
    except AttributeError:
        return False


# building and loading

def strip_pooler(base: nn.Module) -> nn.Module:
    """Drop the base model's own pooler: an "own" exit holds a copy of its dense layer (HeadMLP.dense)."""
    if isinstance(getattr(base, "pooler", None), nn.Module):
        base.pooler = None
    return base


def need_transformers() -> None:
    """The wrapper calls layers the transformers ≥ 5 way (``layer(h, mask)`` → tensor, one mask form)."""
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        raise HFModelError(f"transformers {transformers.__version__} is installed; importing Hugging Face models "
                           "needs transformers ≥ 5", "pip install -r requirements.txt (or 'transformers>=5')")

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

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.model.encoder import pool, prototype_distance
from core.model.interface import BlockContext, ExitOutput, MultiExitBase
from core.model.tokenizer import TokenizerContract

FORMAT = "exitlens-hf/1"
ACTIVATIONS = {"tanh": torch.tanh, "relu": F.relu, "gelu": F.gelu}


class HFModelError(ValueError):
    """An imported-model directory or source that cannot be used; ``what`` is wrong, ``todo`` fixes it."""

    def __init__(self, what: str, todo: str):
        super().__init__(f"{what}. {todo}")
        self.what, self.todo = what, todo


@dataclass(frozen=True)
class Family:
    """Where a transformers family keeps its parts (module paths relative to the base / classifier model)."""
    layers: str                 # the ModuleList of layers (ALBERT: of shared layer groups)
    token_types: bool           # embeddings take token_type_ids
    dense: str                  # the own head's dense layer, relative to the *ForSequenceClassification
    out: str                    # the own head's output layer
    act: str                    # activation after the dense layer
    ffn_key: str = "intermediate_size"
    position_offset: bool = False   # RoBERTa: positions start after padding_idx
    embed_proj: str | None = None   # E→D projection after the embeddings


_ATTN = {"distilbert": ("attention", "q_lin", "k_lin"), "albert": ("attention", "query", "key")}
_ROBERTA = Family("encoder.layer", True, "classifier.dense", "classifier.out_proj", "tanh", position_offset=True)
FAMILIES: dict[str, Family] = {
    "bert": Family("encoder.layer", True, "bert.pooler.dense", "classifier", "tanh"),
    "distilbert": Family("transformer.layer", False, "pre_classifier", "classifier", "relu", ffn_key="hidden_dim"),
    "roberta": _ROBERTA, "xlm-roberta": _ROBERTA, "camembert": _ROBERTA,
    "electra": Family("encoder.layer", True, "classifier.dense", "classifier.out_proj", "gelu",
                      embed_proj="embeddings_project"),
    "albert": Family("encoder.albert_layer_groups", True, "albert.pooler", "classifier", "tanh",
                     embed_proj="encoder.embedding_hidden_mapping_in"),
}


def family(model_type: str) -> Family:
    if model_type not in FAMILIES:
        raise HFModelError(f"model_type {model_type!r} is not supported",
                           f"ExitLens imports the families {sorted(FAMILIES)}")
    return FAMILIES[model_type]


@dataclass
class HFExitConfig:
    """What ``config.json`` of an imported model holds; duck-types the fields of core.model.config.ModelConfig
    that the rest of ExitLens reads (n_blocks, n_classes, hidden, max_len, pooling, proto_*, lte, …)."""
    model_type: str
    hf_config: dict                        # the transformers config (to_dict), rebuilt by AutoConfig
    exit_heads: list[str]                  # per exit: "own" | "probe"
    n_blocks: int
    n_classes: int
    hidden: int
    ffn: int
    max_len: int
    vocab_size: int
    exits: str = "own-head"                # how it was imported: "own-head" | "probe"
    probe_dense: bool = False              # probes are dense+act+linear (own-head copies), else linear
    layers_per_block: int = 1              # ALBERT: inner_group_num layers run per exit
    emb_size: int = 0                      # E of an E→D embedding projection (0 = none)
    pooling: str = "cls"                   # "cls" | "mean" (sentence-transformers bare encoders)
    proto_dim: int = 0                     # = hidden when class-mean prototypes exist
    proto_distance: str = "sqeuclidean"
    pad_id: int = 0
    padding_side: str = "right"            # the source tokenizer's padding side
    special_ids: list = field(default_factory=list)   # the source tokenizer's special token ids
    token_types: bool = True               # segment ids reach the embeddings (what the HF tokenizer feeds)
    source: str = ""
    format: str = FORMAT
    lte: bool = False                      # no learn-to-exit head
    binarize: tuple = ()                   # nothing is binarized
    head: str = "own"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.format != FORMAT:
            problems.append(f"format must be {FORMAT!r}, got {self.format!r}")
        if self.model_type not in FAMILIES:
            problems.append(f"model_type {self.model_type!r} is not one of {sorted(FAMILIES)}")
        if len(self.exit_heads) != self.n_blocks or set(self.exit_heads) - {"own", "probe"}:
            problems.append(f"exit_heads must list 'own'/'probe' for each of {self.n_blocks} exits, "
                            f"got {self.exit_heads}")
        if self.pooling not in ("cls", "mean"):
            problems.append(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")
        if self.n_classes < 2:
            problems.append("n_classes must be ≥ 2 (regression heads cannot exit on confidence)")
        if problems:
            raise ValueError("invalid imported-model config: " + "; ".join(problems))
        self.binarize = tuple(self.binarize)

    @property
    def family(self) -> Family:
        return family(self.model_type)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["binarize"] = list(self.binarize)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> HFExitConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config has unknown fields {unknown}: is this an ExitLens imported-model config?")
        return cls(**d)

    def replace(self, **kw) -> HFExitConfig:
        return dataclasses.replace(self, **kw)


# heads and prototypes

class HeadMLP(nn.Module):
    """pooled (B, D) → logits (B, K): [dense → act] → out, the shape of every supported family's head."""

    def __init__(self, hidden: int, n_classes: int, dense: bool, act: str = "tanh"):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden) if dense else None
        self.act = act
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = ACTIVATIONS[self.act](self.dense(pooled)) if self.dense is not None else pooled
        return self.out(x)


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
        own = "own" in cfg.exit_heads
        self.own_head = HeadMLP(cfg.hidden, cfg.n_classes, True, fam.act) if own else None
        self.probes = nn.ModuleList(
            HeadMLP(cfg.hidden, cfg.n_classes, cfg.probe_dense, fam.act) if kind == "probe" else nn.Identity()
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

    def head(self, i: int) -> nn.Module:
        return self.own_head if self.cfg.exit_heads[i] == "own" else self.probes[i]

    # the pieces of core.model.interface.MultiExitModel (the loops are MultiExitBase's)
    @property
    def contract(self) -> TokenizerContract:
        c = self.cfg
        return TokenizerContract(int(c.pad_id), c.padding_side, tuple(c.special_ids),
                                 c.family.token_types and c.token_types)

    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.backbone.embeddings.word_embeddings(input_ids)

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

    def block(self, i: int, h: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return self.blocks[i](h, ctx["bias"])

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
        pooled = pool(h, attention_mask, self.cfg.pooling)                 # (B, D)
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
        c, n = self.cfg, float(seq_len)
        n2 = n * n if seq_len_sq is None else float(seq_len_sq)
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


def build_backbone(model_type: str, hf_config: dict) -> nn.Module:
    """A freshly initialised base model (no pooler) of this transformers config."""
    from transformers import CONFIG_MAPPING, AutoModel

    need_transformers()
    config = CONFIG_MAPPING[model_type].from_dict(dict(hf_config))
    return strip_pooler(AutoModel.from_config(config, attn_implementation="sdpa"))


def load_dir(directory: str | os.PathLike, cfg: HFExitConfig | None = None, device: str = "cpu",
             weights_format: str | None = None) -> HFMultiExit:
    """Load an imported-model directory; raises :class:`HFModelError` with what is wrong and what to do.
    ``weights_format``: the format tag model.safetensors must carry (core.model.checkpoint passes its own)."""
    from safetensors import safe_open

    directory = Path(directory)
    if cfg is None:
        cfg = HFExitConfig.from_dict(json.loads((directory / "config.json").read_text(encoding="utf-8")))
    path = directory / "model.safetensors"
    if not path.is_file():
        raise HFModelError("model.safetensors is missing", "Copy the weights file back, or import the model again")
    try:
        model = HFMultiExit(cfg, build_backbone(cfg.model_type, cfg.hf_config))
    except (ValueError, KeyError, TypeError) as e:
        raise HFModelError(f"config.json does not describe a buildable {cfg.model_type} ({e})",
                           "Import the model again with `python -m core.hf import`") from e
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="numpy") as f:
            tag = (f.metadata() or {}).get("format")
            if weights_format is not None and tag != weights_format:
                raise HFModelError(f"model.safetensors was not written by ExitLens (no {weights_format!r} format "
                                   "tag)", "Import the Hugging Face model with `python -m core.hf import`")
            keys = set(f.keys())
            missing, extra = sorted(set(expected) - keys), sorted(keys - set(expected))
            if missing or extra:
                raise HFModelError(f"config.json and the weights disagree: missing {missing[:4]}"
                                   f"{'…' if len(missing) > 4 else ''}, unexpected {extra[:4]}"
                                   f"{'…' if len(extra) > 4 else ''}", "Use the config.json saved with these weights")
            state = {}
            for name, ref in expected.items():
                arr = f.get_tensor(name)
                if tuple(arr.shape) != tuple(ref.shape):
                    raise HFModelError(f"{name} has shape {tuple(arr.shape)} but config.json implies "
                                       f"{tuple(ref.shape)}", "Use the config.json saved with these weights")
                if not np.isfinite(arr).all():
                    raise HFModelError(f"{name} holds NaN or infinite values", "Import the model again")
                state[name] = torch.from_numpy(np.array(arr)).to(ref.dtype)
    except HFModelError:
        raise
    except Exception as e:  # safetensors header/length errors: truncated or corrupt
        raise HFModelError(f"model.safetensors is truncated or corrupt ({type(e).__name__}: {e})",
                           "Copy the file again or import the model again") from e
    model.load_state_dict(state)
    return model.to(device).eval()

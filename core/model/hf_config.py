"""What an imported Hugging Face classifier is: its family (where transformers keeps its parts, table FAMILIES)
and the ExitLens config of the import (HFExitConfig, saved as config.json with ``"format": "exitlens-hf/1"``).

A family is an encoder (exits pool [CLS] or the mean) or a decoder classifier (exits read the last real token,
after the model's final norm: the logit lens of a middle layer). An unsupported model_type is refused with the
list of what is supported."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from core.model.config import JsonConfig

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
    kind: str = "encoder"           # "encoder" | "decoder" (a causal LM's *ForSequenceClassification)
    # decoders (paths relative to the base model / a layer): word table, final norm, rotary embedding
    # (None: learned absolute positions, ``positions``), the layer's pre-attention norm and attention
    embed: str = "embed_tokens"
    norm: str | None = None         # a final norm every exit reads through (decoders: the logit lens; ModernBERT)
    rotary: str | None = "rotary_emb"
    positions: str | None = None
    attn_norm: str = "input_layernorm"
    attn: str = "self_attn"
    gated_ffn: bool = True          # the FFN has gate, up and down projections (3·D·F MACs a token, not 2)
    word: str = "embeddings.word_embeddings"   # encoders: the word table
    head_norm: str | None = None    # a norm after the own head's dense layer (ModernBERT's prediction head)
    pooling_key: str | None = None  # a config field naming the classifier's pooling ("cls" | "mean")


def _decoder(layers: str = "layers", norm: str = "norm", **kw) -> Family:
    """A causal LM's *ForSequenceClassification: its ``score`` (a bias-free linear map) on the last real token."""
    return Family(layers, False, "", "score", "", kind="decoder", norm=norm, **kw)


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


FAMILIES.update({
    "mpnet": Family("encoder.layer", False, "classifier.dense", "classifier.out_proj", "tanh", position_offset=True,
                    kind="mpnet"),
    "deberta-v2": Family("encoder.layer", True, "pooler.dense", "classifier", "gelu", kind="deberta"),
    "modernbert": Family("layers", False, "head.dense", "classifier", "gelu", kind="modernbert", norm="final_norm",
                         word="embeddings.tok_embeddings", head_norm="head.norm", pooling_key="classifier_pooling"),
})
FAMILIES.update({name: _decoder() for name in ("llama", "mistral", "qwen2", "qwen3", "gemma", "phi3")})
FAMILIES["gpt2"] = _decoder(embed="wte", norm="ln_f", rotary=None, positions="wpe", attn_norm="ln_1", attn="attn",
                            gated_ffn=False, layers="h", ffn_key="n_inner")


def family(model_type: str) -> Family:
    if model_type not in FAMILIES:
        raise HFModelError(f"model_type {model_type!r} is not supported",
                           f"ExitLens imports the families {sorted(FAMILIES)}")
    return FAMILIES[model_type]


@dataclass
class HFExitConfig(JsonConfig):
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
    pooling: str = "cls"                   # "cls" | "mean" (sentence-transformers) | "last" (decoders)
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
        if self.pooling not in ("cls", "mean", "last"):
            problems.append(f"pooling must be 'cls', 'mean' or 'last', got {self.pooling!r}")
        if self.n_classes < 2:
            problems.append("n_classes must be ≥ 2 (regression heads cannot exit on confidence)")
        if problems:
            raise ValueError("invalid imported-model config: " + "; ".join(problems))
        self.binarize = tuple(self.binarize)

    @property
    def family(self) -> Family:
        return family(self.model_type)

    _WHAT = "an ExitLens imported-model config"



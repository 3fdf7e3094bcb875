"""ModelConfig: every knob of the multi-exit encoder, with named presets.

Presets
    tiny     tests: 2 blocks × 32 wide, builds in milliseconds
    beex     BEExformer-style default: SLFN blocks, binarized, trained from scratch (methods.md §1)
    minilm   the MiniLM-L6 layout (all-MiniLM-L6-v2): 6 BERT blocks, 384 wide, 12 heads, FFN 1536
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

BINARIZABLE_PARTS = ("attention", "ffn", "embeddings", "heads")


class JsonConfig:
    """A model config dataclass's round trip through config.json (``binarize`` as a list), refusing unknown fields."""

    _WHAT = "an ExitLens config.json"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["binarize"] = list(self.binarize)
        return d

    @classmethod
    def from_dict(cls, d: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config has unknown fields {unknown}: is this {cls._WHAT}?")
        return cls(**d)

    def replace(self, **kw):
        return dataclasses.replace(self, **kw)


@dataclass
class ModelConfig(JsonConfig):
    """Configuration of a :class:`core.model.encoder.MultiExitEncoder`.

    Args:
        vocab_size (int, defaults to 30522): WordPiece vocabulary size.
        hidden (int): residual width d (COST-EFF keeps it intact when slenderizing).
        n_blocks (int): depth L; an exit head sits after every block.
        n_heads (int): attention heads; ``head_dim`` is fixed per head, so fewer heads = slimmer attention.
        head_dim (int): width of one head (64 in BERT; MiniLM uses 32).
        ffn (int): width of the feed-forward (BERT) or of each SLFN branch (BEExformer).
        block (str): "bert" (post-LN BERT block, loads MiniLM) or "slfn" (BEExformer's gated FFN, §1.4).
        emb_rank (int, defaults to 0): factorized word embedding rank r (COST-EFF SVD); 0 = full.
        binarize (tuple[str]): which parts use α·sign(W) weights: any of attention, ffn, embeddings, heads.
        n_classes (int): K.
        pooling (str): "cls" (first token) or "mean" (mask-aware mean) for each exit head's input.
        head (str): exit head: "linear" (Linear d→K on the pooled state) or "pooler" (tanh dense, then linear).
        proto_dim (int): width P of the DE³ prototype space (0 disables prototypes).
        proto_distance (str): "sqeuclidean" (Snell et al.) or "cosine" (1 − cos).
        lte (bool): add BERxiT's shared learn-to-exit head.
    """

    vocab_size: int = 30522
    hidden: int = 256
    n_blocks: int = 6
    n_heads: int = 4
    head_dim: int = 64
    ffn: int = 512
    block: str = "slfn"                       # "bert" | "slfn"
    max_len: int = 128                        # position embeddings
    type_vocab: int = 2                       # segment ids for sentence pairs
    emb_rank: int = 0                         # 0 = full word-embedding matrix
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    binarize: tuple[str, ...] = ()            # subset of BINARIZABLE_PARTS
    n_classes: int = 2
    pooling: str = "cls"                      # "cls" | "mean"
    head: str = "linear"                      # "linear" | "pooler"
    proto_dim: int = 64                       # 0 = no prototypes
    proto_distance: str = "sqeuclidean"       # "sqeuclidean" | "cosine"
    lte: bool = True                          # BERxiT learn-to-exit head
    pad_id: int = 0

    def __post_init__(self) -> None:
        self.binarize = tuple(self.binarize)
        bad = [p for p in self.binarize if p not in BINARIZABLE_PARTS]
        problems = []
        if bad:
            problems.append(f"binarize has unknown parts {bad}; choose from {BINARIZABLE_PARTS}")
        if self.block not in ("bert", "slfn"):
            problems.append(f"block must be 'bert' or 'slfn', got {self.block!r}")
        if self.pooling not in ("cls", "mean"):
            problems.append(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")
        if self.head not in ("linear", "pooler"):
            problems.append(f"head must be 'linear' or 'pooler', got {self.head!r}")
        if self.proto_distance not in ("sqeuclidean", "cosine"):
            problems.append(f"proto_distance must be 'sqeuclidean' or 'cosine', got {self.proto_distance!r}")
        for name in ("vocab_size", "hidden", "n_blocks", "n_heads", "head_dim", "ffn", "max_len", "n_classes"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.n_classes < 2:
            problems.append("n_classes must be ≥ 2")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    @property
    def attn_width(self) -> int:
        return self.n_heads * self.head_dim




PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(vocab_size=256, hidden=32, n_blocks=2, n_heads=2, head_dim=16, ffn=64,
                        block="slfn", max_len=64, proto_dim=8, dropout=0.0),
    "tiny-bert": ModelConfig(vocab_size=256, hidden=32, n_blocks=3, n_heads=2, head_dim=16, ffn=64,
                             block="bert", max_len=64, proto_dim=8, dropout=0.0),
    # BEExformer-style: SLFN blocks, block linears binarized (the paper binarizes the SLFN too, §1.2)
    "beex": ModelConfig(vocab_size=8000, hidden=256, n_blocks=6, n_heads=4, head_dim=64, ffn=512,
                        block="slfn", max_len=128, binarize=("attention", "ffn"), proto_dim=64),
    # all-MiniLM-L6-v2 (the BERT layout of microsoft/MiniLM-L12-H384 cut to 6 layers)
    "minilm": ModelConfig(vocab_size=30522, hidden=384, n_blocks=6, n_heads=12, head_dim=32, ffn=1536,
                          block="bert", max_len=512, proto_dim=64),
}


def preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides)

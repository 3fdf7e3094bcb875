"""Models: every model ExitLens runs, seen through one interface (interface.MultiExitModel) — the native
multi-exit encoder (config, encoder, binary), imported Hugging Face classifiers (families), the tokenizer
contract, MiniLM loading, COST-EFF slenderization, weight accounting and the checkpoint format.

Other packages import this package, never its modules."""
from core.model import checkpoint
from core.model.binary import (
    BinaryEmbedding,
    BinaryLinear,
    approx_sign,
    approx_sign_curves,
    binarize_weight,
    freeze_binarized,
    pack_signs,
    packed_bytes,
    unpack_signs,
)
from core.model.checkpoint import (
    HF_FORMAT,
    CheckpointError,
    disk_bytes,
    load,
    load_card,
    load_tokenizer,
    quantize_rows,
    save,
)
from core.model.config import PRESETS, ModelConfig, preset
from core.model.decoders import HFDecoderMultiExit
from core.model.encoder import (
    MultiExitEncoder,
    SelfAttention,
    SLFNBlock,
    attention_weights,
    pool,
    prototype_distance,
)
from core.model.encoding import (
    TokenInfo,
    TokenizerContract,
    bare,
    encode_batch,
    encode_one,
    encode_row,
    tensors,
    token_info,
)
from core.model.families import ClassMeans, HFMultiExit, need_transformers, strip_pooler
from core.model.hf_config import FAMILIES, HFExitConfig, HFModelError, family
from core.model.hf_load import load_dir, wrapper
from core.model.interface import (
    BlockContext,
    EncoderOutput,
    ExitOutput,
    MultiExitBase,
    MultiExitModel,
    additive_bias,
)
from core.model.minilm import load_minilm, model_dir, task_texts, task_token_ids, trim_vocab
from core.model.slenderize import slenderize, taylor_scores, truncate_positions
from core.model.tokenizer import (
    SPECIAL_TOKENS,
    load_minilm_tokenizer,
    read_tokenizer,
    save_tokenizer,
    stateless_copy,
    train_wordpiece,
)
from core.model.weights import (
    against_reference,
    flipped_share,
    latent_model,
    layer_stats,
    pretrained_block_weights,
    sign_flips,
    size_report,
    stored_dtype_bytes,
)

__all__ = ["BinaryEmbedding", "BinaryLinear", "BlockContext", "CheckpointError", "ClassMeans", "EncoderOutput",
           "ExitOutput", "FAMILIES", "HFDecoderMultiExit", "HFExitConfig", "HFModelError", "HFMultiExit", "HF_FORMAT",
           "ModelConfig", "MultiExitBase", "MultiExitEncoder", "MultiExitModel", "PRESETS", "SLFNBlock",
           "SPECIAL_TOKENS", "SelfAttention", "TokenInfo", "TokenizerContract", "additive_bias", "against_reference",
           "approx_sign", "approx_sign_curves", "attention_weights", "bare", "binarize_weight", "checkpoint",
           "disk_bytes", "encode_batch", "encode_one", "encode_row", "family", "flipped_share", "freeze_binarized",
           "latent_model", "layer_stats", "load", "load_card", "load_dir", "load_minilm", "load_minilm_tokenizer",
           "load_tokenizer", "model_dir", "need_transformers", "pack_signs", "packed_bytes", "pool", "preset",
           "pretrained_block_weights", "prototype_distance", "quantize_rows", "read_tokenizer", "save",
           "save_tokenizer", "sign_flips", "size_report", "slenderize", "stateless_copy", "stored_dtype_bytes",
           "strip_pooler", "task_texts", "task_token_ids", "taylor_scores", "tensors", "token_info", "train_wordpiece",
           "trim_vocab", "truncate_positions", "unpack_signs", "wrapper"]

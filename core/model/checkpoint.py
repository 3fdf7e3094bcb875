"""Save, load and validate a model directory — safetensors + JSON, never pickle.

    <dir>/config.json        ModelConfig
    <dir>/model.safetensors  weights; a binarized weight is stored as ``<name>.bits`` (1 bit / weight, uint8)
                             plus ``<name>.alpha`` (one float per row), so the file's size is the packed size
    <dir>/tokenizer.json     the tokenizer (HF ``tokenizers``)
    <dir>/card.json          the model card: data, metrics, sizes, how to reproduce

Loading refuses, with a message that says what is wrong and what to do: a missing directory or file, a
truncated or corrupt file, a foreign file (not written by ExitLens), anything pickled, and a config that
disagrees with the weights.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from core.model.binary import is_binary, pack_signs, unpack_signs
from core.model.config import ModelConfig
from core.model.encoder import MultiExitEncoder

FORMAT = "exitlens/1"
HF_FORMAT = "exitlens-hf/1"     # config.json "format" of a model imported by core.hf.cli (core.model.families)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class CheckpointError(ValueError):
    """A model directory that cannot be loaded; the message says what to do."""


def _binary_weights(model: MultiExitEncoder) -> dict[str, tuple[int, int]]:
    """Names of the weights stored bit-packed → their (rows, cols)."""
    return {f"{name}.weight": tuple(m.weight.shape) for name, m in model.named_modules() if is_binary(m)}


STORAGE = ("float32", "float16", "int8")


def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output row: w ≈ q · scale[:, None], scale = max|row| / 127 (0 rows: scale 1)."""
    w = np.asarray(w, dtype=np.float32)
    scale = np.abs(w).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    return np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8), scale.astype(np.float32)


def state_arrays(model: MultiExitEncoder, dtype: str = "float32") -> tuple[dict[str, np.ndarray], dict]:
    """The model's tensors as stored: packed where binary, ``dtype`` elsewhere — float32, float16, or int8
    (every matrix as int8 with one float32 scale per row, ``<name>.scale``; vectors in float16)."""
    if dtype not in STORAGE:
        raise ValueError(f"storage dtype must be one of {STORAGE}, got {dtype!r}")
    packed = _binary_weights(model)
    arrays: dict[str, np.ndarray] = {}
    int8 = []
    for name, t in model.state_dict().items():
        a = t.detach().cpu().numpy()
        if name in packed:
            bits, alpha = pack_signs(t)
            arrays[f"{name}.bits"], arrays[f"{name}.alpha"] = bits, alpha
        elif dtype == "int8" and a.ndim == 2:
            arrays[name], arrays[f"{name}.scale"] = quantize_rows(a)
            int8.append(name)
        else:
            arrays[name] = a.astype("float16" if dtype == "int8" else dtype)
    return arrays, {"format": FORMAT, "packed": json.dumps(packed), "dtype": dtype, "int8": json.dumps(int8)}


def save(model: MultiExitEncoder, directory: str | os.PathLike, tokenizer=None, card: dict | None = None,
         dtype: str = "float32") -> Path:
    """Write the model directory atomically (a temporary sibling renamed into place)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp-"))
    try:
        (tmp / "config.json").write_text(json.dumps(model.cfg.to_dict(), indent=2))
        arrays, meta = state_arrays(model, dtype)
        save_file(arrays, str(tmp / "model.safetensors"), metadata=meta)
        if tokenizer is not None:
            tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "card.json").write_text(json.dumps(card or {}, indent=2, default=float))
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _fail(directory: Path, what: str, todo: str) -> CheckpointError:
    return CheckpointError(f"cannot load the model in {directory}: {what}. {todo}")


def read_config(directory: str | os.PathLike) -> ModelConfig:
    directory = Path(directory)
    if not directory.is_dir():
        raise _fail(directory, "there is no such directory", "Pick a shipped model or a directory written by "
                    "`python -m core.train`")
    pickled = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickled:
        raise _fail(directory, f"it holds pickled files {pickled}, which ExitLens never loads (unpickling runs "
                    "arbitrary code)", "Convert the weights to safetensors, or train the model with ExitLens")
    path = directory / "config.json"
    if not path.is_file():
        raise _fail(directory, "config.json is missing", "A model directory needs config.json, model.safetensors "
                    "and tokenizer.json")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("it is not a JSON object")
        raw = {k: v for k, v in raw.items()}
        if raw.get("format") == HF_FORMAT:           # an imported Hugging Face classifier (core.hf.importer)
            from core.model.hf_config import HFExitConfig
            return HFExitConfig.from_dict(raw)
        return ModelConfig.from_dict(raw)
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise _fail(directory, f"config.json is not a valid ExitLens config ({e})",
                    "Restore config.json from the training run, or re-save the model") from e


def load(directory: str | os.PathLike, device: str = "cpu") -> MultiExitEncoder:
    """Load and validate a model directory; raises :class:`CheckpointError` with what to do."""
    directory = Path(directory)
    cfg = read_config(directory)
    if getattr(cfg, "format", None) == HF_FORMAT:
        return _load_imported(directory, cfg, device)
    path = directory / "model.safetensors"
    if not path.is_file():
        raise _fail(directory, "model.safetensors is missing", "Copy the weights file back, or re-train")
    model = MultiExitEncoder(cfg)
    packed = _binary_weights(model)
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            keys = set(f.keys())
            if meta.get("format") != FORMAT:
                raise _fail(directory, "model.safetensors was not written by ExitLens (no 'exitlens/1' format "
                            "tag)", "Import foreign weights with the matching importer (e.g. core.model.minilm) "
                            "and save them with ExitLens")
            stored_packed = {k: tuple(v) for k, v in json.loads(meta.get("packed", "{}")).items()}
            if stored_packed != packed:
                raise _fail(directory, "config.json and the weights disagree about which layers are binarized "
                            f"(config: {len(packed)} packed weights, file: {len(stored_packed)})",
                            "Use the config.json that was saved with these weights")
            int8 = set(json.loads(meta.get("int8", "[]")))
            want = ({f"{k}.bits" if k in packed else k for k in expected} | {f"{k}.alpha" for k in packed}
                    | {f"{k}.scale" for k in int8})
            missing, extra = sorted(want - keys), sorted(keys - want)
            if missing or extra:
                raise _fail(directory, f"config.json and the weights disagree: missing {missing[:4]}"
                            f"{'…' if len(missing) > 4 else ''}, unexpected {extra[:4]}"
                            f"{'…' if len(extra) > 4 else ''}", "Use the config.json saved with these weights")
            state = {}
            for name, ref in expected.items():
                if name in packed:
                    bits, alpha = f.get_tensor(f"{name}.bits"), f.get_tensor(f"{name}.alpha")
                    rows, cols = packed[name]
                    if bits.shape != (rows, (cols + 7) // 8) or alpha.shape != (rows,):
                        raise _fail(directory, f"{name} has packed shape {bits.shape}, config says {(rows, cols)}",
                                    "Use the config.json saved with these weights")
                    state[name] = unpack_signs(bits, alpha, cols)
                else:
                    arr = f.get_tensor(name)
                    if tuple(arr.shape) != tuple(ref.shape):
                        raise _fail(directory, f"{name} has shape {tuple(arr.shape)} but config.json implies "
                                    f"{tuple(ref.shape)}", "Use the config.json saved with these weights")
                    if name in int8:                            # int8 rows × their float32 scales
                        arr = arr.astype(np.float32) * f.get_tensor(f"{name}.scale")[:, None]
                    if not np.isfinite(arr).all():
                        raise _fail(directory, f"{name} holds NaN or infinite values", "Re-train or restore the file")
                    state[name] = torch.from_numpy(np.array(arr, dtype=np.float32))
    except CheckpointError:
        raise
    except Exception as e:  # safetensors header/length errors: truncated or corrupt
        raise _fail(directory, f"model.safetensors is truncated or corrupt ({type(e).__name__}: {e})",
                    "Copy the file again or re-train the model") from e
    model.load_state_dict(state)
    return model.to(device).eval()


def _load_imported(directory: Path, cfg, device: str):
    """An imported Hugging Face classifier (core.model.families.HFMultiExit), validated the same way."""
    from core.model.hf_config import HFModelError
    from core.model.hf_load import load_dir

    try:
        return load_dir(directory, cfg, device, weights_format=FORMAT)
    except HFModelError as e:
        raise _fail(directory, e.what, e.todo) from e


def load_tokenizer(directory: str | os.PathLike):
    from tokenizers import Tokenizer

    path = Path(directory) / "tokenizer.json"
    if not path.is_file():
        raise _fail(Path(directory), "tokenizer.json is missing", "Save the tokenizer next to the weights")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:
        raise _fail(Path(directory), f"tokenizer.json is corrupt ({e})", "Copy it again from the training run") from e


def load_card(directory: str | os.PathLike) -> dict:
    path = Path(directory) / "card.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (ValueError, UnicodeDecodeError):
        return {}


def disk_bytes(directory: str | os.PathLike) -> int:
    return (Path(directory) / "model.safetensors").stat().st_size

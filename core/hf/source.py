"""What a Hugging Face source is and how it is read: its config (inspect_source), its weights and tokenizer through
transformers (load_source: safetensors only, never unpickled), the tokenizer's own contract, and a fingerprint of
its files (source_fingerprint) so that a folder overwritten with another model is imported again.

Offline (``EXITLENS_OFFLINE=1`` and the like, core.data.offline_reason) nothing asks a hub: a local folder is
read with ``local_files_only``, and a hub name is refused with what to do."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.model import HF_FORMAT, HFModelError, TokenizerContract, family, need_transformers

EXIT_MODES = ("own-head", "probe")
WEIGHT_GLOBS = ("*.safetensors", "*.safetensors.index.json")
PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


@dataclass(frozen=True)
class SourceInfo:
    """What a Hugging Face source is, read from its config (the app shows it before offering the import)."""
    src: str
    model_type: str
    has_classifier: bool        # a *ForSequenceClassification checkpoint (its head is the own head)
    num_labels: int | None      # the classifier's outputs (None for a bare encoder)
    label_names: list[str] | None
    n_layers: int
    hidden: int
    pooling: str                # what its family pools: "cls", or "mean" for a sentence-transformers encoder
    default_exits: str          # "own-head" for a classifier, "probe" for a bare encoder


def _config_json(path: Path) -> dict | None:
    try:
        raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return raw if isinstance(raw, dict) else None


def is_hf_model_dir(path) -> bool:
    """True for a local folder saved by transformers' ``save_pretrained`` (config.json with a model_type and
    a weights file) that is not already an ExitLens model directory."""
    p = Path(path).expanduser()
    raw = _config_json(p) if p.is_dir() else None
    if raw is None or "model_type" not in raw or raw.get("format") == HF_FORMAT:
        return False
    return any(any(p.glob(g)) for g in WEIGHT_GLOBS) or any((p / n).is_file() for n in PICKLED)


def _pooling(src: str, has_classifier: bool) -> str:
    """A classifier pools what its head reads ([CLS]); a sentence-transformers encoder says what it pools."""
    if has_classifier:
        return "cls"
    st = Path(src) / "1_Pooling" / "config.json"
    try:
        conf = json.loads(st.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "cls"
    return "mean" if conf.get("pooling_mode_mean_tokens") else "cls"


def inspect_source(src) -> SourceInfo:
    """Read a local folder's (or a hub name's, when online) config; HFModelError says what is wrong."""
    from transformers import AutoConfig

    need_transformers()
    local = Path(str(src)).expanduser()
    src = str(local) if local.exists() else str(src)
    if not local.exists() and hf_offline():
        raise HFModelError(f"{src} is not a local folder, and ExitLens is offline ({hf_offline()}): no hub is asked",
                           "Point at a folder written by `save_pretrained`, or go online for a hub name")
    try:
        with _no_hub():
            config = AutoConfig.from_pretrained(src, local_files_only=local.exists())
    except (OSError, ValueError) as e:
        raise HFModelError(f"{src} is not a Hugging Face model folder ({str(e).splitlines()[0]})",
                           "Point at a folder written by `save_pretrained` (config.json + model.safetensors), "
                           "or a hub name when online") from e
    fam = family(config.model_type)                            # supported families only
    has_clf = any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))
    labels = [str(config.id2label[i]) for i in range(config.num_labels)] if has_clf else None
    return SourceInfo(src, config.model_type, has_clf, config.num_labels if has_clf else None, labels,
                      int(config.num_hidden_layers), int(config.hidden_size),
                      "last" if fam.kind == "decoder" else
                      str(getattr(config, fam.pooling_key)) if fam.pooling_key and has_clf else _pooling(src, has_clf),
                      "own-head" if has_clf else "probe")


def _check_weights(src: str) -> None:
    p = Path(src)
    if not p.is_dir():
        return                                              # a hub name: transformers fetches safetensors
    if not any(any(p.glob(g)) for g in WEIGHT_GLOBS):
        pickled = [n for n in PICKLED if (p / n).is_file()]
        raise HFModelError(f"{src} has no safetensors weights" + (f", only {pickled}" if pickled else ""),
                           "ExitLens never unpickles weights (it runs arbitrary code): re-save the model with "
                           "`model.save_pretrained(dir)` (safetensors is the default) and import that folder")


def _check_loaded(src: str, loading: dict) -> None:
    """Refuse weights that leave the backbone randomly initialised (transformers only warns about it)."""
    missing = [k for k in loading.get("missing_keys", []) if "pooler" not in k and "classifier" not in k]
    bad = list(missing) + [str(k[0] if isinstance(k, tuple) else k) for k in loading.get("mismatched_keys", [])]
    if bad:
        raise HFModelError(f"the weights in {src} do not fit its config.json: {len(bad)} tensor(s) missing or "
                           f"of another shape (e.g. {bad[0]}); they would start random",
                           "Import the folder `save_pretrained` wrote for this very model")


def load_source(info: SourceInfo):
    """(the transformers model in eval mode, its fast tokenizer as a stateless ``tokenizers.Tokenizer``, the
    tokenizer's contract: pad id, padding side, special ids and whether it feeds token_type_ids)."""
    from tokenizers import Tokenizer
    from transformers import (
        AutoModel,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    _check_weights(info.src)
    cls = AutoModelForSequenceClassification if info.has_classifier else AutoModel
    local = {"local_files_only": Path(info.src).is_dir(), "use_safetensors": True, "output_loading_info": True}
    try:
        with _no_hub():
            try:
                hf, loading = cls.from_pretrained(info.src, attn_implementation="sdpa", **local)
            except ValueError as e:                         # DeBERTa, MPNet: no sdpa kernel, their own attention
                if "does not support" not in str(e):
                    raise
                hf, loading = cls.from_pretrained(info.src, attn_implementation="eager", **local)
            tok = AutoTokenizer.from_pretrained(info.src, local_files_only=local["local_files_only"])
    except (OSError, ValueError, RuntimeError) as e:    # transformers raises RuntimeError on shape mismatches
        raise HFModelError(f"cannot load {info.src} ({str(e).splitlines()[0]})",
                           "Check that the folder holds the model its config.json describes, and its "
                           "tokenizer files") from e
    _check_loaded(info.src, loading)
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise HFModelError(f"{info.src} has only a slow (Python) tokenizer",
                           "Save a fast tokenizer (tokenizer.json) next to the model: "
                           "`AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(dir)`")
    tokenizer = Tokenizer.from_str(backend.to_str())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return hf.eval(), tokenizer, tokenizer_contract(tok, hf.config)


def tokenizer_contract(tok, config) -> TokenizerContract:
    """The source tokenizer's own pad id (else the config's), padding side and special ids — never a token's name."""
    pad = tok.pad_token_id if tok.pad_token_id is not None else getattr(config, "pad_token_id", None)
    return TokenizerContract(int(pad or 0), str(getattr(tok, "padding_side", "right") or "right"),
                             tuple(int(i) for i in tok.all_special_ids), "token_type_ids" in tok.model_input_names)




def hf_offline() -> str | None:
    """Why no hub may be asked (core.data.offline_reason: EXITLENS_OFFLINE=1, HF_HUB_OFFLINE=1, …), or None."""
    from core.data import offline_reason

    return offline_reason()


@contextlib.contextmanager
def _no_hub():
    """While reading a source offline, transformers and huggingface_hub are told so too (HF_HUB_OFFLINE=1)."""
    if not hf_offline():
        yield
        return
    saved = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved


FINGERPRINTED = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def source_fingerprint(src) -> str:
    """sha256 of a local source's config, tokenizer files and every weights file's bytes (hex): a folder
    overwritten with another model — even one of the same shapes — gets another fingerprint."""
    p = Path(src).expanduser()
    h = hashlib.sha256()
    files = [p / n for n in FINGERPRINTED] + sorted(f for g in WEIGHT_GLOBS for f in p.glob(g))
    for f in files:
        if not f.is_file():
            continue
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()

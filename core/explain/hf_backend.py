"""Explaining imported models: the core.explain.salience backend of :class:`core.model.families.HFMultiExit`.

core.explain.salience reaches a model only through its ``backend`` singledispatch function; this module registers
HFMultiExit there (importing ``core.hf.cli`` does, which the app and the CLI do). It lives apart from the model
class because core.explain.salience records traces through core.inference, which loads checkpoints, which load
HFMultiExit: registering from core.model.families itself would close an import circle.

    word_embeddings(ids)                    the backbone's word table (what integrated gradients interpolate)
    exit_logits(e, mask, types, block)      HF embeddings from those rows (``inputs_embeds``), then the staged
                                            per-exit forward core.inference.early_exit also runs
    attention_maps(ids, mask, types)        softmax(q kᵀ·scaling + bias) from each block's own q/k projections
                                            (ALBERT: the first layer of the block's group); the model's
                                            attention kernel is never switched, so a shared model is untouched
"""
from __future__ import annotations

import torch

from core.explain.salience import Backend, backend, staged_exit_logits
from core.model import HFMultiExit

_ATTN = {"distilbert": ("attention", "q_lin", "k_lin"), "albert": ("attention", "query", "key")}


@backend.register
def _hf_backend(model: HFMultiExit) -> Backend:
    emb = model.backbone.embeddings
    return Backend(emb.word_embeddings, lambda e, mask, types, block: staged_exit_logits(
        model, _embed_rows(model, e, types), mask, block), lambda *a: _attention_maps(model, *a),
        min(128, model.cfg.max_len), model.cfg.pooling)


def _embed_rows(model: HFMultiExit, e: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
    """(R, T, E) word-table rows → (R, T, D): ``embed`` after its table lookup (HF's ``inputs_embeds``)."""
    emb = model.backbone.embeddings
    if model.cfg.family.token_types:
        h = emb(inputs_embeds=e, token_type_ids=types if model.cfg.token_types else torch.zeros_like(types))
    else:
        h = emb(None, inputs_embeds=e)
    return model.backbone.get_submodule(model._embed_proj)(h) if model._embed_proj is not None else h


def _attention_maps(model: HFMultiExit, ids, mask, types) -> torch.Tensor:
    """(L, B, H, T, T) softmax(q kᵀ·scaling + bias) of each block's (ALBERT: its first layer's) attention,
    from the layer's own q/k projections on the block input: the model's attention kernel is not switched."""
    path, q_name, k_name = _ATTN.get(model.cfg.model_type, ("attention.self", "query", "key"))
    h = model.embed(ids, types)
    bias = model.attention_bias(mask, h.dtype)
    maps = []
    for blk in model.blocks:
        layer = blk.layer.albert_layers[0] if model.cfg.model_type == "albert" else blk.layer
        att = layer.get_submodule(path)
        q, k = (getattr(att, name)(h).unflatten(-1, (-1, att.attention_head_size)).transpose(1, 2)
                for name in (q_name, k_name))                                          # (B, H, T, Dh)
        maps.append(torch.softmax(q @ k.transpose(-1, -2) * att.scaling + bias, dim=-1))
        h = blk(h, bias)
    return torch.stack(maps)

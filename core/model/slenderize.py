"""COST-EFF width slenderization of a trained multi-exit encoder (methods.md §3.3; sbwww/COST-EFF pruning.py).

Depth stays intact (every exit is kept); width shrinks:
  * heads — score of head h = Σ of the importance of the attention output projection's input columns that
    belong to h; keep the top ``n_heads`` per block (slicing Q, K, V rows and O columns);
  * FFN neurons — importance of the first linear's row + the second linear's column; keep the top ``ffn``
    (for an SLFN block the gate and candidate branches are scored and cut separately);
  * word embedding — truncated SVD  E (V×D) ≈ (U_r S_r) · V_rᵀ, stored as an r-wide table plus a D×r map.

Importance is first-order Taylor, |Σ_batches |∂L/∂W| ⊙ W|, with L including every exit's loss ("calibration by
exits"), or plain |W| when no data is given.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from core.model.encoder import MultiExitEncoder


def taylor_scores(model: MultiExitEncoder, batches: Iterable, loss_fn: Callable) -> dict[str, torch.Tensor]:
    """Accumulate |∂L/∂W| over ``batches`` (dropout off), then score = |acc ⊙ W| per weight."""
    model.eval()
    acc = {n: torch.zeros_like(p) for n, p in model.named_parameters() if p.ndim == 2}
    for batch in batches:
        model.zero_grad(set_to_none=True)
        loss_fn(model, batch).backward()
        for n, p in model.named_parameters():
            if n in acc and p.grad is not None:
                acc[n] += p.grad.abs()
    model.zero_grad(set_to_none=True)
    params = dict(model.named_parameters())
    return {n: (a * params[n].detach()).abs() for n, a in acc.items()}


def _score(scores: dict | None, name: str, weight: torch.Tensor) -> torch.Tensor:
    return scores[name] if scores is not None and name in scores else weight.detach().abs()


def _keep_top(values: torch.Tensor, k: int) -> torch.Tensor:
    return values.topk(k).indices.sort().values


@torch.no_grad()
def slenderize(model: MultiExitEncoder, n_heads: int | None = None, ffn: int | None = None,
               emb_rank: int | None = None, scores: dict | None = None) -> MultiExitEncoder:
    """A new, narrower model holding the most important heads, neurons and embedding directions."""
    c = model.cfg
    n_heads, ffn = n_heads or c.n_heads, ffn or c.ffn
    if not (1 <= n_heads <= c.n_heads and 1 <= ffn <= c.ffn):
        raise ValueError(f"slenderize can only shrink: heads 1..{c.n_heads}, ffn 1..{c.ffn}")
    if emb_rank is not None and not (1 <= emb_rank <= c.hidden):
        raise ValueError(f"embedding rank must be in 1..{c.hidden}")
    new = MultiExitEncoder(c.replace(n_heads=n_heads, ffn=ffn, emb_rank=emb_rank or c.emb_rank))
    src, dst = model.state_dict(), new.state_dict()
    done = set()

    def put(name, value):
        dst[name].copy_(value)
        done.add(name)

    for i, blk in enumerate(model.blocks):
        p = f"blocks.{i}."
        # heads: importance of the output projection's input columns, summed per head
        col = _score(scores, p + "attn.out.weight", blk.attn.out.weight).sum(0).view(c.n_heads, c.head_dim).sum(1)
        heads = _keep_top(col, n_heads)
        cols = (heads[:, None] * c.head_dim + torch.arange(c.head_dim)).reshape(-1)
        for lin in ("query", "key", "value"):
            put(p + f"attn.{lin}.weight", src[p + f"attn.{lin}.weight"][cols])
            put(p + f"attn.{lin}.bias", src[p + f"attn.{lin}.bias"][cols])
        put(p + "attn.out.weight", src[p + "attn.out.weight"][:, cols])
        put(p + "attn.out.bias", src[p + "attn.out.bias"])
        pairs = [("ffn_in", "ffn_out")] if c.block == "bert" else [("gate_in", "gate_out"), ("cand_in", "cand_out")]
        for a, b in pairs:
            s = (_score(scores, p + f"{a}.weight", src[p + f"{a}.weight"]).sum(1)
                 + _score(scores, p + f"{b}.weight", src[p + f"{b}.weight"]).sum(0))
            keep = _keep_top(s, ffn)
            put(p + f"{a}.weight", src[p + f"{a}.weight"][keep])
            put(p + f"{a}.bias", src[p + f"{a}.bias"][keep])
            put(p + f"{b}.weight", src[p + f"{b}.weight"][:, keep])
            put(p + f"{b}.bias", src[p + f"{b}.bias"])
    if emb_rank:
        e = src["embeddings.word.weight"]
        if "embeddings.word_proj.weight" in src:      # already factorized: E = E1 · E2ᵀ
            e = e @ src["embeddings.word_proj.weight"].T
        u, s, vh = torch.linalg.svd(e, full_matrices=False)
        put("embeddings.word.weight", u[:, :emb_rank] * s[:emb_rank])
        put("embeddings.word_proj.weight", vh[:emb_rank].T)
    for name, t in src.items():                       # everything else is unchanged in shape
        if name not in done and name in dst and dst[name].shape == t.shape:
            dst[name].copy_(t)
    new.load_state_dict(dst)
    return new.eval()


# shrinking a trained model for shipping (lossless for the texts it keeps covering; the CLI: core.train.shrink)

@torch.no_grad()
def truncate_positions(model: MultiExitEncoder, max_len: int) -> MultiExitEncoder:
    """Keep the first ``max_len`` rows of the position table: identical outputs for inputs of at most
    ``max_len`` tokens (core.inference truncates longer inputs to the model's max_len)."""
    if not 1 <= max_len <= model.cfg.max_len:
        raise ValueError(f"max_len must be in 1..{model.cfg.max_len}")
    new = MultiExitEncoder(model.cfg.replace(max_len=max_len))
    state = model.state_dict()
    state["embeddings.position.weight"] = state["embeddings.position.weight"][:max_len]
    new.load_state_dict(state)
    return new.train(model.training)

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

from core.model import MultiExitEncoder


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


# shrinking a trained model for shipping (lossless for the texts it keeps covering)

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


def _int8_change(model: MultiExitEncoder, tok, task: str) -> dict:
    """Dev metric per exit of the model as it is and after an int8 round trip of its matrices."""
    import numpy as np

    from core.checkpoint import quantize_rows
    from core.glue import get_task, load_task
    from core.metrics import per_exit_metric
    from core.runner import record

    ds = load_task(task, "validation")
    texts_b = list(ds["text_b"]) if "text_b" in ds.column_names else None
    meta = {"metric": get_task(task).metric}

    def per_exit(m):
        tr = record(m, tok, list(ds["text"]), texts_b, np.asarray(ds["label"]), max_len=128, meta=meta)
        return [float(v) for v in per_exit_metric(tr).value]

    before = per_exit(model)
    q = MultiExitEncoder(model.cfg)
    state = {k: (torch.from_numpy(np.float32(quantize_rows(v.numpy())[0]) * quantize_rows(v.numpy())[1][:, None])
                 if v.ndim == 2 else v) for k, v in model.state_dict().items()}
    q.load_state_dict(state)
    after = per_exit(q.eval())
    return {"dtype": "int8 (per-row scales) for matrices, float16 for vectors", "dev_per_exit_float": before,
            "dev_per_exit_int8": after, "largest_change": float(max(abs(x - y) for x, y in zip(before, after)))}


def main(argv=None) -> int:
    """python -m core.slenderize shrink <model dir> [--max-len 128] [--task sst2]: rewrite a shipped model
    with a shorter position table and, for a MiniLM vocabulary, only the word pieces the task uses."""
    import argparse

    from core import checkpoint
    from core.minilm import task_texts, task_token_ids, trim_vocab

    ap = argparse.ArgumentParser(prog="python -m core.slenderize")
    ap.add_argument("cmd", choices=["shrink"])
    ap.add_argument("model_dir")
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--task", default=None, help="re-trim the vocabulary to this task's files (+ probes)")
    ap.add_argument("--dtype", default="float16")
    a = ap.parse_args(argv)
    model, tok = checkpoint.load(a.model_dir), checkpoint.load_tokenizer(a.model_dir)
    card = checkpoint.load_card(a.model_dir)
    before = checkpoint.disk_bytes(a.model_dir)
    model = truncate_positions(model, min(a.max_len, model.cfg.max_len))
    if a.task:
        model, tok = trim_vocab(model, tok, task_token_ids(tok, task_texts(a.task), common=0))
    card.setdefault("post_processing", []).append(
        f"python -m core.slenderize shrink {a.model_dir} --max-len {a.max_len}"
        + (f" --task {a.task}" if a.task else "")
        + (f" --dtype {a.dtype}" if a.dtype != "float16" else ""))
    if a.dtype == "int8":                  # the card shows what int8 storage changes, measured on dev
        card["storage"] = _int8_change(model, tok, card.get("task", a.task or "sst2"))
    checkpoint.save(model, a.model_dir, tokenizer=tok, card=card, dtype=a.dtype)
    print(f"{a.model_dir}: {before / 2**20:.2f} MiB → {checkpoint.disk_bytes(a.model_dir) / 2**20:.2f} MiB "
          f"(max_len {model.cfg.max_len}, vocab {model.cfg.vocab_size})")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())

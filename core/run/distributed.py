"""Recording one Trace over several processes — CPU processes (gloo) or GPUs (NCCL) — started by torchrun.

    torchrun --nproc_per_node 4 -m core.inference record --model DIR --task qqp --split train --out STORE

How (``record_distributed``): every rank counts the tokens of its 1/W of the texts, the counts are gathered,
and every rank sorts the whole dataset by length exactly as a single process does (core.run.recorder.order_by_length)
and cuts the same batches. Rank r runs batches r, r + W, r + 2W, … — each batch holds the same sentences
with the same padding as in a single process, so its numbers are the same, and the longest batches are
spread over the ranks. Each rank writes its part of the store (core.trace.store) as its batches finish;
rank 0 joins the parts (checking every sample is there exactly once) with the costs of the whole dataset.
The merged store's Trace equals a single-process ``record`` sample for sample (tests/test_distributed_record.py).

On several machines the store folder must be one that every machine writes to and rank 0 reads (a shared file
system); torchrun's rendezvous (``--nnodes``, ``--rdzv-backend c10d``, ``--rdzv-endpoint HOST:PORT``) joins them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from core.run.recorder import finish_store, length_batches, order_by_length, place_model, record_part
from core.trace import StoreWriter, TraceStore


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) in a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def setup(device: str | None = "auto") -> tuple[int, int, str]:
    """Join torchrun's process group once (NCCL when this rank runs on a GPU, else gloo); (rank, world, the
    device name this rank runs on). A plain process returns (0, 1, device) and joins nothing."""
    rank, size = world()
    name = device or "auto"
    local = int(os.environ.get("LOCAL_RANK", 0))
    if name == "auto":
        name = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda" and size > 1:           # one GPU per process: this rank's own
        name = f"cuda:{local}"
    gpu = name.startswith("cuda") and torch.cuda.is_available()
    if size > 1 and not dist.is_initialized():
        if gpu:
            torch.cuda.set_device(torch.device(name))
        dist.init_process_group("nccl" if gpu else "gloo")
    return rank, size, name


def gather(obj, size: int) -> list:
    """Every rank's ``obj`` on every rank (a list of ``size``)."""
    out = [None] * size
    dist.all_gather_object(out, obj)
    return out


def global_lengths(tokenizer, texts, texts_b, max_len: int, rank: int, size: int) -> np.ndarray:
    """(N,) token counts of all samples: each rank tokenizes a contiguous 1/W of them, then they are gathered."""
    cut = np.linspace(0, len(texts), size + 1).astype(int)
    lo, hi = cut[rank], cut[rank + 1]
    mine = order_by_length(tokenizer, texts[lo:hi], None if texts_b is None else texts_b[lo:hi], max_len)[1]
    return np.concatenate(gather(mine, size)) if size > 1 else mine


def rank_batches(lens: np.ndarray, batch_size: int, rank: int, size: int) -> list[np.ndarray]:
    """This rank's batches: r, r + W, … of the single-process batches (longest first, ``batch_size`` each)."""
    order = np.argsort(-lens, kind="stable")                 # the order of core.run.recorder.order_by_length
    return [order[s:s + batch_size] for s in range(0, len(lens), batch_size)][rank::size]


@torch.no_grad()
def record_distributed(model, tokenizer, texts, texts_b=None, labels=None, *, out, batch_size: int = 64,
                       max_len: int = 128, meta: dict | None = None, device: str | None = "auto",
                       precision: str = "fp32", progress: bool = False) -> TraceStore | None:
    """``core.run.recorder.record_store`` over torchrun's ranks (see the module docstring): the store on rank 0,
    None on the others. In a plain process it is ``record_store`` on ``device``."""
    rank, size, name = setup(device)
    texts = list(texts)
    max_len = min(max_len, model.cfg.max_len)
    if texts_b is not None and len(texts_b) != len(texts):
        raise ValueError(f"{len(texts)} first sentences but {len(texts_b)} second sentences: a pair task needs both")
    model.eval()
    dev = place_model(model, name, precision)
    out = Path(out)
    if size == 1:
        batches, lens = length_batches(tokenizer, texts, texts_b, max_len, batch_size)
    else:
        lens = global_lengths(tokenizer, texts, texts_b, max_len, rank, size)
        batches = rank_batches(lens, batch_size, rank, size)
    part = record_part(model, tokenizer, texts, texts_b, labels, batches, StoreWriter(out, part=f"part-{rank:05d}"),
                       max_len=max_len, device=dev, precision=precision, progress=progress and rank == 0)
    parts = gather(part, size) if size > 1 else [part]
    store = finish_store(out, parts, model, lens, meta) if rank == 0 else None
    if size > 1:
        dist.barrier()                         # the store is whole before any rank goes on
    return store


def close() -> None:
    """Leave the process group (at the end of a torchrun command)."""
    if dist.is_initialized():
        dist.destroy_process_group()

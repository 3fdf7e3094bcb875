"""Train a multi-exit encoder on a GLUE task.

    python -m core.train --task sst2 --preset beex --out runs/beex-sst2
    python -m core.train --task sst2 --preset minilm --init minilm --head-lr-mult 10 --out runs/minilm-ee-sst2
    torchrun --nproc-per-node 2 -m core.train …        (DistributedDataParallel; gloo on CPU, nccl on GPU)

Exit losses (sum / depth-weighted / soft-routing), the DE³ prototype loss with distance-aware
regularization and BERxiT's learn-to-exit loss are in core.losses. AdamW with linear warm-up and decay,
batches padded to their longest sentence, a seed, tqdm progress, evaluation after every epoch, and resume
from the last finished epoch (``--resume``): the latent weights and the optimizer state are kept in
``<out>/train_state/`` as safetensors + JSON (never pickle). It uses a GPU when one is there.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from core import checkpoint
from core.config import ModelConfig, preset
from core.losses import EXIT_LOSSES, total_loss
from core.model import MultiExitEncoder


@dataclass
class TrainConfig:
    task: str = "sst2"
    preset: str = "beex"
    init: str = "scratch"                 # "scratch" (own WordPiece vocab) | "minilm" (pretrained backbone)
    out: str = "runs/model"
    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-4
    head_lr_mult: float = 1.0             # exit heads / prototypes / LTE learn this many times faster
    weight_decay: float = 0.01
    warmup: float = 0.06                  # share of all steps
    max_len: int = 64
    exit_loss: str = "sum"                # core.losses.EXIT_LOSSES
    proto_weight: float = 0.1
    dar_weight: float = 0.05
    lte_weight: float = 0.1
    binarize: tuple[str, ...] | None = None   # None = the preset's choice
    vocab_size: int = 8000                # WordPiece size for --init scratch
    limit: int | None = None              # first N training rows (quick runs, tests)
    eval_limit: int | None = None
    eval_split: str = "validation"
    seed: int = 0
    resume: bool = False
    max_steps: int | None = None          # stop after this many optimizer steps (tests)
    emb_rank: int = 0                     # COST-EFF: factorize the word embedding to this SVD rank (0 = keep)
    slim_heads: int = 0                   # COST-EFF: keep this many heads per block (0 = keep all)
    slim_ffn: int = 0                     # COST-EFF: keep this many FFN neurons per block (0 = keep all)
    trim_vocab: bool = False              # MiniLM: keep only the word pieces the task's files (+ probes) use
    save_dtype: str = "float32"           # storage of the non-binarized tensors: float32 | float16
    threads: int = 0                      # torch CPU threads; 0 = torch's default (all cores)
    overrides: dict = field(default_factory=dict)  # extra ModelConfig fields


# helpers

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def dist_info() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def param_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def load_rows(task: str, split: str, limit: int | None):
    from core.data import load_task

    ds = load_task(task, split, limit=limit)
    texts = list(ds["text"])
    texts_b = list(ds["text_b"]) if "text_b" in ds.column_names else None
    return texts, texts_b, np.asarray(ds["label"], dtype=np.int64)


def task_texts(task: str) -> list[str]:
    """Every sentence of every local split of ``task``, and the probe set (for vocabulary trimming)."""
    from core.data import available_splits, load_probes, load_task

    out = list(load_probes()["text"])
    for split in available_splits(task):
        ds = load_task(task, split)
        out += list(ds["text"]) + (list(ds["text_b"]) if "text_b" in ds.column_names else [])
    return out


def build(tc: TrainConfig, texts: list[str], n_classes: int):
    """The model and tokenizer a run starts from."""
    over = dict(tc.overrides, n_classes=n_classes)
    if tc.binarize is not None:
        over["binarize"] = tuple(tc.binarize)
    if tc.init == "minilm":
        from core.minilm import load_minilm
        from core.tokenizer import load_minilm_tokenizer

        model = load_minilm(preset("minilm", **over))
        if tc.emb_rank or tc.slim_heads or tc.slim_ffn:   # slenderize by weight magnitude before fine-tuning
            from core.slenderize import slenderize

            model = slenderize(model, tc.slim_heads or None, tc.slim_ffn or None, tc.emb_rank or None)
        tok = load_minilm_tokenizer()
        if tc.trim_vocab:
            from core.minilm import task_token_ids, trim_vocab

            model, tok = trim_vocab(model, tok, task_token_ids(tok, task_texts(tc.task)))
        return model, tok
    from core.tokenizer import train_wordpiece

    tok = train_wordpiece(texts, vocab_size=tc.vocab_size)
    over.setdefault("max_len", max(tc.max_len, 64))
    return MultiExitEncoder(preset(tc.preset, vocab_size=tok.get_vocab_size(), **over)), tok


def length_bucketed(order: np.ndarray, lengths: np.ndarray, batch_size: int, g, pool: int = 50) -> list:
    """Batches of similar length (less padding, a large speed-up on SST-2's short phrases): the shuffled
    order is cut into pools of ``pool`` batches, each pool is sorted by length and cut into batches, and
    the batches are shuffled again. Every sample still appears exactly once per epoch."""
    batches = []
    span = batch_size * pool
    for s in range(0, len(order), span):
        chunk = order[s:s + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in g.permutation(len(batches))]


def param_groups(model: MultiExitEncoder, tc: TrainConfig) -> list[dict]:
    head, body_decay, body_no = [], [], []
    for name, p in model.named_parameters():
        if name.startswith(("exits.", "protos.", "lte_head.")):
            head.append(p)
        elif p.ndim < 2 or "norm" in name:
            body_no.append(p)
        else:
            body_decay.append(p)
    return [{"params": body_decay, "lr": tc.lr, "weight_decay": tc.weight_decay},
            {"params": body_no, "lr": tc.lr, "weight_decay": 0.0},
            {"params": head, "lr": tc.lr * tc.head_lr_mult, "weight_decay": tc.weight_decay}]


def schedule(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then linear decay to 0 (BERT's schedule)."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


# train state (resume): safetensors + JSON, never pickle

def save_train_state(out: Path, model, opt, epoch: int, step: int, tc: TrainConfig) -> None:
    d = out / "train_state"
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "latent.safetensors.tmp"))
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v.contiguous() if torch.is_tensor(v) else torch.tensor(v)
               for i, st in sd["state"].items() for k, v in st.items()}
    save_file(tensors, str(d / "optim.safetensors.tmp"))
    groups = [{k: v for k, v in g.items() if k != "params"} | {"params": g["params"]} for g in sd["param_groups"]]
    (d / "state.json.tmp").write_text(json.dumps({"epoch": epoch, "step": step, "groups": groups,
                                                  "config": dataclasses.asdict(tc)}, default=list))
    for name in ("latent.safetensors", "optim.safetensors", "state.json"):
        os.replace(d / f"{name}.tmp", d / name)


def load_train_state(out: Path, model, opt) -> tuple[int, int]:
    d = out / "train_state"
    meta = json.loads((d / "state.json").read_text())
    model.load_state_dict(load_file(str(d / "latent.safetensors")))
    flat = load_file(str(d / "optim.safetensors"))
    state: dict = {}
    for key, v in flat.items():
        i, k = key.split(".", 1)
        state.setdefault(int(i), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["groups"]})
    return meta["epoch"], meta["step"]


# evaluation

@torch.no_grad()
def evaluate(model, tok, texts, texts_b, labels, tc: TrainConfig, meta: dict):
    from core.analysis import per_exit_metric
    from core.inference import record

    tr = record(model, tok, texts, texts_b, labels, batch_size=128, max_len=tc.max_len, meta=meta)
    return tr, per_exit_metric(tr).value


def train(tc: TrainConfig) -> Path:
    from tqdm.auto import tqdm

    from core.data import get_task

    rank, world = dist_info()
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    seed_everything(tc.seed)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    if tc.exit_loss not in EXIT_LOSSES:
        raise ValueError(f"--exit-loss must be one of {EXIT_LOSSES}")
    task = get_task(tc.task)
    texts, texts_b, labels = load_rows(tc.task, "train", tc.limit)
    dev = load_rows(tc.task, tc.eval_split, tc.eval_limit)
    model, tok = build(tc, texts, len(task.label_names))
    lengths = np.array([len(t) + (len(texts_b[i]) if texts_b is not None else 0) for i, t in enumerate(texts)])
    model.to(device)
    out = Path(tc.out)
    opt = torch.optim.AdamW(param_groups(model, tc), lr=tc.lr)
    base_lrs = [g["lr"] for g in opt.param_groups]
    steps_per_epoch = math.ceil((len(texts) // world) / tc.batch_size)
    total = steps_per_epoch * tc.epochs if tc.max_steps is None else min(tc.max_steps, steps_per_epoch * tc.epochs)
    start_epoch, step = 0, 0
    if tc.resume and (out / "train_state" / "state.json").is_file():
        start_epoch, step = load_train_state(out, model, opt)
        if rank == 0:
            print(f"resumed from {out} after epoch {start_epoch} (step {step})")
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    from core.tokenizer import encode_batch

    meta = {"task": tc.task, "split": tc.eval_split, "label_names": list(task.label_names),
            "metric": task.metric, "model": out.name}
    history = []
    for epoch in range(start_epoch, tc.epochs):
        ddp.train()
        g = np.random.default_rng(tc.seed + epoch)
        per_rank = len(texts) // world          # equal shares: every rank takes the same number of steps
        order = g.permutation(len(texts))[: per_rank * world][rank::world]
        batches = length_bucketed(order, lengths, tc.batch_size, g)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{tc.epochs}", disable=rank != 0, unit="batch")
        t0, seen = time.time(), 0
        for idx in bar:
            if step >= total:
                break
            enc = encode_batch(tok, [texts[i] for i in idx], None if texts_b is None else [texts_b[i] for i in idx],
                               max_len=tc.max_len)
            y = torch.as_tensor(labels[idx], device=device)
            outp = ddp(enc["input_ids"].to(device), enc["attention_mask"].to(device), enc["token_type_ids"].to(device))
            parts = total_loss(outp, y, tc.exit_loss, tc.proto_weight, tc.dar_weight, lte_weight=tc.lte_weight)
            opt.zero_grad(set_to_none=True)
            parts["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            f = schedule(step, total, int(tc.warmup * total))
            for grp, lr in zip(opt.param_groups, base_lrs):
                grp["lr"] = lr * f
            opt.step()
            step += 1
            seen += len(idx)
            bar.set_postfix(loss=f"{parts['total'].item():.3f}", exit=f"{parts['exit'].item():.3f}")
            history.append(float(parts["total"].item()))
        if rank == 0:
            tr, per_exit = evaluate(model, tok, *dev, tc, meta)
            print(f"epoch {epoch + 1}: {task.metric} per exit " + " ".join(f"{m:.4f}" for m in per_exit)
                  + f"  ({seen / max(time.time() - t0, 1e-9):.0f} samples/s)")
            card = {"task": tc.task, "train": {"rows": len(texts), "epochs": epoch + 1, "steps": step,
                                               "config": dataclasses.asdict(tc)},
                    "dev_per_exit": [float(m) for m in per_exit], "metric": task.metric,
                    "loss_history": history[-2000:]}
            checkpoint.save(model, out, tokenizer=tok, card=card, dtype=tc.save_dtype)
            save_train_state(out, model, opt, epoch + 1, step, tc)
        if step >= total:
            break
    if world > 1:
        torch.distributed.barrier()             # rank 0 has saved (and replaced) the directory by now
        (out / f"rank{rank}.digest").parent.mkdir(parents=True, exist_ok=True)
        (out / f"rank{rank}.digest").write_text(param_digest(model))
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return out


def parse_args(argv=None) -> TrainConfig:
    ap = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0])
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("overrides", "binarize", "resume"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(getattr(defaults, f.name), bool):
            ap.add_argument(flag, action="store_true")
            continue
        typ = {int: int, float: float, str: str}.get(type(getattr(defaults, f.name)), None)
        if f.name in ("limit", "eval_limit", "max_steps"):
            typ = int
        ap.add_argument(flag, type=typ, default=getattr(defaults, f.name))
    ap.add_argument("--binarize", default=None,
                    help="comma-separated parts to binarize (attention,ffn,embeddings,heads); 'none' for none")
    ap.add_argument("--resume", action="store_true", help="continue from the last finished epoch in --out")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a ModelConfig field, e.g. --set pooling=mean --set proto_dim=32")
    a = ap.parse_args(argv)
    over = {}
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    for kv in a.set:
        k, _, v = kv.partition("=")
        if k not in fields:
            ap.error(f"--set {k}: not a ModelConfig field ({', '.join(sorted(fields))})")
        try:
            over[k] = json.loads(v)
        except ValueError:
            over[k] = v          # a bare string such as pooling=mean
    tc = TrainConfig(**{f.name: getattr(a, f.name) for f in dataclasses.fields(TrainConfig)
                        if f.name not in ("overrides", "binarize")}, overrides=over)
    if a.binarize is not None:
        tc.binarize = () if a.binarize == "none" else tuple(p for p in a.binarize.split(",") if p)
    return tc


def main(argv=None) -> int:
    out = train(parse_args(argv))
    if dist_info()[0] == 0:
        print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

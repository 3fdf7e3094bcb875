"""Train a multi-exit encoder on a GLUE task.

    python -m core.train --task sst2 --preset beex --out runs/beex-sst2
    python -m core.train --task sst2 --preset minilm --init minilm --head-lr-mult 10 --out runs/minilm-ee-sst2
    python -m core.train --task sst2 --init runs/minilm-ee-sst2 --teacher runs/minilm-ee-sst2 --binarize …
    torchrun --nproc-per-node 2 -m core.train …        (DistributedDataParallel; gloo on CPU, nccl on GPU)

Exit losses (sum / depth-weighted / soft-routing), the DE³ prototype loss with distance-aware
regularization and BERxiT's learn-to-exit loss are in core.train.losses. AdamW with linear warm-up and decay,
batches padded to their longest sentence, a seed, tqdm progress, evaluation after every epoch, and resume
from the last saved step (``--resume``; ``--save-every N`` saves every N steps, and every epoch end saves):
the latent weights and the optimizer state are kept in ``<out>/train_state/`` (core.train.state). It uses a
GPU when one is there.

Honest data: by default the model trains on the *fit* split, the task's train split minus its calibration
split (core.data.splits), so that thresholds can be chosen on data the model never saw. ``--teacher DIR``
distils every exit from a teacher of the same depth (core.train.distill); ``--init DIR`` starts from a saved
model (e.g. a binarized student from its full-precision teacher); ``--proto-mode mean`` keeps the DE³
prototypes at their class means (core.train.prototypes).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.analysis import per_exit_metric
from core.data import columns, get_task, load_task, splits
from core.model import (
    MultiExitEncoder,
    checkpoint,
    encode_batch,
    load_minilm,
    load_minilm_tokenizer,
    preset,
    slenderize,
    task_texts,
    task_token_ids,
    train_wordpiece,
    trim_vocab,
)
from core.run import record
from core.train import prototypes
from core.train.losses import EXIT_LOSSES
from core.train.slim import slenderize_by_exits
from core.train.state import has_train_state, load_train_state, save_train_state
from core.train.step import StepLoss, load_teacher


@dataclass
class TrainConfig:
    task: str = "sst2"
    preset: str = "beex"
    init: str = "scratch"                 # "scratch" (own WordPiece vocab) | "minilm" (pretrained) | a model dir
    out: str = "runs/model"
    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-4
    head_lr_mult: float = 1.0             # exit heads / prototypes / LTE learn this many times faster
    weight_decay: float = 0.01
    warmup: float = 0.06                  # share of all steps
    max_len: int = 64
    exit_loss: str = "sum"                # core.train.losses.EXIT_LOSSES
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
    holdout: bool = True                  # train on train − calibration (core.data.splits); --no-holdout: all of train
    calib_seed: int = 0
    teacher: str = ""                     # distil every exit from this model directory (same depth, same vocab)
    kd_weight: float = 1.0                # per-exit KL to the teacher's exit at the same depth
    hidden_weight: float = 1.0            # MSE between block outputs
    kd_temperature: float = 1.0
    exit_weight: float = 1.0              # the label loss of the exits (0 = pure distillation)
    proto_mode: str = "learned"           # "learned" (DE³) | "mean" (prototypes kept at the class means)
    save_every: int = 0                   # also save the train state every N optimizer steps (0 = epoch ends)
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


def load_rows(task: str, split: str, limit: int | None, seed: int = 0):
    """(texts, texts_b, labels) of a split; "fit" = train − calibration, "calibration" = the held-out rows."""

    if split == "fit":
        ds = splits.load_fit(task, seed, limit=limit)
    elif split == "calibration":
        ds = splits.load_calibration(task, seed, limit=limit)
    else:
        ds = load_task(task, split, limit=limit)
    return columns(ds)


def build(tc: TrainConfig, texts: list[str], n_classes: int):
    """The model and tokenizer a run starts from."""
    over = dict(tc.overrides, n_classes=n_classes)
    if tc.binarize is not None:
        over["binarize"] = tuple(tc.binarize)
    if tc.init not in ("scratch", "minilm"):                  # a saved model directory
        base = checkpoint.load(tc.init)
        over.pop("n_classes")
        if base.cfg.n_classes != n_classes:
            raise ValueError(f"--init {tc.init} has {base.cfg.n_classes} classes, task {tc.task} has {n_classes}")
        model = MultiExitEncoder(base.cfg.replace(**over))
        model.load_state_dict(base.state_dict())
        tok = checkpoint.load_tokenizer(tc.init)
        if tc.emb_rank or tc.slim_heads or tc.slim_ffn:   # COST-EFF: prune by every exit's loss, then distil
            model = slenderize_by_exits(model, tok, tc, *load_rows(tc.task, "fit" if tc.holdout else "train",
                                                                    tc.limit, tc.calib_seed))
        return model, tok
    if tc.init == "minilm":

        model = load_minilm(preset("minilm", **over))
        if tc.emb_rank or tc.slim_heads or tc.slim_ffn:   # slenderize by weight magnitude before fine-tuning
            model = slenderize(model, tc.slim_heads or None, tc.slim_ffn or None, tc.emb_rank or None)
        tok = load_minilm_tokenizer()
        if tc.trim_vocab:
            model, tok = trim_vocab(model, tok, task_token_ids(tok, task_texts(tc.task)))
        return model, tok
    # from scratch: its own WordPiece vocabulary — or the teacher's, so that a distilled student reads the
    # very same word pieces as its teacher (per-exit KD compares their outputs on one input)
    tok = checkpoint.load_tokenizer(tc.teacher) if tc.teacher else train_wordpiece(texts, vocab_size=tc.vocab_size)
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


# evaluation

@torch.no_grad()
def evaluate(model, tok, texts, texts_b, labels, tc: TrainConfig, meta: dict):
    tr = record(model, tok, texts, texts_b, labels, batch_size=128, max_len=tc.max_len, meta=meta)
    return tr, per_exit_metric(tr).value


@dataclass
class _Run:
    """Everything one training run holds between its steps."""

    tc: TrainConfig
    task: object
    rows: tuple                     # (texts, texts_b, labels) of the fit split
    dev: tuple
    model: MultiExitEncoder
    tok: object
    opt: torch.optim.Optimizer
    ddp: torch.nn.Module
    step_fn: StepLoss
    device: torch.device
    out: Path
    total: int
    base_lrs: list
    rank: int = 0
    world: int = 1
    step: int = 0
    history: list = field(default_factory=list)

    @property
    def use_means(self) -> bool:
        return self.tc.proto_mode == "mean" and self.model.protos is not None


def _start(tc: TrainConfig) -> tuple[_Run, int, int]:
    """Distributed set-up, data, model, teacher, optimizer; resumed where a saved state says."""
    rank, world = dist_info()
    if world > 1:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    seed_everything(tc.seed)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    if tc.exit_loss not in EXIT_LOSSES:
        raise ValueError(f"--exit-loss must be one of {EXIT_LOSSES}")
    if tc.proto_mode not in ("learned", "mean"):
        raise ValueError("--proto-mode must be 'learned' or 'mean'")
    task = get_task(tc.task)
    rows = load_rows(tc.task, "fit" if tc.holdout else "train", tc.limit, tc.calib_seed)
    model, tok = build(tc, rows[0], len(task.label_names))
    model.to(device)
    teacher = load_teacher(tc, tok, device)
    if tc.proto_mode == "mean" and model.protos is not None:
        prototypes.freeze(model)
        prototypes.recenter(model, tok, *rows, limit=2048, seed=tc.seed, max_len=tc.max_len)
    opt = torch.optim.AdamW(param_groups(model, tc), lr=tc.lr)
    steps_per_epoch = math.ceil((len(rows[0]) // world) / tc.batch_size)
    total = steps_per_epoch * tc.epochs if tc.max_steps is None else min(tc.max_steps, steps_per_epoch * tc.epochs)
    run = _Run(tc, task, rows, load_rows(tc.task, tc.eval_split, tc.eval_limit), model, tok, opt,
               torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model,
               StepLoss(tc, model, teacher, device), device, Path(tc.out), total,
               [g["lr"] for g in opt.param_groups], rank, world)
    start_epoch = skip = 0
    if tc.resume and has_train_state(run.out):
        st = load_train_state(run.out, model, opt)
        start_epoch, skip, run.step, run.history = st["epoch"], st["batch"], st["step"], st["history"]
        if rank == 0:
            print(f"resumed from {run.out} at epoch {start_epoch + 1}, batch {skip} (step {run.step})")
    return run, start_epoch, skip


def _epoch(run: _Run, epoch: int, first: int) -> int:
    """One epoch from batch ``first`` on; returns the samples seen."""
    from tqdm.auto import tqdm

    tc, (texts, texts_b, labels) = run.tc, run.rows
    lengths = np.array([len(t) + (len(texts_b[i]) if texts_b is not None else 0) for i, t in enumerate(texts)])
    run.ddp.train()
    g = np.random.default_rng(tc.seed + epoch)
    per_rank = len(texts) // run.world          # equal shares: every rank takes the same number of steps
    order = g.permutation(len(texts))[: per_rank * run.world][run.rank::run.world]
    batches = length_bucketed(order, lengths, tc.batch_size, g)
    bar = tqdm(total=len(batches), desc=f"epoch {epoch + 1}/{tc.epochs}", disable=run.rank != 0, unit="batch",
               initial=first)
    seen = 0
    for bi in range(first, len(batches)):
        if run.step >= run.total:
            break
        idx = batches[bi]
        enc = encode_batch(run.tok, [texts[i] for i in idx], None if texts_b is None else [texts_b[i] for i in idx],
                           max_len=tc.max_len)
        parts = run.step_fn(run.ddp, enc, torch.as_tensor(labels[idx], device=run.device))
        run.opt.zero_grad(set_to_none=True)
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
        f = schedule(run.step, run.total, int(tc.warmup * run.total))
        for grp, lr in zip(run.opt.param_groups, run.base_lrs):
            grp["lr"] = lr * f
        run.opt.step()
        run.step_fn.after_update()
        run.step += 1
        seen += len(idx)
        bar.update(1)
        bar.set_postfix({k: f"{v.item():.3f}" for k, v in parts.items() if k in ("total", "exit", "kd", "hidden")})
        run.history.append(float(parts["total"].item()))
        if tc.save_every and run.step % tc.save_every == 0 and run.rank == 0:
            save_train_state(run.out, run.model, run.opt, epoch, run.step, tc, batch=bi + 1, history=run.history)
    bar.close()
    return seen


def _save_epoch(run: _Run, epoch: int, seen: int, seconds: float) -> None:
    """Prototypes to their class means, dev metric per exit, the model directory and the train state."""
    tc, task = run.tc, run.task
    if run.use_means:
        prototypes.recenter(run.model, run.tok, *run.rows, seed=tc.seed, max_len=tc.max_len)
    meta = {"task": tc.task, "split": tc.eval_split, "label_names": list(task.label_names),
            "metric": task.metric, "model": run.out.name}
    _, per_exit = evaluate(run.model, run.tok, *run.dev, tc, meta)
    print(f"epoch {epoch + 1}: {task.metric} per exit " + " ".join(f"{m:.4f}" for m in per_exit)
          + f"  ({seen / max(seconds, 1e-9):.0f} samples/s)")
    card = {"task": tc.task, "train": {"rows": len(run.rows[0]), "epochs": epoch + 1, "steps": run.step,
                                       "config": dataclasses.asdict(tc)},
            "dev_per_exit": [float(m) for m in per_exit], "metric": task.metric,
            "loss_history": run.history[-2000:]}
    checkpoint.save(run.model, run.out, tokenizer=run.tok, card=card, dtype=tc.save_dtype)
    save_train_state(run.out, run.model, run.opt, epoch + 1, run.step, tc, history=run.history)


def train(tc: TrainConfig) -> Path:
    run, start_epoch, skip = _start(tc)
    for epoch in range(start_epoch, tc.epochs):
        t0 = time.time()
        seen = _epoch(run, epoch, skip if epoch == start_epoch else 0)
        if run.rank == 0:
            _save_epoch(run, epoch, seen, time.time() - t0)
        if run.step >= run.total:
            break
    if run.world > 1:
        torch.distributed.barrier()             # rank 0 has saved (and replaced) the directory by now
        (run.out / f"rank{run.rank}.digest").parent.mkdir(parents=True, exist_ok=True)
        (run.out / f"rank{run.rank}.digest").write_text(param_digest(run.model))
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return run.out

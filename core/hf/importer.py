"""Import a Hugging Face classifier (or bare encoder) as an ExitLens multi-exit model directory.

    info = inspect_source("path/to/hf-folder")            # what it is: family, classifier or bare, labels
    res = import_model("path/to/hf-folder", "sst2", "assets/models/my-bert", exits="own-head",
                       progress=lambda stage, done, total: ...)
    core.model.checkpoint.load(res.out); core.model.checkpoint.load_tokenizer(res.out)

Steps (each reports ``progress(stage, done, total)``; stages "load", "record", "probes", "finetune", "save"):
  1. load the source through ``transformers`` (AutoConfig, AutoModelForSequenceClassification for a
     classifier, AutoModel for a bare encoder, AutoTokenizer; safetensors only — never unpickled) and wrap it
     as :class:`core.model.families.HFMultiExit`;
  2. record the pooled state of every layer on the task's *fit* split (core.data.splits: train − calibration)
     once, with the frozen backbone (``core.inference.record``: length-sorted batches);
  3. ``probe`` exits: one logistic-regression probe per layer (scikit-learn, on standardized features whose
     scaling is folded back into the linear head); the last exit stays the model's own head when it has
     one for this task's classes;
  4. optional ``finetune_epochs``: all trained heads together (summed cross-entropy over exits, DeeBERT's
     second stage with the backbone frozen) on the recorded states; with ``own-head`` this first gives every
     non-final layer its own copy of the model's head;
  5. prototypes = per exit, the class means of the pooled state on the same rows; save with
     ``core.model.checkpoint.save`` (safetensors + JSON) and a card that says how it was made.
"""
from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.hf.source import EXIT_MODES, SourceInfo, inspect_source, load_source, source_fingerprint
from core.model import (
    HFExitConfig,
    HFModelError,
    HFMultiExit,
    TokenizerContract,
    checkpoint,
    family,
    strip_pooler,
    wrapper,
)

Progress = Callable[[str, int, int], None]


@dataclass
class ImportResult:
    out: Path
    model: HFMultiExit
    tokenizer: object                 # tokenizers.Tokenizer
    fit_rows: int
    seconds: dict[str, float]         # per stage
    fit_accuracy: list[float]         # (L,) accuracy of each exit on the rows it was fitted on
    card: dict = field(default_factory=dict)


def exit_plan(info: SourceInfo, exits: str, n_classes: int, finetune: bool) -> tuple[list[str], bool]:
    """(per-exit head kinds, whether trained heads carry the own head's dense layer)."""
    if exits not in EXIT_MODES:
        raise HFModelError(f"exits must be one of {EXIT_MODES}, got {exits!r}", "Pick own-head or probe")
    own_fits = info.has_classifier and info.num_labels == n_classes
    n = info.n_layers
    if exits == "own-head":
        if not own_fits:
            what = ("it is a bare encoder without a classifier" if not info.has_classifier else
                    f"its classifier has {info.num_labels} outputs but the task has {n_classes} classes")
            raise HFModelError(f"cannot use the own head of {info.src}: {what}",
                               "Import with exits='probe' (--exits probe) to train one head per layer")
        return (["probe"] * (n - 1) + ["own"], True) if finetune else (["own"] * n, False)
    return ["probe"] * (n - 1) + ["own" if own_fits else "probe"], False


def wrap(hf, info: SourceInfo, exits: str, exit_heads: list[str], probe_dense: bool, n_classes: int,
         contract: TokenizerContract | None = None) -> HFMultiExit:
    """The transformers model as an HFMultiExit: own head copied from its classifier, probes zero (or, with
    ``probe_dense``, copies of the own head), no prototypes yet."""
    fam = family(info.model_type)
    own = [hf.get_submodule(fam.dense) if fam.dense else None, hf.get_submodule(fam.out)] \
        if info.has_classifier else None
    base = strip_pooler(hf.base_model)
    c = base.config
    hf_config = json.loads(c.to_json_string(use_diff=False))
    roberta_offset = (c.pad_token_id + 1) if fam.position_offset else 0
    emb = int(getattr(c, "embedding_size", 0) or 0)
    contract = contract or TokenizerContract(int(c.pad_token_id or 0))
    cfg = HFExitConfig(
        model_type=info.model_type, hf_config=hf_config, exit_heads=list(exit_heads), n_blocks=info.n_layers,
        n_classes=n_classes, hidden=info.hidden, ffn=int(getattr(c, fam.ffn_key, None) or 4 * info.hidden),
        max_len=int(c.max_position_embeddings) - roberta_offset, vocab_size=int(c.vocab_size),
        exits=exits,
        probe_dense=probe_dense, layers_per_block=int(getattr(c, "inner_group_num", 1) or 1),
        emb_size=emb if emb and emb != info.hidden else 0, pooling=info.pooling,
        pad_id=contract.pad_id, padding_side=contract.padding_side, special_ids=list(contract.special_ids),
        token_types=contract.token_types and int(getattr(c, "type_vocab_size", 1)) > 1,
        source=info.src)
    model = wrapper(cfg, base).eval()
    with torch.no_grad():
        if own is not None and model.own_head is not None:
            if own[0] is not None:
                _copy_linear(model.own_head.dense, own[0])
            if fam.head_norm:
                model.own_head.norm.load_state_dict(hf.get_submodule(fam.head_norm).state_dict())
            _copy_linear(model.own_head.out, own[1])
        for kind, head in zip(cfg.exit_heads, model.probes):
            if kind != "probe":
                continue
            if probe_dense:
                head.load_state_dict(model.own_head.state_dict())
            else:
                head.out.weight.zero_()
                head.out.bias.zero_()
    return model


def _copy_linear(dst: torch.nn.Linear, src: torch.nn.Linear) -> None:
    """A head layer's weights; a bias-free source (a decoder's score, ModernBERT's dense) gets a zero bias."""
    dst.weight.copy_(src.weight)
    dst.bias.copy_(src.bias if src.bias is not None else torch.zeros_like(dst.bias))


# fitting the heads on recorded states

def fit_linear_probes(pooled: np.ndarray, labels: np.ndarray, exits: list[int], n_classes: int,
                      C: float = 1.0, seed: int = 0, progress: Progress | None = None) -> dict[int, tuple]:
    """Per exit in ``exits``: a logistic-regression probe on (N, D) pooled states → (W (K, D), b (K,)).

    Features are standardized for the solver and the scaling folded back: W = A / σ, b = a − (A / σ)·μ. A
    binary scikit-learn model has one row z; the head gets (−z/2, +z/2), which gives the same softmax."""
    from sklearn.linear_model import LogisticRegression

    out = {}
    for done, i in enumerate(exits):
        x = pooled[:, i].astype(np.float64)                             # (N, D)
        mu, sd = x.mean(0), x.std(0) + 1e-6
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit((x - mu) / sd, labels)
        a, b0 = clf.coef_, clf.intercept_                               # (1 or K, D), (1 or K,)
        if a.shape[0] == 1:
            a, b0 = np.vstack([-a / 2, a / 2]), np.array([-b0[0] / 2, b0[0] / 2])
        full_w, full_b = np.zeros((n_classes, x.shape[1])), np.full(n_classes, -1e4)
        full_w[clf.classes_], full_b[clf.classes_] = a / sd, b0 - (a / sd) @ mu   # classes absent from the rows
        out[i] = (full_w.astype(np.float32), full_b.astype(np.float32))        # never win
        if progress:
            progress("probes", done + 1, len(exits))
    return out


def finetune_heads(model: HFMultiExit, pooled: np.ndarray, labels: np.ndarray, epochs: int, lr: float = 1e-3,
                   batch_size: int = 256, seed: int = 0, progress: Progress | None = None) -> None:
    """All "probe" heads together, summed cross-entropy over exits, on the recorded (N, L, D) states."""
    which = [i for i, k in enumerate(model.cfg.exit_heads) if k == "probe"]
    params = [p for i in which for p in model.probes[i].parameters()]
    if not which or epochs <= 0:
        return
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    x_all, y_all = torch.from_numpy(pooled[:, which].astype(np.float32)), torch.as_tensor(labels)  # (N, E, D)
    for epoch in range(epochs):
        for idx in torch.randperm(len(y_all), generator=g).split(batch_size):
            loss = sum(torch.nn.functional.cross_entropy(model.probes[i](x_all[idx, j]), y_all[idx])
                       for j, i in enumerate(which))
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress:
            progress("finetune", epoch + 1, epochs)
    model.eval()


def class_means(pooled: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, L, D), (N,) → (L, K, D) per-exit class means (float64 sums); a class without rows is an error."""
    counts = np.bincount(labels, minlength=n_classes)
    if (counts == 0).any():
        raise HFModelError(f"the fit rows hold no sample of class(es) {np.flatnonzero(counts == 0).tolist()}",
                           "Import with more rows (a larger --limit, or none)")
    onehot = np.eye(n_classes)[labels]                                      # (N, K)
    return np.einsum("nk,nld->lkd", onehot, pooled.astype(np.float64)) / counts[None, :, None]


def _fit_rows(task: str, limit: int | None, seed: int, rows=None):
    """(texts, texts_b or None, labels) the heads are fitted on: ``rows`` when given, else the task's fit split;
    a seeded random subset of ``limit`` of them."""
    from core.data import columns, load_fit

    def subset(n: int) -> np.ndarray | None:
        if limit is None or limit >= n:
            return None
        return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))

    if rows is None:
        ds = load_fit(task)
        keep = subset(len(ds))
        return columns(ds if keep is None else ds.select(keep))   # only the kept rows are read
    texts, texts_b, labels = list(rows[0]), None if rows[1] is None else list(rows[1]), np.asarray(rows[2], np.int64)
    keep = subset(len(texts))
    if keep is None:
        return texts, texts_b, labels
    return [texts[i] for i in keep], None if texts_b is None else [texts_b[i] for i in keep], labels[keep]


def import_model(src, task: str, out, exits: str = "own-head", *, limit: int | None = None,
                 finetune_epochs: int = 0, C: float = 1.0, batch_size: int = 64, max_len: int = 128,
                 seed: int = 0, progress: Progress | None = None, rows=None,
                 rows_name: str | None = None) -> ImportResult:
    """Import ``src`` (a local HF folder, or a hub name when online) for ``task`` into the directory ``out``.

    ``limit`` fits heads and prototypes on a seeded random subset of that many fit rows (None = all); ``rows``
    = (texts, texts_b or None, labels) fits them on those rows (an uploaded CSV) instead of the task's fit split."""
    from core.data import get_task
    from core.run import record

    if limit is not None and limit < 2:
        raise HFModelError(f"limit must be at least 2 fit rows, got {limit}", "Pass a larger --limit, or none")
    t0, seconds, report = time.perf_counter(), {}, progress or (lambda *a: None)
    torch.manual_seed(seed)
    info = inspect_source(src)
    t = get_task(task)
    n_classes = t.num_labels
    exit_heads, dense = exit_plan(info, exits, n_classes, finetune_epochs > 0)
    report("load", 0, 1)
    hf, tokenizer, contract = load_source(info)
    model = wrap(hf, info, exits, exit_heads, dense, n_classes, contract)
    report("load", 1, 1)
    seconds["load"] = time.perf_counter() - t0
    texts, texts_b, labels = _fit_rows(task, limit, seed, rows)
    t1 = time.perf_counter()
    tr = record(model, tokenizer, texts, texts_b, labels, batch_size=batch_size, max_len=max_len,
                callback=lambda done, total: report("record", done, total))
    pooled = tr.pooled                                                     # (N, L, D) float16
    seconds["record"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    linear = [i for i, k in enumerate(exit_heads) if k == "probe"] if not dense else []
    with torch.no_grad():
        for i, (w, b) in fit_linear_probes(pooled, labels, linear, n_classes, C, seed, report).items():
            model.probes[i].out.weight.copy_(torch.from_numpy(w))
            model.probes[i].out.bias.copy_(torch.from_numpy(b))
    finetune_heads(model, pooled, labels, finetune_epochs, seed=seed, progress=report)
    seconds["heads"] = time.perf_counter() - t2
    model.cfg.proto_dim = model.cfg.hidden
    model.protos = torch.nn.ModuleList(_means_modules(class_means(pooled, labels, n_classes)))
    with torch.no_grad():
        logits = torch.stack([model.head(i)(torch.from_numpy(pooled[:, i].astype(np.float32)))
                              for i in range(model.cfg.n_blocks)], 1)      # (N, L, K)
    fit_acc = (logits.argmax(-1).numpy() == labels[:, None]).mean(0).tolist()
    card = _card(info, task, exits, limit, finetune_epochs, C, seed, len(labels), seconds, fit_acc, out)
    card["source_fingerprint"] = source_fingerprint(info.src) if Path(info.src).is_dir() else None
    if rows is not None:
        card["import"]["fit_split"] = f"the rows of {rows_name}" if rows_name else "the rows given (an uploaded CSV)"
        card["reproduce"] += f" --csv {shlex.quote(rows_name or 'YOUR.csv')}"
    report("save", 0, 1)
    path = checkpoint.save(model, out, tokenizer=tokenizer, card=card)
    report("save", 1, 1)
    seconds["total"] = time.perf_counter() - t0
    return ImportResult(path, model, tokenizer, len(labels), seconds, fit_acc, card)


def _means_modules(means: np.ndarray):
    from core.model import ClassMeans

    for m in means:                                                        # (K, D) per exit
        mod = ClassMeans(*m.shape)
        mod.prototypes.copy_(torch.from_numpy(m.astype(np.float32)))
        yield mod


def _card(info, task, exits, limit, finetune_epochs, C, seed, rows, seconds, fit_acc, out) -> dict:
    import transformers

    cmd = ["python", "-m", "core.hf", "import", info.src, "--task", task, "--out", str(out), "--exits", exits]
    for flag, value, default in (("--limit", limit, None), ("--finetune", finetune_epochs, 0), ("--C", C, 1.0),
                                 ("--seed", seed, 0)):
        if value != default:
            cmd += [flag, str(value)]
    return {"task": task, "source": info.src, "model_type": info.model_type, "exits": exits,
            "source_labels": info.label_names,
            "import": {"fit_split": "fit (core.data.splits: train − calibration)", "fit_rows": rows, "limit": limit,
                       "finetune_epochs": finetune_epochs, "C": C, "seed": seed, "pooling": info.pooling,
                       "prototypes": "class means of the unprojected pooled state per exit",
                       "fit_accuracy_per_exit": fit_acc, "seconds": {k: round(v, 2) for k, v in seconds.items()},
                       "transformers": transformers.__version__},
            "reproduce": " ".join(shlex.quote(a) for a in cmd)}

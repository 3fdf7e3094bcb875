"""Shrink a trained model for shipping: a shorter position table, only the word pieces its task uses, and
float16 or int8 storage (with the dev metric per exit before and after int8, measured into the card).

    python -m core.train.shrink assets/models/minilm-ee-sst2 --max-len 128 --task sst2 --dtype int8
"""
from __future__ import annotations

import torch

from core.model import MultiExitEncoder, truncate_positions


def _int8_change(model: MultiExitEncoder, tok, task: str) -> dict:
    """Dev metric per exit of the model as it is and after an int8 round trip of its matrices."""
    import numpy as np

    from core.analysis import per_exit_metric
    from core.data import columns, get_task, load_task
    from core.model import quantize_rows
    from core.run import record

    texts, texts_b, labels = columns(load_task(task, "validation"))
    meta = {"metric": get_task(task).metric}

    def per_exit(m):
        tr = record(m, tok, texts, texts_b, labels, max_len=128, meta=meta)
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
    """python -m core.train.shrink <model dir> [--max-len 128] [--task sst2]: rewrite a shipped model
    with a shorter position table and, for a MiniLM vocabulary, only the word pieces the task uses."""
    import argparse

    from core.model import checkpoint, task_texts, task_token_ids, trim_vocab

    ap = argparse.ArgumentParser(prog="python -m core.train.shrink")
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
        f"python -m core.train.shrink {a.model_dir} --max-len {a.max_len}"
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

    from core.util import run

    sys.exit(run("python -m core.train.shrink", main))

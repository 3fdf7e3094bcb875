"""Every imported family (issue 19), on its tiny random model (tests/conftest.py builders, no download), side by side:

    PYTHONPATH=. .venv/bin/python bench/bench_families.py [--families llama,gpt2] [--n 48] [--repeats 3]

  * import time of the tiny model (own-head exits, 64 fit rows of SST-2 / MRPC);
  * last-exit parity: max |Δ logits| against the model's own transformers forward on a padded batch of mixed lengths
    (decoders: right and left padding; encoders: single sentences and pairs);
  * early-exit parity: real early exit (batch 1 and 8) == the simulated exit, sample for sample (maxprob at the
    40 % quantile of block 1's confidence);
  * wall-clock at batch 1: full depth (a policy that never fires) vs real early exit, medians of ``--repeats``,
    interleaved. These models are 3 layers × 32 wide: per-block time is mostly Python and kernel launch overhead,
    so the ratio says whether skipping blocks pays at all, not what it pays on a real model.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data import load_task  # noqa: E402
from core.hf import import_model  # noqa: E402
from core.model import checkpoint  # noqa: E402
from core.policies import decide, make_policy  # noqa: E402
from core.run import early_exit, record  # noqa: E402
from tests.conftest import (  # noqa: E402
    DECODERS,
    REL_ENCODERS,
    build_decoder_source,
    build_rel_encoder_source,
    build_source,
)

ENCODERS = ("bert", "distilbert", "roberta", "electra", "albert")


def _reference(src, a, b, contract):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    ref = AutoModelForSequenceClassification.from_pretrained(src).eval()
    tok = AutoTokenizer.from_pretrained(src)
    tok.padding_side = contract.padding_side
    enc = tok(a, b, padding=True, truncation=True, max_length=64, return_tensors="pt")
    fed = {k: v for k, v in enc.items() if k != "token_type_ids" or contract.token_types}
    with torch.no_grad():
        return ref(**fed).logits.numpy()


def family_row(kind: str, root: Path, n: int, repeats: int) -> dict:
    sst = list(load_task("sst2", "train", limit=300)["text"])
    decoder = kind in DECODERS
    src = root / kind / "src"
    if decoder:
        build_decoder_source(kind, src, sst, "right" if kind == "gpt2" else "left")
    elif kind in REL_ENCODERS:
        build_rel_encoder_source(kind, src, sst)
    else:
        build_source(kind, src, sst)
    t0 = time.perf_counter()
    res = import_model(src, "sst2", root / kind / "out", limit=64, max_len=64)
    seconds = time.perf_counter() - t0
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    ds = load_task("mrpc", "validation", limit=24)
    a = list(ds["text"])
    b = [" ".join(t.split()[: 3 + i % 9]) for i, t in enumerate(ds["text_b"])]
    deltas = []
    for side, second in ((("right", None), ("left", None)) if decoder else (("right", None), ("right", b))):
        model.cfg.padding_side = side
        want = _reference(src, a, second, model.contract)
        deltas.append(float(np.abs(record(model, tok, a, second, max_len=64).logits[:, -1] - want).max()))
    model.cfg.padding_side = res.model.cfg.padding_side
    dev = load_task("sst2", "validation", limit=n)
    texts = list(dev["text"])
    tr = record(model, tok, texts, max_len=64)
    conf = np.sort(tr.probs[:, 0].max(-1))
    pol = make_policy("maxprob", threshold=float((conf[int(0.4 * n) - 1] + conf[int(0.4 * n)]) / 2))
    sim = decide(pol, tr)
    parity = all(np.array_equal(early_exit(model, tok, pol, texts, batch_size=bs, max_len=64).exit_block,
                                sim.exit_block) for bs in (1, 8))
    never = make_policy("maxprob", threshold=1.0)
    full, early = [], []
    for _ in range(repeats):
        full.append(early_exit(model, tok, never, texts, batch_size=1, max_len=64).seconds)
        early.append(early_exit(model, tok, pol, texts, batch_size=1, max_len=64).seconds)
    return {"family": kind, "delta": max(deltas), "parity": parity, "import_s": seconds,
            "mean_exit": float(sim.exit_block.mean() + 1), "full_s": float(np.median(full)),
            "early_s": float(np.median(early))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default=",".join(ENCODERS + REL_ENCODERS + DECODERS))
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    print("| family | last-exit max abs Δ logits | early exit = simulated (batch 1, 8) | import (s) | mean exit "
          "block of 3 | batch-1 full / early (s) | early exit saves wall-clock |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in a.families.split(","):
            r = family_row(kind, Path(tmp), a.n, a.repeats)
            print(f"| {r['family']} | {r['delta']:.1e} | {'yes' if r['parity'] else 'NO'} | {r['import_s']:.1f} | "
                  f"{r['mean_exit']:.2f} | {r['full_s']:.3f} / {r['early_s']:.3f} | "
                  f"{'yes' if r['early_s'] < r['full_s'] else 'no'} ({r['full_s'] / r['early_s']:.2f}×) |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

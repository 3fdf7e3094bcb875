"""COST-EFF's slenderization of a trained model before its distillation (``python -m core.train --init DIR
--slim-heads H --slim-ffn F --emb-rank R``): importance by every exit's loss on fit batches, then the
narrower model (core.model.slenderize)."""
from __future__ import annotations

import numpy as np
import torch

from core.model import MultiExitEncoder, encode_batch, slenderize, taylor_scores
from core.train.losses import exit_loss


def slenderize_by_exits(model: MultiExitEncoder, tok, tc, texts: list[str], texts_b, labels,
                        n_batches: int = 64) -> MultiExitEncoder:
    """COST-EFF's "calibration by exits": first-order Taylor importance with the sum of every exit's label
    loss, accumulated over ``n_batches`` fit batches, then the narrower model (core.model.slenderize)."""
    g = np.random.default_rng(tc.seed)
    order = g.permutation(len(texts))[: n_batches * tc.batch_size]
    batches = [order[i:i + tc.batch_size] for i in range(0, len(order), tc.batch_size)]

    def enc(idx):
        e = encode_batch(tok, [texts[i] for i in idx], None if texts_b is None else [texts_b[i] for i in idx],
                         max_len=tc.max_len)
        return e, torch.as_tensor(labels[idx])

    def loss_fn(m, batch):
        e, y = batch
        out = m(e["input_ids"], e["attention_mask"], e["token_type_ids"])
        return exit_loss(out.logits, y, "sum")

    scores = taylor_scores(model, (enc(idx) for idx in batches), loss_fn)
    return slenderize(model, tc.slim_heads or None, tc.slim_ffn or None, tc.emb_rank or None, scores=scores)

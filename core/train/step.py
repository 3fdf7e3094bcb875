"""One training step's loss: the exits' label loss (+ DE³ prototypes, BERxiT LTE), and, when distilling,
every exit's KL to the teacher's exit at the same depth plus the hidden-state MSE (core.train.distill)."""
from __future__ import annotations

import torch

from core.model import checkpoint
from core.train import prototypes
from core.train.distill import exit_kd_loss, hidden_mse_loss
from core.train.losses import total_loss


class StepLoss:
    """One optimizer step's losses: labels (+ prototypes, LTE), and the teacher's exits when distilling."""

    def __init__(self, tc, model, teacher, device):   # tc: core.train.loop.TrainConfig
        self.tc, self.model, self.teacher, self.device = tc, model, teacher, device
        self.hidden = teacher is not None and tc.hidden_weight > 0
        if teacher is not None:
            t, m = teacher.cfg, model.cfg
            if t.n_blocks != m.n_blocks or t.n_classes != m.n_classes:
                raise ValueError(f"--teacher has {t.n_blocks} blocks × {t.n_classes} classes, the student "
                                 f"{m.n_blocks} × {m.n_classes}: exit-by-exit distillation needs the same of both")
            if self.hidden and t.hidden != m.hidden:
                raise ValueError(f"--teacher is {t.hidden} wide, the student {m.hidden}: the hidden-state MSE needs "
                                 "the same width (use --hidden-weight 0 to distil the exits only)")

    def __call__(self, ddp, enc, y) -> dict:
        tc = self.tc
        ids, mask, types = (enc[k].to(self.device) for k in ("input_ids", "attention_mask", "token_type_ids"))
        outp = ddp(ids, mask, types, return_hidden=self.hidden)
        parts = total_loss(outp, y, tc.exit_loss, tc.proto_weight, tc.dar_weight, lte_weight=tc.lte_weight,
                           exit_weight=tc.exit_weight)
        if self.teacher is not None:
            with torch.no_grad():
                t_out = self.teacher(ids, mask, types, return_hidden=self.hidden)
            parts["kd"] = tc.kd_weight * exit_kd_loss(outp.logits, t_out.logits, tc.kd_temperature)
            parts["total"] = parts["total"] + parts["kd"]
            if self.hidden:
                parts["hidden"] = tc.hidden_weight * hidden_mse_loss(outp.hidden, t_out.hidden, mask)
                parts["total"] = parts["total"] + parts["hidden"]
        self.last = (outp.proto_emb, y)
        return parts

    def after_update(self) -> None:
        """Prototypes kept at the class means follow this batch (after the optimizer step)."""
        emb, y = self.last
        if self.tc.proto_mode == "mean" and emb is not None:
            prototypes.ema_update(self.model, emb.detach(), y)


def load_teacher(tc, tok, device):
    if not tc.teacher:
        return None
    teacher = checkpoint.load(tc.teacher, device=str(device)).eval()
    if checkpoint.load_tokenizer(tc.teacher).get_vocab() != tok.get_vocab():
        raise ValueError(f"--teacher {tc.teacher} has another vocabulary than the student: start the student "
                         f"from the teacher (--init {tc.teacher}) so that both read the same word pieces")
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher

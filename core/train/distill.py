"""Knowledge distillation of a multi-exit student from a multi-exit teacher of the same depth.

The standard recipe of binarized BERTs (BinaryBERT, BiBERT, BiT: a full-precision teacher, a binarized
student that starts from the teacher's weights), applied exit by exit:

    kd      (1/L) Σ_i T² · KL( softmax(z^t_i / T) ‖ softmax(z^s_i / T) )      every exit to the teacher's
                                                                              exit at the same depth
    hidden  (1/L) Σ_i MSE(h^s_i, h^t_i) over the real (unpadded) tokens       block outputs, same width

then a short fine-tune on labels (``python -m core.train --init DIR`` without a teacher).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def exit_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """(B, L, K) student and teacher logits → the mean over exits of T²·KL(teacher ‖ student)."""
    t = temperature
    b, n_blocks, k = student_logits.shape
    log_s = F.log_softmax(student_logits.reshape(-1, k) / t, -1)
    log_t = F.log_softmax(teacher_logits.reshape(-1, k).detach() / t, -1)
    return F.kl_div(log_s, log_t, log_target=True, reduction="batchmean") * t * t


def hidden_mse_loss(student_hidden: list[torch.Tensor], teacher_hidden: list[torch.Tensor],
                    attention_mask: torch.Tensor) -> torch.Tensor:
    """L × (B, T, D) block outputs → mean over blocks of the MSE on the real tokens."""
    if len(student_hidden) != len(teacher_hidden):
        raise ValueError(f"student has {len(student_hidden)} blocks, teacher {len(teacher_hidden)}: "
                         "exit-by-exit distillation needs the same depth")
    m = attention_mask.to(student_hidden[0].dtype).unsqueeze(-1)          # (B, T, 1)
    n = m.sum() * student_hidden[0].shape[-1]
    total = sum(((s - t.detach()).pow(2) * m).sum() / n for s, t in zip(student_hidden, teacher_hidden))
    return total / len(student_hidden)

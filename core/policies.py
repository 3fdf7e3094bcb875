"""Exit policies as pure, vectorized functions of a Trace (methods.md §5).

The contract every policy keeps — the model's real early-exit inference (core.inference) calls the
very same objects, so simulated and real exits agree sample for sample:

* ``policy.fires(trace) -> (N, l) bool`` says, for every sample and every block recorded so far, whether
  the policy's own exit condition holds there. It must be **causal**: column i may read blocks ≤ i only
  (``trace`` may hold just the first l < L blocks during real inference). No Python loop over samples.
* ``policy.min_block`` (0-based) is the first block allowed to exit.
* ``policy.fallback(trace) -> (N,)`` the block whose prediction answers when nothing fired before the
  last block; the default is the last block (SDN's option: the most confident exit).
* ``decide(policy, trace) -> Exits`` applies min_block, forces an exit at the last block, and returns
  per sample the exit block (blocks computed = exit_block + 1) and the answering block.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.trace import Trace


@dataclass(frozen=True)
class Exits:
    exit_block: np.ndarray    # (N,) int64, 0-based: the last block computed
    answer_block: np.ndarray  # (N,) int64, the block whose exit head answers (== exit_block except SDN fallback)
    pred: np.ndarray          # (N,) int64, predicted class


def _per_block(threshold, n_blocks: int) -> np.ndarray:
    """A scalar or a per-block vector of thresholds → (n_blocks,) float array (the first n_blocks used)."""
    t = np.asarray(threshold, dtype=np.float64)
    return np.broadcast_to(t, (n_blocks,)) if t.ndim == 0 else t[:n_blocks]


class Policy:
    """Base class. Subclasses set ``name`` and implement ``fires``."""

    name = "policy"

    def __init__(self, min_block: int = 0):
        self.min_block = int(min_block)

    def fires(self, trace: Trace) -> np.ndarray:  # (N, l) bool
        raise NotImplementedError

    def fallback(self, trace: Trace) -> np.ndarray:  # (N,)
        return np.full(trace.n, trace.n_blocks - 1, dtype=np.int64)


def decide(policy: Policy, trace: Trace) -> Exits:
    n, n_blocks = trace.n, trace.n_blocks
    fired = np.asarray(policy.fires(trace), dtype=bool).copy()     # (N, L)
    fired[:, : policy.min_block] = False
    fired[:, n_blocks - 1] = True                                    # the last block always answers
    exit_block = fired.argmax(axis=1).astype(np.int64)
    answer = exit_block.copy()
    none_fired = ~np.asarray(policy.fires(trace), dtype=bool)[:, policy.min_block:].any(axis=1) \
        if policy.min_block < n_blocks else np.ones(n, dtype=bool)
    if none_fired.any():
        answer[none_fired] = policy.fallback(trace)[none_fired]
    pred = trace.preds[np.arange(n), answer]
    return Exits(exit_block=exit_block, answer_block=answer, pred=pred)


class EntropyThreshold(Policy):
    """DeeBERT / COST-EFF: exit at the first block with H(p_i) < S (nats)."""

    name = "entropy"

    def __init__(self, threshold, min_block: int = 0):
        super().__init__(min_block)
        self.threshold = threshold

    def fires(self, trace: Trace) -> np.ndarray:
        return trace.entropy < _per_block(self.threshold, trace.n_blocks)[None, :]

"""Token salience of every exit, and attention per block and head, for one sentence (or pair).

Why per exit: an early-exit model answers from the first block whose exit is sure enough, so "which words
made the model say positive" has one answer *per block*: the words block 1 read when it exited may not be
the ones block 6 would have weighed (the overthinking story of SDN, Kaya et al. 2019). Every explainer
here scores, for every block b, exit b's logit for exit b's *own* predicted class.

Methods (``salience(..., method=)``):
    "ig"            integrated gradients (Sundararajan et al. 2017) over the word-embedding rows, with
                    captum's ``IntegratedGradients``; baseline: the same row with every non-special
                    token replaced by [PAD] ([CLS]/[SEP] kept, as in captum's BERT tutorial), so position
                    and segment embeddings cancel and the attributions explain the *words*. Completeness:
                    Σ attributions = f(x) − f(baseline); captum's convergence delta is kept as the gap.
                    Binarized layers (core.model.binary) sign their *weights*, which do not depend on the input,
                    so f is an ordinary piecewise-smooth function of the embeddings and IG is well defined.
    "grad_x_input"  ∂f/∂e ⊙ e on the same rows (captum ``InputXGradient``; Shrikumar et al. 2016).
    "rollout"       attention rollout (Abnar & Zuidema 2020): Â_b = ½(mean_h A_b + I), R_b = Â_b R_{b−1};
                    exit b's row is R_b's [CLS] row (cls pooling) or the mean of its rows (mean pooling).
                    Unsigned and class-agnostic; every row sums to 1.

All blocks are explained in one batched pass: the L targets are L rows of one batch, and the forward
(:func:`exit_logits`) stops each row at its own exit block, so row b runs b+1 blocks.

The explainers reach a model only through core.model's MultiExitModel interface (``word_embeddings``,
``embed_rows``, ``context``, ``block``, ``exit``, ``attention_maps``, ``contract``, ``max_len``): ExitLens' own
encoder and imported Hugging Face classifiers alike, with no per-class code here. Nothing is hooked into the
model, so a model shared by several app sessions is never altered while another session runs it.

Dimension legend: L blocks, H heads, T tokens (specials included), W words, K classes, R rows, E embedding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.explain.words import (  # noqa: F401
    Tokens,
    check_text,
    encode_words,
    eval_mode,
    explainable,
    max_tokens,
    merge_to_words,
)
from core.model import (
    MultiExitModel,
)

METHODS = ("ig", "grad_x_input", "rollout")


def staged_exit_logits(model: MultiExitModel, h: torch.Tensor, mask, block) -> torch.Tensor:
    """(R, T, D) first block input, (R, T) mask, (R,) exit block → (R, K): the blocks and exit heads of the
    model's forward, but each row leaves the batch after its own exit block, so explaining exit b costs b+1
    blocks (the pieces core.run.early_exit also runs)."""
    ctx = model.context(mask, h)
    rows = torch.arange(len(block))
    pieces, order = [], []
    for i in range(int(block.max()) + 1):
        h = model.block(i, h, ctx)
        here = block == i
        if bool(here.any()):
            pieces.append(model.exit(i, h[here], mask[here]).logits)                       # (r_i, K)
            order.append(rows[here])
        keep = block > i
        if not bool(keep.all()):
            h, ctx, mask, block, rows = h[keep], ctx.select(keep), mask[keep], block[keep], rows[keep]
    return torch.cat(pieces)[torch.argsort(torch.cat(order))]


def exit_logits(model: MultiExitModel, e: torch.Tensor, mask, types, block) -> torch.Tensor:
    """(R, T, E) word-table rows, (R, T)×2, (R,) long → (R, K): row r's logits at its own exit ``block[r]``,
    computed from those rows (the function integrated gradients differentiates)."""
    return staged_exit_logits(model, model.embed_rows(e, types), mask, block)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Attention

def attention(model, tokenizer, text: str, text_b: str | None = None, run=None) -> np.ndarray:
    """(L, H, T, T) attention weights of every block and head for one sentence (or pair); T counts the
    special tokens, row i is query token i, and every row sums to 1 (one sentence has no padding). With the
    sentence's ``run`` (core.explain.sentence) they are read from its stored rows: no embedding forward."""
    if run is not None:
        return run.attention()
    enc = encode_words(tokenizer, text, text_b, max_tokens(model), model.contract)
    with torch.no_grad(), eval_mode(model):
        maps = model.attention_maps(enc.input_ids, enc.attention_mask, enc.token_type_ids)
    return maps[:, 0].float().numpy()


def rollout(maps: np.ndarray, pooling: str = "cls") -> np.ndarray:
    """(L, H, T, T) attention → (L, T): how much each input token flows into exit b's pooled state.

    Abnar & Zuidema (2020): average the heads, add the residual as ½I, renormalise, multiply through the
    blocks. A [CLS]-pooled exit reads row 0; a decoder's exit its last token's row; a mean-pooled exit the mean
    of all rows. Rows sum to 1."""
    t = maps.shape[-1]
    a = 0.5 * maps.mean(axis=1) + 0.5 * np.eye(t)[None]           # (L, T, T)
    a = a / a.sum(-1, keepdims=True)
    flow, out = np.eye(t), []
    for blk in a:
        flow = blk @ flow
        out.append(flow[0] if pooling == "cls" else flow[-1] if pooling == "last" else flow.mean(0))
    return np.stack(out)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Salience

@dataclass
class Salience:
    """Per-block token salience for one sentence; arrays are block-major, as a page draws them."""
    method: str
    tokens: list[str]                 # T pieces
    token_scores: np.ndarray          # (L, T) score of each piece for exit b's target class
    words: list[str]                  # W
    word_scores: np.ndarray           # (L, W) sum of each word's pieces
    word_of_token: np.ndarray         # (T,)
    word_segment: np.ndarray          # (W,) 0 text, 1 text_b, −1 special token
    word_spans: np.ndarray            # (W, 2) character spans in the word's own text
    target: np.ndarray                # (L,) the class each block's exit predicts (what is explained)
    probs: np.ndarray                 # (L, K) each exit's softmax
    blocks: np.ndarray                # (L',) the blocks explained (all unless asked otherwise)
    delta: np.ndarray | None = None   # (L',) IG: Σ attributions − (f(x) − f(baseline)), captum's delta
    gain: np.ndarray | None = None    # (L',) IG: f(x) − f(baseline), the logit the attributions share
    steps: np.ndarray | None = None   # (L',) IG: the quadrature points each block needed
    exit_block: int | None = None     # where ``policy`` exits this sentence (when one was given)

    @property
    def completeness_gap(self) -> np.ndarray | None:
        """(L',) |delta| / |f(x) − f(baseline)|: IG's relative completeness error (goal ≤ 1 %)."""
        if self.delta is None:
            return None
        return np.abs(self.delta) / np.maximum(np.abs(self.gain), 1e-12)

    @property
    def is_special(self) -> np.ndarray:
        """(W,) bool: the word is a special token ([CLS], [SEP]) a page may hide."""
        return self.word_segment < 0


def _attribute(model: MultiExitModel, enc: Tokens, blocks: np.ndarray, target: np.ndarray, method: str, steps: int,
               baseline_ids: torch.Tensor, rows: torch.Tensor | None = None):
    """(R, T) token scores for rows (block, its target) in one captum call; IG also returns its delta.
    ``rows``: the sentence's vocabulary-table rows when its run has them (no word-embedding forward here)."""
    from captum.attr import InputXGradient, IntegratedGradients

    r = len(blocks)
    mask, types = enc.attention_mask.repeat(r, 1), enc.token_type_ids.repeat(r, 1)
    with torch.no_grad():
        e = (model.word_embeddings(enc.input_ids) if rows is None else rows).repeat(r, 1, 1)   # (R, T, E)
    block = torch.as_tensor(blocks, dtype=torch.long)
    extra = (mask, types, block)                       # captum repeats these with the interpolation steps
    f = lambda e_, mask_, types_, block_: exit_logits(model, e_, mask_, types_, block_)
    tgt = [int(c) for c in target[blocks]]
    if method == "grad_x_input":
        attr = InputXGradient(f).attribute(e.requires_grad_(), target=tgt, additional_forward_args=extra)
        return attr.sum(-1).detach().double().numpy(), None
    with torch.no_grad():                              # only IG has a baseline: the pad id's rows
        e0 = model.word_embeddings(baseline_ids).repeat(r, 1, 1)
    attr, delta = IntegratedGradients(f).attribute(
        e, baselines=e0, target=tgt, additional_forward_args=extra, n_steps=steps,
        return_convergence_delta=True)                 # (R, T, E), (R,)
    return attr.sum(-1).detach().double().numpy(), delta.detach().double().numpy()


def baseline_ids(enc: Tokens, model: MultiExitModel) -> torch.Tensor:
    """IG's baseline: every non-special token replaced by the model's own pad id (its tokenizer contract)."""
    pad = model.contract.pad_id
    return torch.where(torch.as_tensor(enc.special)[None], enc.input_ids, torch.full_like(enc.input_ids, pad))


def _refined_ig(model: MultiExitModel, enc: Tokens, blocks, target, steps: int, base, tol: float, max_steps: int):
    """IG at ``steps``; the blocks whose completeness gap is still above ``tol`` are done again with twice
    the steps, up to ``max_steps``, keeping per block the estimate with the smallest gap. captum's advice
    for a large convergence delta is more steps: a sharp exit (a logit that jumps along the straight path,
    as in a model trained to near-certainty) needs more than 32 quadrature points, and Gauss-Legendre's
    error on a near-jump is not monotone in the points, hence "keep the best". A smooth exit costs nothing."""
    scores, delta = _attribute(model, enc, blocks, target, "ig", steps, base)
    used = np.full(len(blocks), steps)
    gap = lambda sc, de: np.abs(de) / np.maximum(np.abs(sc.sum(-1) - de), 1e-12)
    best = gap(scores, delta)                                                    # (L',)
    todo = np.flatnonzero(best > tol)
    n = steps
    while todo.size and n * 2 <= max_steps:
        n *= 2
        sc, de = _attribute(model, enc, blocks[todo], target, "ig", n, base)
        g = gap(sc, de)
        better = g < best[todo]
        rows = todo[better]
        scores[rows], delta[rows], used[rows], best[rows] = sc[better], de[better], n, g[better]
        todo = todo[g > tol]
    return scores, delta, used


def salience(model, tokenizer, text: str, text_b: str | None = None, method: str = "ig", steps: int = 32, *,
             blocks=None, policy=None, tol: float = 0.01, max_steps: int = 128, run=None) -> Salience:
    """Salience of exit b's own predicted class for every block b (or only ``blocks``, 0-based).

    IG uses ``steps`` Gauss-Legendre points and doubles them, up to ``max_steps``, for the blocks whose
    completeness gap is above ``tol`` (``Salience.steps`` says how many each block took). ``policy`` (a
    core.policies.rules Policy) also marks where it exits this sentence. Raises ValueError for an empty text, an
    unknown method or a step count below 1."""
    if method not in METHODS:
        raise ValueError(f"unknown salience method {method!r}; choose one of {METHODS}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a whole number ≥ 1 (integrated gradients uses ≥ 32), got {steps!r}")
    if not isinstance(tol, (int, float)) or not tol >= 0:
        raise ValueError(f"tol is the accepted relative completeness gap, a number ≥ 0 (0.01 = 1 %), got {tol!r}")
    from core.explain.sentence import run_sentence
    from core.policies import decide

    run = run if run is not None else run_sentence(model, tokenizer, text, text_b)   # one tokenization, one record
    enc, trace = run.enc, run.trace
    delta = gain = used = None
    with eval_mode(model):                      # record() switches to eval too: restore the caller's mode
        target, n_blocks = trace.preds[0], trace.n_blocks              # (L,)
        blocks = np.arange(n_blocks) if blocks is None else np.asarray(blocks, dtype=np.int64).reshape(-1)
        if blocks.size == 0 or blocks.min() < 0 or blocks.max() >= n_blocks:
            raise ValueError(f"blocks must be 0-based block indices in 0..{n_blocks - 1}, got {blocks.tolist()}")
        if method == "rollout":
            scores = rollout(run.attention().astype(np.float64), model.cfg.pooling)[blocks]
        else:
            base = baseline_ids(enc, model)
            with torch.enable_grad():
                if method == "ig":
                    scores, delta, used = _refined_ig(model, enc, blocks, target, int(steps), base, tol, max_steps)
                    gain = scores.sum(-1) - delta     # captum: delta = Σ attributions − (f(x) − f(baseline))
                else:
                    scores, _ = _attribute(model, enc, blocks, target, method, 0, base, rows=run.rows)
    exit_block = None if policy is None else int(decide(policy, trace).exit_block[0])
    return Salience(method, enc.tokens, scores, enc.words, merge_to_words(scores, enc.word_of_token, len(enc.words)),
                    enc.word_of_token, enc.word_segment, enc.word_spans, target, trace.probs[0], blocks,
                    delta, gain, used, exit_block)

"""One sentence, run once, shared by every explanation of it (issue 18: a sentence is run once).

``SentenceRun`` holds what a page needs about one sentence (or pair) of one model: its word-piece encoding and
word alignment (one tokenization), its per-block Trace (the recording the page already made, or one made here),
and the rows of the vocabulary table for its pieces (one word-embedding forward). Salience's gradient methods
start from those rows (integrated gradients adds only its own batched passes along the path), and the attention
maps are read from them on first use — so a new sentence on the Playground costs the recording's embedding
forward and this one, whatever the page then shows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from core.explain.words import Tokens, encode_words, eval_mode, max_tokens
from core.model import MultiExitModel
from core.trace import Trace


@dataclass
class SentenceRun:
    model: MultiExitModel
    enc: Tokens                  # word pieces, special tokens, the word each piece belongs to
    trace: Trace                 # (1, L, K): every exit's answer for this sentence
    rows: torch.Tensor           # (1, T, E) vocabulary-table rows of the pieces (no gradient)
    _maps: np.ndarray | None = field(default=None, repr=False)

    def attention(self) -> np.ndarray:
        """(L, H, T, T) every block's attention, from the stored rows (no second embedding forward)."""
        if self._maps is None:
            m, e = self.model, self.rows
            with torch.no_grad(), eval_mode(m):
                h = m.embed_rows(e, self.enc.token_type_ids)
                ctx = m.context(self.enc.attention_mask, h)
                maps = []
                for i in range(m.n_blocks):
                    maps.append(m.block_attention(i, h, ctx))
                    h = m.block(i, h, ctx)
            self._maps = torch.stack(maps)[:, 0].float().numpy()
        return self._maps


def run_sentence(model: MultiExitModel, tokenizer, text: str, text_b: str | None = None,
                 trace: Trace | None = None) -> SentenceRun:
    """The sentence's run: one tokenization, its Trace (``trace`` when the caller recorded it already, which
    must be of this model and text), and one word-embedding forward."""
    from core.run import record

    enc = encode_words(tokenizer, text, text_b, max_tokens(model), model.contract)
    with eval_mode(model):
        if trace is None:
            trace = record(model, tokenizer, [text], None if text_b is None else [text_b])
        with torch.no_grad():
            rows = model.word_embeddings(enc.input_ids)
    if trace.n != 1:
        raise ValueError(f"a sentence's run needs the Trace of that one sentence, got {trace.n} samples")
    return SentenceRun(model, enc, trace, rows)

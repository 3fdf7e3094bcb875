"""One sentence (or pair) as a model reads it: its word pieces with the words they came from (one tokenization,
through the model's tokenizer contract), and the small pieces every explainer shares."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from core.model import MultiExitModel, TokenizerContract, encode_row, tensors

# ──────────────────────────────────────────────────────────────────────────────────────────────────
# One sentence as the model reads it, with the words its pieces came from

@dataclass(frozen=True)
class Tokens:
    input_ids: torch.Tensor        # (1, T) exactly what core.inference.record feeds the model
    attention_mask: torch.Tensor   # (1, T)
    token_type_ids: torch.Tensor   # (1, T)
    tokens: list[str]              # T word pieces ("##" continuations as the vocabulary spells them)
    special: np.ndarray            # (T,) bool: [CLS], [SEP] …
    word_of_token: np.ndarray      # (T,) int: index into ``words``
    words: list[str]               # W: the original text of each word (a special token is its own word)
    word_segment: np.ndarray       # (W,) int: 0 = text, 1 = text_b, −1 = special token
    word_spans: np.ndarray         # (W, 2) int: character [start, end) in its segment's text; −1 for specials


def check_text(text, what: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{what} is empty: type a sentence to explain")
    return text


def encode_words(tokenizer, text: str, text_b: str | None = None, max_len: int = 128,
                 contract: TokenizerContract | None = None) -> Tokens:
    """Encode like ``core.model.encode_batch`` (the library's truncation, one tokenization when the text fits) and
    map every piece to its word: the library's own word ids and character offsets.

    Words are the tokenizer's pre-tokenizer words (BERT: whitespace and punctuation split), so merging
    pieces to words is merging "##" continuations; their character spans let a page highlight the text.
    """
    check_text(text)
    if text_b is not None:
        check_text(text_b, "text_b")
    enc, _ = encode_row(tokenizer, text, text_b, max_len, contract)
    texts = [text] if text_b is None else [text, text_b]
    if all(s is None for s in enc.sequence_ids):
        raise ValueError(f"{text!r} has no token this model can read: type words, not only symbols")
    tokens = list(enc.tokens)
    special, word_of, words, segs, spans = [], [], [], [], []
    word_key: dict[tuple[int, int], int] = {}
    for token, seq, word, (start, end) in zip(tokens, enc.sequence_ids, enc.word_ids, enc.offsets):
        special.append(seq is None)
        if seq is None:                        # a token the template added ([CLS], [SEP]) is its own word
            word_of.append(len(words))
            words.append(token)
            segs.append(-1)
            spans.append((-1, -1))
            continue
        if (seq, word) not in word_key:
            word_key[seq, word] = len(words)
            words.append(None)                 # its text, once the span is known
            segs.append(seq)
            spans.append((start, end))
        w = word_key[seq, word]
        spans[w] = (min(spans[w][0], start), max(spans[w][1], end))
        word_of.append(w)
    words = [texts[g][a:b] if g >= 0 else w for w, g, (a, b) in zip(words, segs, spans)]
    row = tensors([enc])
    return Tokens(row["input_ids"], row["attention_mask"], row["token_type_ids"], tokens,
                  np.array(special), np.array(word_of), words, np.array(segs), np.array(spans, dtype=np.int64))


def merge_to_words(token_scores: np.ndarray, word_of_token: np.ndarray, n_words: int) -> np.ndarray:
    """(L, T) piece scores → (L, W): the sum of each word's pieces (IG stays complete: the sum is kept)."""
    out = np.zeros(token_scores.shape[:-1] + (n_words,), dtype=np.float64)
    np.add.at(out, (..., word_of_token), token_scores)
    return out


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# What the explainers run: the model's own pieces

def explainable(model) -> MultiExitModel:
    """The model itself, when it implements the MultiExitModel interface; else a TypeError that says so."""
    if not isinstance(model, MultiExitModel):
        raise TypeError(f"cannot explain a {type(model).__name__}: only models that implement core.model's "
                        "MultiExitModel interface (ExitLens' encoder, imported Hugging Face classifiers) can be "
                        "explained")
    return model


def max_tokens(model: MultiExitModel) -> int:
    """The longest input the explainers feed (special tokens included)."""
    return min(128, explainable(model).max_len)


@contextmanager
def eval_mode(model: nn.Module):
    """Dropout off while explaining (IG's completeness needs a deterministic f); the mode is restored."""
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)

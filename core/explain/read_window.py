"""What part of a long text a model reads — so a search over its words can stop where the model stops.

A model reads ``max_len`` tokens (special tokens included); the words after that cannot change its answer. For a
counterfactual search over a 5,000-word text only the first ~100 words matter: :func:`read_prefix` gives them.
:func:`word_context` says which of several equal words an edit touches ("delete 'I'" — which "I"?).
"""
from __future__ import annotations

from core.explain.counterfactual import _words
from core.model import encode_row


def _to_word_end(text: str, end: int) -> str:
    """``text`` up to character ``end``, extended to the end of the word it falls in."""
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[:end]


def read_prefix(tokenizer, text: str, text_b: str | None = None, max_len: int = 128) -> tuple[str, str | None]:
    """(the part of ``text`` the model reads, the part of ``text_b``): each whole, or cut after the last word the
    model reads (a word it reads only the start of is kept whole) — where the library's truncation stops."""
    enc, n_tokens = encode_row(tokenizer, text, text_b, max_len)
    if n_tokens <= max_len:
        return text, text_b
    ends = [0, 0]
    for seq, (_, end) in zip(enc.sequence_ids, enc.offsets):
        if seq is not None:
            ends[seq] = max(ends[seq], end)
    return _to_word_end(str(text), ends[0]), (_to_word_end(str(text_b), ends[1]) if text_b is not None else None)


def word_context(text: str, position: int, width: int = 3) -> str | None:
    """When the word at ``position`` (core.explain.counterfactual's word index) occurs more than once in ``text``: "word
    k of n: “… the words around it …”", else None (the word alone says where it is)."""
    words = _words(text)
    if not 0 <= position < len(words):
        return None
    w = words[position][2].lower()
    if sum(x[2].lower() == w for x in words) < 2:
        return None
    lo, hi = max(0, position - width), min(len(words), position + width + 1)
    around = text[words[lo][0]:words[hi - 1][1]]
    return (f"word {position + 1} of {len(words)}: “{'… ' if lo else ''}{around}{' …' if hi < len(words) else ''}”")

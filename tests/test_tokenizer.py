"""core.model.tokenizer: a trained WordPiece, MiniLM's tokenizer, and encode_batch on hostile strings."""
from __future__ import annotations

import random

import pytest
import torch
from tokenizers import Tokenizer, processors

from core.model import (
    SPECIAL_TOKENS,
    TokenizerContract,
    encode_batch,
    encode_one,
    load_minilm_tokenizer,
    read_tokenizer,
    save_tokenizer,
    train_wordpiece,
)

CORPUS = [
    "the movie was great and the acting was great too .",
    "the film is not bad at all , and i had a good time .",
    "a dull , lifeless movie with a great cast wasted .",
    "the story moves slowly but the ending is moving .",
    "i loved the music , the story and the acting .",
    "nothing about this movie works , not even the music .",
] * 3

EDGE_CASES = {
    "empty": "",
    "whitespace": "  \t \n  ",
    "control": "\x00\x01\x07\x1b[31m red \x7f",
    "zero-width": "\u200b\u200c\u200d\ufeff\u2060",
    "rtl-arabic": "مرحبا بالعالم هذا فيلم رائع",
    "rtl-hebrew": "\u202eשלום עולם\u202c",
    "emoji": "😀👍🏽 great 🇩🇪 👨‍👩‍👧",
    "combining": "e\u0301" * 50 + " ̈̈̈",
    "cjk": "这部电影很好看",
    "no-spaces-100k": "x" * 100_000,
    "words-100k": "great movie " * 8_400,
}


@pytest.fixture(scope="module")
def trained() -> Tokenizer:
    return train_wordpiece(CORPUS, vocab_size=200, min_frequency=1)


@pytest.fixture(scope="module")
def minilm() -> Tokenizer:
    return load_minilm_tokenizer()


def _tokens(tokenizer, ids) -> list[str]:
    return [tokenizer.id_to_token(i) for i in ids]


# ----------------------------------------------------------------------------- trained WordPiece


def test_trained_wordpiece_has_bert_special_ids_and_round_trips(trained):
    assert [trained.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert trained.get_vocab_size() <= 200
    ids = trained.encode("The MOVIE was great").ids
    assert _tokens(trained, ids) == ["[CLS]", "the", "movie", "was", "great", "[SEP]"]  # lower-cased
    assert trained.decode(ids) == "the movie was great"
    # an unseen word comes apart into pieces (or [UNK]) and still decodes without error
    assert trained.decode(trained.encode("moviegoers").ids).replace(" ", "") in ("moviegoers", "[UNK]", "")


def test_trained_wordpiece_pair_template(trained):
    out = encode_batch(trained, ["the movie was great"], ["i loved the music"])
    ids, types = out["input_ids"][0].tolist(), out["token_type_ids"][0].tolist()
    assert _tokens(trained, ids) == ["[CLS]", "the", "movie", "was", "great", "[SEP]",
                                     "i", "loved", "the", "music", "[SEP]"]
    assert types == [0] * 6 + [1] * 5
    assert out["attention_mask"][0].tolist() == [1] * 11


def test_vocab_size_must_leave_room_for_words():
    with pytest.raises(ValueError, match="special tokens"):
        train_wordpiece(CORPUS, vocab_size=5)


def test_save_and_load_round_trip(trained, tmp_path):
    path = save_tokenizer(trained, tmp_path / "tok")
    assert path == tmp_path / "tok" / "tokenizer.json" and path.is_file()
    for where in (path, path.parent):
        again = read_tokenizer(where)
        assert again.encode("the story is moving").ids == trained.encode("the story is moving").ids
        assert again.truncation is None and again.padding is None
    assert save_tokenizer(trained, tmp_path / "custom.json") == tmp_path / "custom.json"
    with pytest.raises(FileNotFoundError, match="no tokenizer at"):
        read_tokenizer(tmp_path / "missing")


# ----------------------------------------------------------------------------- encode_batch


def test_batch_pads_to_the_longest_not_to_max_len(trained):
    texts = ["great", "the movie was great and the acting was great too", ""]
    out = encode_batch(trained, texts, max_len=128)
    lengths = [len(trained.encode(t).ids) for t in texts]
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        k: (3, max(lengths)) for k in ("input_ids", "attention_mask", "token_type_ids")}
    assert all(v.dtype == torch.long for v in out.values())
    assert out["attention_mask"].sum(1).tolist() == lengths
    pad = out["attention_mask"] == 0
    assert (out["input_ids"][pad] == 0).all() and (out["token_type_ids"][pad] == 0).all()


def test_truncation_keeps_cls_and_sep(trained):
    out = encode_batch(trained, ["the movie was great " * 50], max_len=16)
    ids = out["input_ids"][0].tolist()
    assert len(ids) == 16 and ids[0] == 2 and ids[-1] == 3


def test_pair_truncation_matches_hf_longest_first(minilm):
    """Our truncation equals the tokenizers library's own (enable_truncation, longest_first)."""
    reference = Tokenizer.from_str(minilm.to_str())
    reference.no_padding()
    words = "the cat sat on a mat while two dogs ran past".split()
    rng = random.Random(0)
    for _ in range(150):
        a = " ".join(rng.choice(words) for _ in range(rng.randint(0, 24)))
        b = " ".join(rng.choice(words) for _ in range(rng.randint(0, 24)))
        max_len = rng.randint(3, 40)
        reference.enable_truncation(max_len)
        want = reference.encode(a, b)
        got = encode_batch(minilm, [a], [b], max_len=max_len)
        assert got["input_ids"][0].tolist() == want.ids, (a, b, max_len)
        assert got["token_type_ids"][0].tolist() == want.type_ids


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_hostile_strings_never_crash(minilm, trained, name):
    text = EDGE_CASES[name]
    for tokenizer in (minilm, trained):
        single = encode_batch(tokenizer, [text, "ok"], max_len=64)
        pair = encode_batch(tokenizer, [text, ""], [text, text], max_len=64)
        cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        for out in (single, pair):
            ids = out["input_ids"]
            assert ids.shape[1] <= 64
            assert ids[:, 0].tolist() == [cls, cls]
            assert 0 <= ids.min() and ids.max() < tokenizer.get_vocab_size()
            lengths = out["attention_mask"].sum(1)
            assert (ids[torch.arange(2), lengths - 1] == sep).all()  # every row ends in [SEP]


def test_none_and_nan_count_as_empty(trained):
    out = encode_batch(trained, [None, float("nan"), ""])
    assert out["input_ids"].tolist() == [[2, 3]] * 3


def test_batch_shapes_and_arguments(trained):
    assert encode_batch(trained, [])["input_ids"].shape == (0, 0)
    with pytest.raises(ValueError, match="differ in length"):
        encode_batch(trained, ["a", "b"], ["c"])
    with pytest.raises(ValueError, match="no room for the special tokens"):
        encode_batch(trained, ["a"], ["b"], max_len=2)


def test_a_tokenizer_with_its_own_padding_is_left_alone(minilm):
    padded = Tokenizer.from_str(minilm.to_str())
    padded.enable_padding(length=128)
    padded.enable_truncation(128)
    out = encode_batch(padded, ["hello world"])
    assert out["input_ids"].tolist() == [[101, 7592, 2088, 102]]
    assert padded.padding is not None and padded.truncation is not None  # not mutated


# ----------------------------------------------------------------------------- MiniLM


def test_minilm_gives_bert_ids(minilm):
    assert minilm.get_vocab_size() == 30522
    assert minilm.truncation is None and minilm.padding is None  # its json pads to 128; we do not
    out = encode_batch(minilm, ["hello world"])
    assert out["input_ids"].tolist() == [[101, 7592, 2088, 102]]
    pair = encode_batch(minilm, ["hello"], ["world"])
    assert pair["input_ids"].tolist() == [[101, 7592, 102, 2088, 102]]
    assert pair["token_type_ids"].tolist() == [[0, 0, 0, 1, 1]]


# ----------------------------------------------------------------------------- the library's truncation, bounded


def _bpe(texts):
    from tokenizers import ByteLevelBPETokenizer
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=300, min_frequency=1, show_progress=False, special_tokens=["<s>", "</s>"])
    tok = bpe._tokenizer
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B:1 </s>:1",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    return tok


def _unigram(texts, unk="<oov>"):
    from tokenizers import SentencePieceUnigramTokenizer
    spm = SentencePieceUnigramTokenizer()
    spm.train_from_iterator(texts, vocab_size=120, show_progress=False, unk_token=unk, special_tokens=[unk, "[CLS]",
                                                                                                      "[SEP]"])
    tok = spm._tokenizer
    tok.post_processor = _bert_like(tok)
    return tok


def _bert_like(tok):
    return processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                         special_tokens=[("[CLS]", tok.token_to_id("[CLS]")),
                                                         ("[SEP]", tok.token_to_id("[SEP]"))])


def _long_text(rng, words):
    """100–200 characters: words, runs without a space, emoji, long words (BERT's [UNK] past 100 characters)."""
    parts = []
    while sum(map(len, parts)) < rng.randint(100, 200):
        parts.append(rng.choice([rng.choice(words), "x" * rng.randint(1, 120), "😀👍🏽", "don't", "e\u0301",
                                 rng.choice(words) + rng.choice(words)]))
    return rng.choice([" ", "", "  "]).join(parts)


def test_very_long_texts_keep_exactly_the_tokens_the_library_keeps(minilm, trained, monkeypatch):
    """Texts past max_len × CLIP_CHARS_PER_TOKEN characters are cut at a word end before the library sees them: the
    row equals the library's own truncation of the whole texts, for WordPiece, byte-level BPE and Unigram, singles
    and pairs, ties included (both halves of a pair the same text). The limit is set to 4 characters a token here,
    so that every text is cut and the library's own (quadratic) truncation stays cheap to compare with."""
    import core.model.encoding as encoding
    monkeypatch.setattr(encoding, "CLIP_CHARS_PER_TOKEN", 4)
    words = " ".join(CORPUS).split()
    rng = random.Random(1)
    for tokenizer in (minilm, trained, _bpe(CORPUS), _unigram(CORPUS)):
        reference = Tokenizer.from_str(tokenizer.to_str())
        reference.no_padding()
        for _ in range(6):
            a, b = _long_text(rng, words), _long_text(rng, words)
            for max_len in (9, 16):
                reference.enable_truncation(max_len)
                for pair in ((a, b), (a, a), (b, a)):
                    want = reference.encode(*pair)
                    got = encode_batch(tokenizer, [pair[0]], [pair[1]], max_len=max_len)
                    assert got["input_ids"][0].tolist() == want.ids, (pair, max_len)
                    assert got["token_type_ids"][0].tolist() == want.type_ids
                assert encode_batch(tokenizer, [a], max_len=max_len)["input_ids"][0].tolist() == reference.encode(a).ids
                row, info = encode_one(tokenizer, a, b, max_len=max_len)
                assert row["input_ids"][0].tolist() == reference.encode(a, b).ids
                reference.no_truncation()
                assert info.n_tokens == len(reference.encode(a, b).ids)   # counted before the cut
                reference.enable_truncation(max_len)


def test_a_100k_character_pair_is_bounded(minilm):
    """The library alone builds every overflowing piece of A times every piece of B (30,000 characters: 15,874
    pieces, 1.8 GB); cut first, a 100,000-character pair encodes like any sentence."""
    import resource
    text = "the cat sat on the mat " * 4_400
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = encode_batch(minilm, [text], [text], max_len=128)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert out["input_ids"].shape == (1, 128) and grown_mb < 200, grown_mb


def test_the_configured_copy_is_made_once_and_the_shared_tokenizer_is_not_touched(minilm):
    from core.model.encoding import DEFAULT_CONTRACT, configured
    left = TokenizerContract(pad_id=0, padding_side="left")
    assert configured(minilm, 32, left) is configured(minilm, 32, left)
    assert configured(minilm, 32, left) is not configured(minilm, 33, left)
    assert configured(minilm, 32, DEFAULT_CONTRACT) is not configured(minilm, 32, left)
    out = encode_batch(minilm, ["hi", "hello big world"], max_len=32, contract=left)
    assert out["attention_mask"].tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]
    assert minilm.truncation is None and minilm.padding is None


def test_unknown_pieces_are_the_tokenizer_models_own_unknown_token():
    """Unknown means the model's unk (here "<oov>"), never a piece that happens to be named [UNK] or <unk>."""
    tok = _unigram(CORPUS + ["[UNK] <unk>"], unk="<oov>")
    row, info = encode_one(tok, "the movie 水 [UNK] <unk>")
    ids = row["input_ids"][0].tolist()
    assert info.unknown == [i == tok.token_to_id("<oov>") for i in ids] and info.n_unknown == 1  # 水
    assert info.special == [True] + [False] * (len(ids) - 2) + [True]

"""One model interface (core.model.MultiExitModel): ExitLens' encoder and imported Hugging Face classifiers both
implement it, recording and the explainers use nothing else, and the tokenizer contract (pad id, padding side)
comes from the model's own tokenizer and config — never from a token's name ("[PAD]" is not RoBERTa's pad)."""
import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import load_task
from core.explain import baseline_ids, encode_words, salience
from core.hf import import_model
from core.model import (
    MultiExitEncoder,
    MultiExitModel,
    TokenizerContract,
    checkpoint,
    encode_batch,
    preset,
    train_wordpiece,
)
from core.run import record
from tests.conftest import HF_MAX_LEN, build_source

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def roberta(tmp_path_factory):
    torch.set_num_threads(1)
    texts = list(load_task("sst2", "train", limit=300)["text"])
    d = tmp_path_factory.mktemp("roberta")
    src = build_source("roberta", d / "src", texts)
    res = import_model(src, "sst2", d / "out", limit=64, max_len=HF_MAX_LEN)
    return src, checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)


def test_both_model_kinds_implement_the_interface(roberta):
    _, hf_model, _ = roberta
    native = MultiExitEncoder(preset("tiny"))
    for m in (native, hf_model):
        assert isinstance(m, MultiExitModel)
        assert m.n_blocks == m.cfg.n_blocks and m.max_len == m.cfg.max_len
    assert not isinstance(torch.nn.Linear(2, 2), MultiExitModel)


def test_recording_and_explaining_never_name_a_model_class():
    """core.run and core.explain reach models only through the interface: no model class, no isinstance on one,
    no backend registry."""
    names = {"MultiExitEncoder", "HFMultiExit", "singledispatch"}
    for pkg in ("run", "explain"):
        for path in sorted((ROOT / "core" / pkg).glob("*.py")):
            used = {n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)}
            used |= {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)
                     for a in n.names}
            assert not used & names, (path.name, used & names)
    assert not (ROOT / "core" / "explain" / "hf_backend.py").exists()


def test_the_block_loop_is_written_once():
    """Neither model kind writes its own forward: both inherit MultiExitBase's loop."""
    from core.model import HFMultiExit, MultiExitBase

    for cls in (MultiExitEncoder, HFMultiExit):
        assert cls.forward is MultiExitBase.forward and cls.attention_maps is MultiExitBase.attention_maps


def test_roberta_pads_with_its_own_pad_not_the_token_named_pad(roberta):
    """RoBERTa's <pad> is 1 and id 0 is <s>: padding and the integrated-gradients baseline use <pad>."""
    from transformers import AutoTokenizer

    src, model, tok = roberta
    hf_tok = AutoTokenizer.from_pretrained(src)
    assert hf_tok.pad_token_id == 1 and hf_tok.convert_ids_to_tokens(0) == "<s>"
    assert tok.token_to_id("[PAD]") is None                         # the name lookup would have given 0
    assert model.contract.pad_id == 1 and hf_tok.pad_token_id in model.contract.special_ids
    texts = ["a gorgeous , witty , seductive movie .", "bad"]
    tr = record(model, tok, texts, max_len=HF_MAX_LEN)              # record pads the short row
    enc = encode_batch(tok, texts, max_len=HF_MAX_LEN, contract=model.contract)
    assert (enc["input_ids"][1][enc["attention_mask"][1] == 0] == 1).all()
    ref = hf_tok(texts, padding=True, return_tensors="pt")
    assert torch.equal(enc["input_ids"], ref["input_ids"])          # the source tokenizer's own padding
    words = encode_words(tok, texts[0], None, HF_MAX_LEN, model.contract)
    base = baseline_ids(words, model)[0]
    special = torch.as_tensor(words.special)
    assert (base[~special] == 1).all() and torch.equal(base[special], words.input_ids[0][special])
    assert np.isfinite(tr.logits).all()
    sal = salience(model, tok, texts[0], method="ig", steps=16)
    assert np.isfinite(sal.word_scores).all()


def test_left_padding_puts_the_pad_before_the_tokens():
    tok = train_wordpiece(["a good film", "a bad one"] * 4, vocab_size=40, min_frequency=1)
    left = encode_batch(tok, ["a good film", "a"], contract=TokenizerContract(pad_id=7, padding_side="left"))
    right = encode_batch(tok, ["a good film", "a"], contract=TokenizerContract(pad_id=7))
    n = int(right["attention_mask"][1].sum())
    assert right["input_ids"][1, n:].eq(7).all() and left["input_ids"][1, :-n].eq(7).all()
    assert torch.equal(left["input_ids"][1, -n:], right["input_ids"][1, :n])
    assert left["attention_mask"][1].tolist() == right["attention_mask"][1].flip(0).tolist()
    with pytest.raises(ValueError, match="padding_side"):
        TokenizerContract(padding_side="middle")

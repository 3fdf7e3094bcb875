"""Encoders with relative or rotary positions (MPNet, DeBERTa-v3, ModernBERT): tiny random *ForSequenceClassification
models built by transformers (no download), imported as multi-exit models that run their own layers. The last exit
equals the model's own logits on padded batches of mixed lengths, single sentences and pairs; real early exit equals
the simulated exit at batch 1 and batched; attention equals transformers' own weights."""
import numpy as np
import pytest
import torch

from core.data import load_task
from core.hf import import_model
from core.model import checkpoint, encode_batch
from core.policies import POLICIES, decide, make_policy
from core.run import early_exit, record
from tests.conftest import HF_MAX_LEN as MAX_LEN
from tests.conftest import REL_ENCODERS, build_rel_encoder_source


@pytest.fixture(scope="module")
def sentences():
    return list(load_task("sst2", "train", limit=300)["text"])


@pytest.fixture(scope="module", params=REL_ENCODERS)
def imported(request, sentences, tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp(request.param)
    src = build_rel_encoder_source(request.param, d / "src", sentences)
    return request.param, src, import_model(src, "mrpc", d / "out", limit=64, max_len=MAX_LEN)


def _parity(src, out, pairs: bool = True) -> list[float]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model, tok = checkpoint.load(out), checkpoint.load_tokenizer(out)
    ref = AutoModelForSequenceClassification.from_pretrained(src).eval()
    hf_tok = AutoTokenizer.from_pretrained(src)
    ds = load_task("mrpc", "validation", limit=24)
    a = list(ds["text"])
    b = [" ".join(t.split()[: 3 + i % 9]) for i, t in enumerate(ds["text_b"])]    # short: pairs of mixed lengths
    deltas = []
    for second in ((None, b) if pairs else (None,)):
        enc = hf_tok(a, second, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")
        assert (enc["attention_mask"] == 0).any()
        assert torch.equal(encode_batch(tok, a, second, max_len=MAX_LEN, contract=model.contract)["input_ids"],
                           enc["input_ids"])
        fed = {k: v for k, v in enc.items() if k != "token_type_ids" or model.contract.token_types}
        with torch.no_grad():
            want = ref(**fed).logits.numpy()
        tr = record(model, tok, a, second, max_len=MAX_LEN, batch_size=24)
        deltas.append(float(np.abs(tr.logits[:, -1] - want).max()))
        assert want.std() > 0.1 and np.abs(tr.logits[:, 0] - want).max() > 0.05    # the check has teeth
    return deltas


def test_last_exit_equals_the_model_on_single_sentences_and_pairs(imported):
    kind, src, res = imported
    deltas = _parity(src, res.out)
    print(f"{kind}: max |Δ logits| single {deltas[0]:.2e}, pairs {deltas[1]:.2e}")
    assert max(deltas) <= 1e-4, (kind, deltas)


def test_modernbert_mean_pooling(sentences, tmp_path):
    src = build_rel_encoder_source("modernbert", tmp_path / "src", sentences, classifier_pooling="mean")
    res = import_model(src, "mrpc", tmp_path / "out", limit=64, max_len=MAX_LEN)
    assert res.model.cfg.pooling == "mean"
    assert max(_parity(src, res.out, pairs=False)) <= 1e-4


def test_simulated_exit_equals_real_early_exit(imported):
    kind, _, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    ds = load_task("mrpc", "validation", limit=32)
    a, b, labels = list(ds["text"]), list(ds["text_b"]), np.asarray(ds["label"])
    tr = record(model, tok, a, b, labels=labels, batch_size=16, max_len=MAX_LEN)
    for name in ("maxprob", "entropy"):
        cls = POLICIES[name]
        lo, hi = cls.threshold_range(tr)
        v = np.sort(cls(threshold=lo).signal(tr)[:, 0])
        k = int((0.4 if cls.direction == "below" else 0.6) * len(v))
        pol = make_policy(name, threshold=float(np.clip((v[k - 1] + v[k]) / 2, lo, hi)))
        sim = decide(pol, tr)
        assert len(np.unique(sim.exit_block)) >= 2, (kind, name)
        for bs in (1, 8):
            real = early_exit(model, tok, pol, a, b, labels=labels, batch_size=bs, max_len=MAX_LEN)
            assert np.array_equal(real.exit_block, sim.exit_block), (kind, name, bs)
            assert np.array_equal(real.pred, sim.pred), (kind, name, bs)


def test_attention_is_the_models_own(imported):
    from transformers import AutoModelForSequenceClassification

    from core.explain import attention, salience

    kind, src, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    text, text_b = "a gorgeous , witty , seductive movie .", "the cast is great"
    maps = attention(model, tok, text, text_b)
    ref = AutoModelForSequenceClassification.from_pretrained(src, attn_implementation="eager").eval()
    ids = encode_batch(tok, [text], [text_b], max_len=MAX_LEN, contract=model.contract)
    with torch.no_grad():
        want = ref(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], output_attentions=True).attentions
    assert np.allclose(maps, np.stack([w[0].numpy() for w in want]), atol=1e-5), kind
    sal = salience(model, tok, text, text_b, method="ig", steps=16)
    assert np.isfinite(sal.word_scores).all()

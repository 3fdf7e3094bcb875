"""Decoder classifiers (GPT-2, Llama, Mistral, Qwen2, Qwen3, Gemma, Phi-3): tiny random *ForSequenceClassification
models built by transformers (no download), imported as multi-exit models that run their own layers. The last exit
equals the model's own logits on padded batches of mixed lengths, with either padding side; real early exit equals
the simulated exit at batch 1 and batched; attention is causal and equals transformers' own weights."""
import numpy as np
import pytest
import torch

from core.data import load_task
from core.hf import HFModelError, import_model, inspect_source
from core.model import checkpoint, encode_batch
from core.policies import POLICIES, decide, make_policy
from core.run import early_exit, record
from tests.conftest import DECODERS, build_decoder_source

MAX_LEN = 64


@pytest.fixture(scope="module")
def sentences():
    return list(load_task("sst2", "train", limit=300)["text"])


@pytest.fixture(scope="module", params=DECODERS)
def imported(request, sentences, tmp_path_factory):
    torch.set_num_threads(1)
    kind = request.param
    d = tmp_path_factory.mktemp(kind)
    src = build_decoder_source(kind, d / "src", sentences, "right" if kind == "gpt2" else "left")
    res = import_model(src, "sst2", d / "out", limit=64, max_len=MAX_LEN)
    return kind, src, res


def test_last_exit_equals_the_model_with_either_padding(imported):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    kind, src, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    assert model.cfg.pooling == "last" and model.cfg.exit_heads == ["own"] * 3
    assert model.contract.padding_side == ("right" if kind == "gpt2" else "left")     # the source tokenizer's
    ref = AutoModelForSequenceClassification.from_pretrained(src).eval()
    hf_tok = AutoTokenizer.from_pretrained(src)
    texts = list(load_task("sst2", "validation", limit=24)["text"])
    for side in ("right", "left"):
        model.cfg.padding_side = hf_tok.padding_side = side
        enc = hf_tok(texts, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")
        assert torch.equal(encode_batch(tok, texts, max_len=MAX_LEN, contract=model.contract)["input_ids"],
                           enc["input_ids"])                     # the same ids, padded on the same side
        assert (enc["attention_mask"] == 0).any()                # mixed lengths: the batch is padded
        with torch.no_grad():
            want = ref(**enc).logits.numpy()
        tr = record(model, tok, texts, max_len=MAX_LEN, batch_size=24)
        delta = float(np.abs(tr.logits[:, -1] - want).max())
        print(f"{kind} {side} padding: max |Δ logits| = {delta:.2e}")
        assert delta <= 1e-4, (kind, side, delta)
        assert want.std() > 0.1 and np.abs(tr.logits[:, 0] - want).max() > 0.05   # the check has teeth


def _threshold(name: str, tr) -> dict:
    """Halfway between two recorded values near the 40 % quantile of block 0 (or 1 for frac_reduction)."""
    cls = POLICIES[name]
    lo, hi = cls.threshold_range(tr)
    sig = cls(threshold=lo).signal(tr)
    first = 1 if name == "frac_reduction" else 0
    v = np.sort(sig[:, first][np.isfinite(sig[:, first])])
    k = int((0.4 if cls.direction == "below" else 0.6) * len(v))
    return {"threshold": float(np.clip((v[k - 1] + v[k]) / 2, lo, hi))}


def test_simulated_exit_equals_real_early_exit(imported):
    kind, _, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    ds = load_task("sst2", "validation", limit=32)
    texts, labels = list(ds["text"]), np.asarray(ds["label"])
    tr = record(model, tok, texts, labels=labels, batch_size=16, max_len=MAX_LEN)
    lens = encode_batch(tok, texts, max_len=MAX_LEN)["attention_mask"].sum(1).numpy()
    for name in ("maxprob", "edr"):
        pol = make_policy(name, **_threshold(name, tr))
        sim = decide(pol, tr)
        assert len(np.unique(sim.exit_block)) >= 2, (kind, name)         # exits really differ between samples
        for bs in (1, 8):
            real = early_exit(model, tok, pol, texts, labels=labels, batch_size=bs, max_len=MAX_LEN)
            assert np.array_equal(real.exit_block, sim.exit_block), (kind, name, bs)
            assert np.array_equal(real.pred, sim.pred), (kind, name, bs)
            want = [model.flops_embed(n) + (e + 1) * model.flops_per_block(n) for n, e in zip(lens, sim.exit_block)]
            assert np.allclose(real.flops, want)


def test_attention_is_causal_and_the_models_own(imported):
    from transformers import AutoModelForSequenceClassification

    from core.explain import attention, salience

    kind, src, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    text = "a gorgeous , witty , seductive movie ."
    maps = attention(model, tok, text)                                      # (L, H, T, T)
    t = maps.shape[-1]
    assert np.allclose(maps[..., np.triu_indices(t, 1)[0], np.triu_indices(t, 1)[1]], 0.0)   # no look-ahead
    ref = AutoModelForSequenceClassification.from_pretrained(src, attn_implementation="eager").eval()
    ids = encode_batch(tok, [text], max_len=MAX_LEN, contract=model.contract)
    with torch.no_grad():
        want = ref(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], output_attentions=True).attentions
    assert np.allclose(maps, np.stack([a[0].numpy() for a in want]), atol=1e-5), kind
    sal = salience(model, tok, text, method="ig", steps=16)
    assert sal.word_scores.shape == (3, len(sal.words)) and np.isfinite(sal.word_scores).all()
    roll = salience(model, tok, text, method="rollout").token_scores            # (L, T): what the last token read
    a = 0.5 * maps.mean(1) + 0.5 * np.eye(t)[None]
    flow = np.eye(t)
    for b in range(3):
        flow = (a[b] / a[b].sum(-1, keepdims=True)) @ flow
        assert np.allclose(roll[b], flow[-1], atol=1e-5) and flow[-1, -1] < 1      # the exit's token, not row 0


def test_unsupported_families_are_refused_with_the_list(tmp_path):
    from transformers import Gemma2Config

    Gemma2Config(num_hidden_layers=1, hidden_size=8, intermediate_size=8, num_attention_heads=2,
                 num_key_value_heads=1, head_dim=4).save_pretrained(tmp_path / "g2")
    with pytest.raises(HFModelError, match=r"model_type 'gemma2' is not supported.*'gpt2'.*'llama'.*'qwen3'"):
        inspect_source(tmp_path / "g2")


@pytest.mark.slow
def test_every_policy_exits_the_same_really_and_simulated(imported):
    kind, _, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    ds = load_task("sst2", "validation", limit=48)
    texts, labels = list(ds["text"]), np.asarray(ds["label"])
    tr = record(model, tok, texts, labels=labels, batch_size=16, max_len=MAX_LEN)
    for name in sorted(POLICIES):
        if "lte" in POLICIES[name].needs:                         # no learn-to-exit head on an imported model
            continue
        pol = make_policy(name, **({} if name == "oracle" else {"threshold": 1} if name == "patience" else
                                   _threshold(name, tr)))
        sim = decide(pol, tr)
        for bs in (1, 8):
            real = early_exit(model, tok, pol, texts, labels=labels, batch_size=bs, max_len=MAX_LEN)
            assert np.array_equal(real.exit_block, sim.exit_block), (kind, name, bs)
            assert np.array_equal(real.answer_block, sim.answer_block), (kind, name, bs)
            assert np.array_equal(real.pred, sim.pred), (kind, name, bs)

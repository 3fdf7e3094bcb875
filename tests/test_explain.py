"""Per-exit explanations (core.explain): IG completeness per model family, grad×input and the attention
helper against the model's own forward, rollout, word merging, the counterfactual search on a model
trained so that "not" flips the label, and clear errors for bad input."""
from pathlib import Path

import numpy as np
import pytest
import torch

from core.explain import Salience, attention, candidates, counterfactuals, encode_words, salience, substitution_table
from core.model import MultiExitEncoder, checkpoint, encode_batch, preset, train_wordpiece
from core.policies import decide, make_policy
from core.run import record
from tests.fixture_models import NOT_MODEL, UNIT_MODELS, not_dataset

FAMILIES = {"bert": ("tiny-bert", ()), "slfn": ("tiny", ()), "binarized": ("tiny", ("attention", "ffn"))}
ASSET_MODELS = Path(__file__).resolve().parents[1] / "assets" / "models"
SHIPPED_MODELS = sorted(p.name for p in ASSET_MODELS.iterdir() if p.is_dir())


def random_tiny(family, tok, seed=0):
    """A tiny model of one family with weights at the usual fan-in scale (std 1/√fan-in; embeddings std 1):
    a smooth, far-from-constant function, so that f(x) − f(baseline) is not trivially small."""
    torch.manual_seed(seed)
    name, binarize = FAMILIES[family]
    model = MultiExitEncoder(preset(name, vocab_size=tok.get_vocab_size(), binarize=binarize, n_blocks=3))
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):            # BinaryLinear too: α·sign(W) of these
                mod.weight.normal_(0, mod.weight.shape[1] ** -0.5)
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.normal_(0, 1.0)
    return model.eval()


@pytest.fixture(scope="module")
def not_tokenizer():
    return train_wordpiece(not_dataset()[0] + ["unbelievably witty , seductive"], vocab_size=80, min_frequency=1)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_model(request, not_tokenizer):
    return request.param, random_tiny(request.param, not_tokenizer), not_tokenizer


@pytest.fixture(scope="module")
def not_model():
    """An SLFN model trained on the "not" data (fixed weights: tests/fixture_models.py)."""
    return checkpoint.load(UNIT_MODELS / NOT_MODEL).eval(), checkpoint.load_tokenizer(UNIT_MODELS / NOT_MODEL)


def _forward_logits(model, ids, mask, types):
    with torch.no_grad():
        return model(ids, mask, types).logits.double().numpy()      # (B, L, K)


# ── integrated gradients ────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("text, text_b", [("the film is not charming .", None),
                                         ("the plot was clever", "the cast is not fun")])
def test_ig_is_complete_per_family(family_model, text, text_b):
    """Σ attributions = f(x) − f(baseline) within 1 %, with f(x), f(baseline) from the model's own forward."""
    family, model, tok = family_model
    sal = salience(model, tok, text, text_b, method="ig", steps=32)
    enc = encode_words(tok, text, text_b, model.cfg.max_len)
    base = torch.where(torch.as_tensor(enc.special)[None], enc.input_ids, torch.zeros_like(enc.input_ids))
    fx = _forward_logits(model, enc.input_ids, enc.attention_mask, enc.token_type_ids)[0]   # (L, K)
    fb = _forward_logits(model, base, enc.attention_mask, enc.token_type_ids)[0]
    blocks = np.arange(model.cfg.n_blocks)
    gain = fx[blocks, sal.target] - fb[blocks, sal.target]
    assert np.abs(gain).max() > 0.1, f"{family}: a trivially small f(x) − f(baseline) would test nothing"
    total = sal.token_scores.sum(-1)
    assert np.all(np.abs(total - gain) <= 0.01 * np.abs(gain)), (family, total, gain)
    assert np.all(sal.completeness_gap <= 0.01) and np.allclose(sal.gain, gain, rtol=1e-4)
    # the targets are each exit's own prediction, as record() sees it
    tr = record(model, tok, [text], None if text_b is None else [text_b])
    assert np.array_equal(sal.target, tr.preds[0])
    assert np.allclose(sal.probs, tr.probs[0], atol=1e-5)
    # special tokens keep their own embedding in the baseline, so they get nothing; words keep the sum
    assert np.allclose(sal.token_scores[:, enc.special], 0.0, atol=1e-7)
    assert np.allclose(sal.word_scores.sum(-1), total)


def test_ig_takes_more_steps_where_an_exit_is_sharp(not_model):
    """The trained "not" model is near-certain: its exit logits jump by several units within ~1/1000 of the
    straight IG path, so 32 points miss completeness. Those blocks are redone with 2×, 4× … the points
    (keeping each block's best estimate); the others keep their 32."""
    model, tok = not_model
    coarse = salience(model, tok, "the film is not charming .", max_steps=32)
    fine = salience(model, tok, "the film is not charming .", max_steps=128)
    sharp = coarse.completeness_gap > 0.01
    assert sharp.any() and np.all(coarse.steps == 32)
    assert np.all(fine.steps[~sharp] == 32) and np.all(fine.steps[sharp] >= 32)
    assert np.all(fine.completeness_gap <= coarse.completeness_gap)
    assert np.any(fine.completeness_gap < 0.5 * coarse.completeness_gap)
    assert np.allclose(fine.gain, coarse.gain, atol=1e-4)       # f(x) − f(baseline) does not depend on steps
    # with the gap reported, a page can say how far to trust the picture
    assert np.allclose(fine.token_scores.sum(-1) - fine.delta, fine.gain)


def test_explaining_never_alters_a_model_that_another_thread_is_running(family_model):
    """The app shares one model between sessions: while one explains (IG, many forwards), another's
    record() must see the plain model (no hook, no swapped layer), every time."""
    import threading

    _, model, tok = family_model
    texts = ["the story is fresh", "the plot is not good ."]
    want = record(model, tok, texts).logits
    done, errors = threading.Event(), []

    def explain():
        try:
            for _ in range(3):
                salience(model, tok, "her performance was not smart .", steps=32, max_steps=32)
        except Exception as e:              # surfaced below: a failure in the thread must fail the test
            errors.append(e)
        finally:
            done.set()

    worker = threading.Thread(target=explain)
    worker.start()
    seen = 0
    while not done.is_set() or seen == 0:
        assert np.allclose(record(model, tok, texts).logits, want, atol=1e-5)
        seen += 1
    worker.join()
    assert not errors and seen >= 1
    assert not model.embeddings.word._forward_hooks and not model.training


def test_ig_handles_dropout_and_restores_training_mode():
    torch.manual_seed(0)
    tok = train_wordpiece(not_dataset(200)[0], vocab_size=80, min_frequency=1)
    model = MultiExitEncoder(preset("tiny", vocab_size=tok.get_vocab_size(), dropout=0.5)).train()
    a = salience(model, tok, "the film is not good", steps=16)
    b = salience(model, tok, "the film is not good", steps=16)
    assert model.training, "the caller's training mode must come back"
    assert np.array_equal(a.token_scores, b.token_scores), "dropout must be off while explaining"
    assert np.all(a.completeness_gap <= 0.01)


def test_blocks_subset_and_policy_exit(family_model):
    _, model, tok = family_model
    full = salience(model, tok, "the music is lovely", method="grad_x_input")
    part = salience(model, tok, "the music is lovely", method="grad_x_input", blocks=[2, 0])
    assert part.token_scores.shape == (2, len(full.tokens)) and part.blocks.tolist() == [2, 0]
    assert np.allclose(part.token_scores, full.token_scores[[2, 0]], atol=1e-6)
    pol = make_policy("maxprob", threshold=0.8)
    sal = salience(model, tok, "the music is lovely", method="rollout", policy=pol)
    assert sal.exit_block == decide(pol, record(model, tok, ["the music is lovely"])).exit_block[0]


# ── gradient × input, rollout, attention ────────────────────────────────────────────────────────────

def test_grad_x_input_equals_autograd_through_the_full_forward(family_model):
    """The batched per-exit forward (each row stops at its block) gives the gradients of model.forward."""
    family, model, tok = family_model
    text = "her performance was not smart ."
    sal = salience(model, tok, text, method="grad_x_input")
    enc = encode_words(tok, text, None, model.cfg.max_len)
    assert sal.token_scores.shape == (model.cfg.n_blocks, len(enc.tokens))
    seen = {}

    def keep(module, inputs, output):          # the word-embedding output, with its gradient kept
        output.retain_grad()
        seen["e"] = output

    for b in range(model.cfg.n_blocks):
        hook = model.embeddings.word.register_forward_hook(keep)
        try:
            out = model(enc.input_ids, enc.attention_mask, enc.token_type_ids).logits[0, b, sal.target[b]]
            out.backward()
        finally:
            hook.remove()
        e = seen["e"]
        want = (e.grad * e).sum(-1)[0].detach().double().numpy()
        assert np.allclose(sal.token_scores[b], want, atol=1e-5), (family, b)


def test_rollout_rows_are_distributions(family_model):
    _, model, tok = family_model
    sal = salience(model, tok, "the story is fresh", "the plot is not good", method="rollout")
    assert sal.token_scores.shape == (model.cfg.n_blocks, len(sal.tokens))
    assert np.all(sal.token_scores >= 0) and np.allclose(sal.token_scores.sum(-1), 1.0)
    assert sal.delta is None and sal.completeness_gap is None


@pytest.mark.parametrize("text_b", [None, "the cast is great"])
def test_attention_shapes_normalisation_and_agreement_with_the_block(family_model, text_b):
    """Rows sum to 1, and weights · V through the output projection reproduce SelfAttention.forward."""
    family, model, tok = family_model
    text = "this movie is not funny"
    maps = attention(model, tok, text, text_b)
    enc = encode_words(tok, text, text_b, model.cfg.max_len)
    t, cfg = len(enc.tokens), model.cfg
    assert maps.shape == (cfg.n_blocks, cfg.n_heads, t, t)
    assert np.all(maps >= 0) and np.allclose(maps.sum(-1), 1.0, atol=1e-5)
    with torch.no_grad():
        out = model(enc.input_ids, enc.attention_mask, enc.token_type_ids, return_hidden=True)
        x = model.embed(enc.input_ids, enc.token_type_ids)
        bias = model.attention_bias(enc.attention_mask)
        for b, blk in enumerate(model.blocks):
            v = blk.attn.value(x).view(1, t, cfg.n_heads, cfg.head_dim).transpose(1, 2)       # (1, H, T, Dh)
            y = blk.attn.out((torch.from_numpy(maps[b])[None] @ v).transpose(1, 2).reshape(1, t, -1))
            assert torch.allclose(y, blk.attn(x, bias), atol=1e-5), (family, b)
            x = out.hidden[b]


# ── words ───────────────────────────────────────────────────────────────────────────────────────────

def test_word_pieces_merge_back_to_the_original_words():
    tok = train_wordpiece(["un bel iev ably wit ty sed uct ive"] * 5, vocab_size=60, min_frequency=1)
    text = "Unbelievably witty,  seductive"
    enc = encode_words(tok, text)
    assert any(p.startswith("##") for p in enc.tokens), enc.tokens
    assert enc.words == ["[CLS]", "Unbelievably", "witty", ",", "seductive", "[SEP]"]
    for w, (s, e), seg in zip(enc.words, enc.word_spans, enc.word_segment):
        assert seg == -1 or text[s:e] == w
    torch.manual_seed(0)
    model = MultiExitEncoder(preset("tiny", vocab_size=tok.get_vocab_size()))
    sal = salience(model, tok, text, method="grad_x_input")
    want = np.stack([[sal.token_scores[b, enc.word_of_token == w].sum() for w in range(len(enc.words))]
                     for b in range(model.cfg.n_blocks)])
    assert np.allclose(sal.word_scores, want) and sal.words == enc.words
    assert sal.is_special.tolist() == [True, False, False, False, False, True]


def test_long_text_is_truncated_like_record(not_model):
    model, tok = not_model
    text, text_b = " ".join(["the film is good"] * 30), " ".join(["the cast is fun"] * 10)
    for b in (None, text_b):
        enc = encode_words(tok, text, b, model.cfg.max_len)
        ref = encode_batch(tok, [text], None if b is None else [b], model.cfg.max_len)["input_ids"]
        assert torch.equal(enc.input_ids, ref) and len(enc.tokens) == model.cfg.max_len
        assert len(enc.word_of_token) == model.cfg.max_len


# ── counterfactuals ─────────────────────────────────────────────────────────────────────────────────

def test_search_finds_the_deletion_of_not(not_model):
    model, tok = not_model
    text = "the film is not charming"
    assert record(model, tok, [text]).preds[0, -1] == 0, "the fixture model must have learnt 'not'"
    pol = make_policy("maxprob", threshold=0.9)
    edits = counterfactuals(model, tok, text, pol, max_edits=50)
    dele = [e for e in edits if e.op == "delete" and e.old == "not"]
    assert len(dele) == 1 and dele[0].text == "the film is charming"
    assert "prediction_flipped" in dele[0].kinds and (dele[0].old_pred, dele[0].new_pred) == (0, 1)
    assert dele[0].describe == "delete 'not'" and dele[0].anchor == "not" and dele[0].preds[-1] == 1
    assert any(e.op == "substitute" and e.old == "not" for e in edits), "not → very should flip it as well"
    keys = [(e.distance, e.signal_change) for e in edits]
    assert keys == sorted(keys)


def test_every_edit_agrees_with_an_independent_record(not_model):
    """Each reported exit, prediction and effect is what record + decide say for the edited sentence."""
    model, tok = not_model
    pol = make_policy("entropy", threshold=0.2)
    for text, label in [("the plot is not clever .", None), ("the music was lovely", 1)]:
        edits = counterfactuals(model, tok, text, pol, label=label, max_edits=100)
        assert edits
        orig = record(model, tok, [text])
        o = decide(pol, orig)
        ref = o.pred[0] if label is None else label

        def over(p, ref=ref):
            return bool((p[:-1] == ref).any() and p[-1] != ref)

        for e in edits:
            tr = record(model, tok, [e.text])
            ex = decide(pol, tr)
            assert (e.old_exit, e.old_pred) == (o.exit_block[0], o.pred[0])
            assert (e.new_exit, e.new_pred) == (ex.exit_block[0], ex.pred[0]) and np.array_equal(e.preds, tr.preds[0])
            assert np.allclose(e.signal, pol.signal(tr)[0], atol=1e-5)
            want = {"exit_moved": e.new_exit != e.old_exit, "prediction_flipped": e.new_pred != e.old_pred,
                    "overthinking_created": over(tr.preds[0]) and not over(orig.preds[0]),
                    "overthinking_removed": over(orig.preds[0]) and not over(tr.preds[0])}
            assert set(e.kinds) == {k for k, v in want.items() if v} != set()


def test_pair_search_edits_both_sentences(not_model):
    model, tok = not_model
    edits = counterfactuals(model, tok, "the film is not good", make_policy("maxprob", threshold=0.99),
                            text_b="the cast is fun", max_edits=200)
    assert {e.side for e in edits} <= {0, 1}
    for e in edits:
        assert (e.text == "the film is not good") != (e.text_b == "the cast is fun")   # one side changed


def test_candidates_cover_deletions_substitutions_insertions():
    table = substitution_table({"film": ["movie"]})
    cands = candidates("The film is good, not bad", table)
    texts = {c[-1] for c in cands}
    assert "The film is, not bad" in texts                       # delete "good": its space goes, the comma stays
    assert "The film is good, bad" in texts                     # delete "not"
    assert "The movie is good, not bad" in texts                 # the extra vocabulary
    assert "The film is bad, not bad" in texts                  # antonym
    assert "The film is not good, not bad" in texts              # "not" after a copula
    assert "The film is very good, not bad" in texts             # "very" before a content word
    assert "Not the film is good, not bad" not in texts          # not before a determiner-led phrase start
    assert len(texts) == len(cands) and all("  " not in t for t in texts)
    assert all(op in ("delete", "substitute", "insert") for op, *_ in cands)
    very = [c for c in cands if c[-1] == "The film is very good, not bad"]
    assert very[0][:5] == ("insert", 3, "good", "", "very")              # before word 3 ("good"), 0-based


# ── bad input ───────────────────────────────────────────────────────────────────────────────────────

def test_bad_input_gets_clear_errors(not_model):
    model, tok = not_model
    pol = make_policy("maxprob", threshold=0.9)
    for text in ("", "   \n"):
        with pytest.raises(ValueError, match="empty"):
            salience(model, tok, text)
        with pytest.raises(ValueError, match="empty"):
            counterfactuals(model, tok, text, pol)
        with pytest.raises(ValueError, match="empty"):
            attention(model, tok, text)
    with pytest.raises(ValueError, match="text_b is empty"):
        salience(model, tok, "good", " ")
    with pytest.raises(TypeError, match="string"):
        salience(model, tok, None)
    with pytest.raises(ValueError, match="unknown salience method 'lime'.*'ig'"):
        salience(model, tok, "good", method="lime")
    for steps in (0, 2.5, True):
        with pytest.raises(ValueError, match="steps"):
            salience(model, tok, "good", steps=steps)
    with pytest.raises(ValueError, match="0..2"):
        salience(model, tok, "good", blocks=[3])
    with pytest.raises(ValueError, match="no token"):
        salience(model, tok, "\u200b\u200b")
    with pytest.raises(TypeError, match="cannot explain a Linear"):
        salience(torch.nn.Linear(2, 2), tok, "good")
    with pytest.raises(ValueError, match="max_edits"):
        counterfactuals(model, tok, "good film", pol, max_edits=0)
    with pytest.raises(TypeError, match="make_policy"):
        counterfactuals(model, tok, "good film", "entropy")
    with pytest.raises(ValueError, match="'oracle'.*needs labels.*label="):
        counterfactuals(model, tok, "good film", make_policy("oracle"))
    oracle = counterfactuals(model, tok, "the film is not good", make_policy("oracle"), label=0, max_edits=100)
    assert any(e.op == "delete" and e.old == "not" and "prediction_flipped" in e.kinds for e in oracle)
    with pytest.raises(TypeError, match="list of replacements"):
        counterfactuals(model, tok, "good film", pol, vocab={"good": "bad"})


# ── the shipped models (real checkpoints; several seconds each on a loaded CPU) ─────────────────────

@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_ig_is_complete_on_shipped_models(name):
    from core.model import checkpoint

    d = ASSET_MODELS / name
    model, tok = checkpoint.load(d), checkpoint.load_tokenizer(d)
    text_b = "the company said its profit fell ." if "mrpc" in name else None
    sal = salience(model, tok, "the company said its quarterly profit rose , not fell .", text_b)
    assert isinstance(sal, Salience) and np.all(sal.completeness_gap <= 0.01), sal.completeness_gap

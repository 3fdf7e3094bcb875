"""The Playground's why panel and counterfactual editor, and the Learn page's overthinking salience, through
AppTest on the tiny fixture models: what the page shows equals what core.explain computes on the same
sentence."""
import base64
import json

import numpy as np
import pytest

from app.editor import plain
from core.explain import attention, counterfactuals, salience
from core.model import checkpoint
from core.policies import decide, make_policy
from core.run import record
from tests.conftest import metric_value, submit_sentence

TEXT = "a gorgeous , witty and moving film that never loses its nerve ."


def _load(models, name):
    return checkpoint.load(models / name), checkpoint.load_tokenizer(models / name)


def _table(at, first_column):
    return next(d.value for d in at.dataframe if d.value.columns[0] == first_column)


def _figure(at, title_part):
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        title = spec["layout"].get("title", {})
        if title_part in (title.get("text", "") if isinstance(title, dict) else str(title)):
            return spec
    raise AssertionError(f"no chart titled …{title_part}…")


def _array(v) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed-array form {"dtype", "bdata", "shape"}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return a.reshape([int(n) for n in str(v.get("shape", len(a))).split(",")])
    return np.asarray(v)


def _exit(model, tok, text, policy, text_b=None):
    tr = record(model, tok, [text], None if text_b is None else [text_b], batch_size=1)
    return int(decide(policy, tr).exit_block[0])


def test_why_panel_numbers_equal_core(make_app, app_env):
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, TEXT)
    assert not at.exception
    model, tok = _load(app_env, "tiny-sst2")
    sal = salience(model, tok, TEXT, method="grad_x_input")
    keep = ~sal.is_special
    shown = _table(at, "word")
    assert list(shown["word"]) == [w for w, k in zip(sal.words, keep) if k]
    np.testing.assert_allclose(shown.iloc[:, 1:].to_numpy(float).T, sal.word_scores[:, keep], rtol=1e-5, atol=1e-9)
    names = ["negative", "positive"]
    assert list(shown.columns[1:]) == [f"block {b + 1} ({names[c]})" for b, c in enumerate(sal.target)]
    heat = _figure(at, "gradient × input per word and block")
    e = _exit(model, tok, TEXT, make_policy("maxprob", threshold=0.6))
    (rect,) = heat["layout"]["shapes"]
    assert rect["x0"] == e + 0.5 and heat["layout"]["annotations"][0]["text"] == "<b>exit</b>"
    assert any(f"**Block {e + 1}** (the exit" in m.value for m in at.markdown)


def test_integrated_gradients_waits_for_its_button(make_app, app_env):
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, TEXT)
    at.button_group(key="pg_why_method").set_value("ig").run()
    assert not at.exception
    assert not any(d.value.columns[0] == "word" for d in at.dataframe)      # nothing computed yet
    at.button(key="pg_why_ig").click().run()
    assert not at.exception
    model, tok = _load(app_env, "tiny-sst2")
    sal = salience(model, tok, TEXT, method="ig", steps=32)
    keep = ~sal.is_special
    np.testing.assert_allclose(_table(at, "word").iloc[:, 1:].to_numpy(float).T, sal.word_scores[:, keep],
                               rtol=1e-4, atol=1e-7)
    assert any("Completeness" in c.value for c in at.caption)
    at.run()                                                               # cached: shown without the button
    assert "pg_why_ig" not in [b.key for b in at.button]
    assert any(d.value.columns[0] == "word" for d in at.dataframe)


def test_attention_view_equals_core(make_app, app_env):
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, TEXT)
    model, tok = _load(app_env, "tiny-sst2")
    maps = attention(model, tok, TEXT)                                      # (L, H, T, T)
    np.testing.assert_allclose(_array(_figure(at, "average of the heads")["data"][0]["z"]),
                               maps[_exit(model, tok, TEXT, make_policy("maxprob", threshold=0.6))].mean(0),
                               rtol=1e-5, atol=1e-7)
    at.selectbox(key="pg_att_block").set_value(2).run()
    at.selectbox(key="pg_att_head").set_value(1).run()
    np.testing.assert_allclose(_array(_figure(at, "Block 2, head 1")["data"][0]["z"]), maps[1, 0], rtol=1e-5, atol=1e-7)


def test_editor_exit_blocks_equal_core(make_app, app_env):
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, TEXT)
    assert at.text_input(key="pg_cf_text").value == TEXT                    # starts as the Playground's sentence
    edited = TEXT.replace("gorgeous", "dreadful").replace("witty", "dull")
    at.text_input(key="pg_cf_text").input(edited).run()
    assert not at.exception
    model, tok = _load(app_env, "tiny-sst2")
    pol = make_policy("maxprob", threshold=0.6)
    n = model.cfg.n_blocks
    assert metric_value(at, "exit block (original)") == f"{_exit(model, tok, TEXT, pol) + 1} of {n}"
    assert metric_value(at, "exit block (edited)") == f"{_exit(model, tok, edited, pol) + 1} of {n}"
    assert metric_value(at, "exit block") == metric_value(at, "exit block (original)")      # the Playground's own exit
    next(b for b in at.button if b.key == "pg_cf_reset").click().run()
    assert at.text_input(key="pg_cf_text").value == TEXT


def test_find_edits_lists_core_edits_and_loads_one(make_app, app_env):
    text = "the plot is thin but the actors are having fun ."
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, text)
    model, tok = _load(app_env, "tiny-sst2")
    want = counterfactuals(model, tok, text, make_policy("maxprob", threshold=0.6), max_edits=20)
    assert want, "the fixture model should have edits that move this sentence's exit"
    want = sorted(want, key=lambda e: "prediction_flipped" not in e.kinds)          # the page lists flips first
    assert not any((b.key or "").startswith("pg_cf_edit_") for b in at.button)       # only after the button
    at.button(key="pg_cf_find").click().run()
    assert not at.exception
    listed = [b for b in at.button if (b.key or "").startswith("pg_cf_edit_")]
    assert [b.label for b in listed] == [plain(e.describe) for e in want]
    j = len(want) - 1
    at.button(key=f"pg_cf_edit_{j}").click().run()
    assert at.text_input(key="pg_cf_text").value == want[j].text
    assert metric_value(at, "exit block (edited)") == f"{want[j].new_exit + 1} of {model.cfg.n_blocks}"
    assert metric_value(at, "exit block (original)") == f"{want[j].old_exit + 1} of {model.cfg.n_blocks}"
    assert [b.label for b in at.button if (b.key or "").startswith("pg_cf_edit_")] == [b.label for b in listed]


def test_user_html_is_escaped_in_the_panel(make_app):
    at = make_app()
    submit_sentence(at, "<script>alert(1)</script> a <b>bold</b> film")
    assert not at.exception
    assert not any("<script>" in m.value or "<b>bold" in m.value for m in at.markdown)
    assert any("&lt;" in m.value and "script" in m.value for m in at.markdown)     # shown, as text


def test_pair_model_explains_both_sentences(make_app, app_env):
    at = make_app(model="tiny-mrpc", policy="patience", threshold="1")
    a, b = "The company said profits rose .", "Profits went up , the company said ."
    submit_sentence(at, a, b)
    assert not at.exception
    model, tok = _load(app_env, "tiny-mrpc")
    sal = salience(model, tok, a, b, method="grad_x_input")
    assert list(_table(at, "word")["word"]) == [w for w, s in zip(sal.words, sal.is_special) if not s]
    assert at.text_input(key="pg_cf_text_b").value == b
    at.text_input(key="pg_cf_text_b").input("Profits fell , the company said .").run()
    assert not at.exception
    e = _exit(model, tok, a, make_policy("patience", threshold=1), "Profits fell , the company said .")
    assert metric_value(at, "exit block (edited)") == f"{e + 1} of 3"


@pytest.mark.parametrize("policy", ["oracle", "edr"])
def test_editor_with_a_label_policy_or_prototypes(make_app, policy):
    at = make_app(policy=policy)
    submit_sentence(at, TEXT)
    assert not at.exception
    if policy == "oracle":                                   # the edited sentence has no label to exit on
        assert any("cannot decide an edited sentence" in i.value for i in at.info)
    else:
        assert metric_value(at, "exit block (edited)")


def test_learn_overthinking_shows_what_early_and_late_blocks_read(make_app, app_env, dev_trace):
    at = make_app(page="learn", topic="overthinking")
    assert not at.exception and not at.error
    i = int(at.selectbox(key="ln_over").value)
    y = int(dev_trace.labels[i])
    early = int(np.flatnonzero(dev_trace.preds[i, :-1] == y)[0])
    model, tok = _load(app_env, "tiny-sst2")
    sal = salience(model, tok, dev_trace.texts[i], method="grad_x_input")
    keep = ~sal.is_special
    words = [w for w, k in zip(sal.words, keep) if k]
    heat = _figure(at, "What every block read")
    np.testing.assert_allclose(np.array(heat["data"][0]["customdata"])[..., 0].astype(float),
                               sal.word_scores[:, keep].T, rtol=1e-5, atol=1e-9)
    assert [a["text"] for a in heat["layout"]["annotations"]] == ["<b>right</b>", "<b>wrong</b>"]
    assert heat["layout"]["shapes"][0]["x0"] == early + 0.5
    row = sal.word_scores[early, keep]
    top = list(dict.fromkeys(words[j] for j in np.argsort(-row, kind="stable") if row[j] > 0))[:3]
    assert any(c.value.startswith(f"Block {early + 1} leaned most on " + ", ".join(f"“{w}”" for w in top))
               for c in at.caption)
    assert any(m.value.startswith(f"**Block {early + 1}** says") for m in at.markdown)


def test_a_new_sentence_is_run_once(make_app, monkeypatch):
    """A new sentence on the Playground, as the page opens (record, the why panel's default salience, attention,
    the editor), costs at most 2 forwards of the vocabulary table: the recording's, and the one whose rows
    salience differentiates and attention is read from (issue 18: a sentence is run once)."""
    import torch

    calls = []
    forward = torch.nn.Embedding.forward

    def counting(self, ids):
        if self.num_embeddings > 512:                  # the vocabulary, not positions or segments
            calls.append(tuple(ids.shape))
        return forward(self, ids)

    at = make_app()
    monkeypatch.setattr(torch.nn.Embedding, "forward", counting)
    submit_sentence(at, "a brand new sentence nobody typed before , and it is not bad at all")
    assert not at.exception
    assert any("Attention" in m.value for m in at.markdown)             # the page drew the attention view
    assert len(calls) <= 2, calls
    assert len(calls) >= 1                                              # the counter sees the real forwards


def test_a_new_sentence_is_tokenized_once(make_app, monkeypatch):
    """Every tokenization goes through core.model.encoding's library copies: counted there, a new Playground
    sentence is tokenized once as the page opens — the recording, the sentence run (words for salience and
    attention) and the editor's reading window share one encoding — where it was about 9 (issue 18)."""
    import core.model.encoding as encoding

    texts = []

    class Counting:                      # a library tokenizer that notes what it encodes
        def __init__(self, tokenizer):
            self._tokenizer = tokenizer

        def encode(self, text, *args, **kwargs):
            texts.append(text)
            return self._tokenizer.encode(text, *args, **kwargs)

        def encode_batch(self, items, *args, **kwargs):
            texts.extend(items)
            return self._tokenizer.encode_batch(items, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._tokenizer, name)

    at = make_app()
    configured, bare = encoding.configured, encoding.bare
    monkeypatch.setattr(encoding, "configured", lambda *a, **k: Counting(configured(*a, **k)))
    monkeypatch.setattr(encoding, "bare", lambda tokenizer: Counting(bare(tokenizer)))
    text = "a sentence no other test types : the cast is lively but the plot is not"
    submit_sentence(at, text)
    assert not at.exception
    assert texts and all(t == text for t in texts), texts          # the counter sees this sentence, and only it
    assert len(texts) == 1, len(texts)

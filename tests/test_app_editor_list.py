"""The counterfactual list (issue 20, item 10): which of two equal words an edit touches, no "overthinking"
without a label, prediction flips first and never hidden, and a long text searched only where the model reads."""
import time

from app.editor import plain
from core import checkpoint
from core.explain import counterfactuals, read_prefix, word_context
from core.policies import make_policy
from core.run import record_one
from tests.conftest import submit_sentence


def _listed(at):
    return [b for b in at.button if (b.key or "").startswith("pg_cf_edit_")]


def test_a_repeated_word_says_which_one(make_app, app_env):
    text = "i said i liked the film , but i did not ."
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, text)
    at.button(key="pg_cf_find").click().run()
    assert not at.exception
    tok = checkpoint.load_tokenizer(app_env / "tiny-sst2")
    model = checkpoint.load(app_env / "tiny-sst2")
    found = counterfactuals(model, tok, text, make_policy("maxprob", threshold=0.6), max_edits=20)
    deletes_i = [e for e in found if e.op == "delete" and e.old == "i"]
    shown = {b.label: b.help for b in _listed(at)}
    for e in deletes_i:
        where = word_context(text, e.position)
        assert where.startswith(f"word {e.position + 1} of ") and "“" in where
        assert shown[plain(e.describe)] is not None
    assert word_context(text, 3) is None                 # "liked" occurs once: its name is enough
    helps = [b.help for b in _listed(at) if b.label == plain("delete 'i'")]
    assert len(set(helps)) == len(helps)                 # two "delete 'i'" never look the same


def test_without_a_label_nothing_is_called_overthinking(make_app):
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, "the plot is thin but the actors are having fun .")
    at.button(key="pg_cf_find").click().run()
    words = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "No true label is given" in words
    assert "creates overthinking" not in words and "removes overthinking" not in words


def test_flips_come_first_and_no_scroll_box_hides_them(make_app, app_env):
    text = "the plot is thin but the actors are having fun ."
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, text)
    at.button(key="pg_cf_find").click().run()
    model, tok = checkpoint.load(app_env / "tiny-sst2"), checkpoint.load_tokenizer(app_env / "tiny-sst2")
    found = counterfactuals(model, tok, text, make_policy("maxprob", threshold=0.6), max_edits=20)
    flips = [plain(e.describe) for e in found if "prediction_flipped" in e.kinds]
    labels = [b.label for b in _listed(at)]
    assert labels[:len(flips)] == flips and len(labels) == len(found)
    assert not [c for c in at.get("vertical_block") if getattr(c.proto, "height", 0)]   # no fixed-height box


def test_a_long_text_is_searched_only_where_the_model_reads(make_app, app_env):
    tok = checkpoint.load_tokenizer(app_env / "tiny-sst2")
    model = checkpoint.load(app_env / "tiny-sst2")
    words = ("the film is good and the actors are fun but the plot is thin . " * 400).split()   # 5,600 words
    text = " ".join(words)
    read, _ = read_prefix(tok, text, None, 128)
    assert 0 < len(read.split()) < 200 and text.startswith(read)
    # the model reads the same tokens from the prefix as from the whole text: the same trip
    whole, _ = record_one(model, tok, text, max_len=128)
    part, _ = record_one(model, tok, read, max_len=128)
    assert (whole.logits == part.logits).all()
    at = make_app(policy="maxprob", threshold="0.6")
    submit_sentence(at, text)
    assert any("the search edits only the words it reads" in c.value for c in at.caption)
    t0 = time.perf_counter()
    at.button(key="pg_cf_find").click().run()
    assert not at.exception and time.perf_counter() - t0 < 20
    listed = _listed(at)
    if listed:                                            # loading an edit puts the unread rest back
        listed[0].click().run()
        loaded = at.text_input(key="pg_cf_text").value
        assert loaded.endswith(text[len(read):]) and len(loaded.split()) > 5000

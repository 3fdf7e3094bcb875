"""The Playground page through AppTest: what it shows equals what core computes on the same sentence."""
import numpy as np
import pytest

from core.policies import decide, make_policy
from tests.conftest import core_run, metric_value, submit_sentence


def _core_exit(models, name, text, policy, text_b=None, label=None, **params):
    ex, tr = core_run(models, name, text, policy, text_b, label, **params)
    return int(ex.exit_block[0]) + 1, tr


def test_typed_sentence_exit_block_equals_core(make_app, app_env):
    at = make_app(policy="maxprob", threshold="0.6")
    text = "a gorgeous , witty and moving film that never loses its nerve ."
    submit_sentence(at, text)
    assert not at.exception
    want, tr = _core_exit(app_env, "tiny-sst2", text, "maxprob", threshold=0.6)
    assert metric_value(at, "exit block") == f"{want} of {tr.n_blocks}"
    pred = int(decide(make_policy("maxprob", threshold=0.6), tr).pred[0])
    assert metric_value(at, "prediction").startswith(tr.label_names[pred])
    assert at.query_params["text"] == text
    assert metric_value(at, "layer speed-up") == f"{tr.n_blocks / want:.2f}×"


def test_moving_the_threshold_moves_the_exit(make_app):
    at = make_app(policy="entropy")
    submit_sentence(at, "the plot is thin but the actors are having fun .")
    at.slider(key="sb_thr_entropy").set_value(float(np.log(2))).run()      # everything is below ln 2: exit 1
    assert metric_value(at, "exit block").startswith("1 of")
    at.slider(key="sb_thr_entropy").set_value(0.0).run()                    # nothing is below 0: the last block
    assert metric_value(at, "exit block") == "4 of 4"
    assert at.query_params["threshold"] == "0"


def test_what_if_slider_moves_the_exit_and_applies_to_the_sidebar(make_app):
    at = make_app(policy="entropy", threshold="0")
    assert metric_value(at, "exit block") == "4 of 4"
    at.slider(key="pg_whatif").set_value(float(np.log(2))).run()
    assert metric_value(at, "exit block").startswith("1 of")
    assert at.slider(key="sb_thr_entropy").value == 0.0                       # the sidebar did not move
    next(b for b in at.button if b.label == "apply to sidebar").click().run()
    assert at.slider(key="sb_thr_entropy").value == pytest.approx(np.log(2))
    assert metric_value(at, "exit block").startswith("1 of")


def test_example_pill_runs_that_sentence(make_app):
    at = make_app()
    pills = at.button_group(key="pg_example")
    pills.set_value(pills.options[2]).run()
    assert not at.exception
    assert at.text_area(key="pg_text").value.startswith(pills.options[2].rstrip("…"))


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_input_asks_for_a_sentence(make_app, text):
    at = make_app()
    submit_sentence(at, text)
    assert not at.exception
    assert any("Type a sentence" in i.value for i in at.info)
    assert not at.metric


def test_very_long_text_is_truncated_with_a_caption(make_app):
    at = make_app()
    submit_sentence(at, "good " * 20000)
    assert not at.exception
    assert any("truncated" in c.value for c in at.caption)
    assert metric_value(at, "exit block")
    assert len(at.query_params["text"]) <= 500


def test_html_in_text_is_shown_as_text(make_app):
    at = make_app()
    submit_sentence(at, "<script>alert(1)</script> <b>bold</b> film")
    assert not at.exception
    assert not any("<script>" in m.value for m in at.markdown)   # never rendered as markdown / HTML


def test_pair_model_has_two_text_areas(make_app, app_env):
    at = make_app(model="tiny-mrpc", policy="patience", threshold="1")
    assert [t.key for t in at.text_area] == ["pg_text", "pg_text_b"]     # a pair model: a second text box
    a, b = "The company said profits rose .", "Profits went up , the company said ."
    submit_sentence(at, a, b)
    want, tr = _core_exit(app_env, "tiny-mrpc", a, "patience", text_b=b, threshold=1)
    assert metric_value(at, "exit block") == f"{want} of {tr.n_blocks}"


def test_oracle_needs_and_uses_the_label(make_app, app_env):
    at = make_app(policy="oracle")
    at.selectbox(key="pg_label").set_value("unknown")
    submit_sentence(at, "a dull , lifeless movie .")
    assert any("needs the true label" in i.value for i in at.info)
    at.selectbox(key="pg_label").set_value("negative")
    submit_sentence(at, "a dull , lifeless movie .")
    want, _ = _core_exit(app_env, "tiny-sst2", "a dull , lifeless movie .", "oracle", label=0)
    assert metric_value(at, "exit block").startswith(f"{want} of")


@pytest.mark.parametrize("policy", ["norm_entropy", "frac_reduction", "edr", "lte", "patience"])
def test_every_policy_renders(make_app, policy):
    at = make_app(policy=policy)
    assert at.sidebar.selectbox(key="sb_policy").value == policy
    assert metric_value(at, "exit block")


def test_switching_to_a_pair_model_starts_from_its_examples(make_app):
    at = make_app()
    submit_sentence(at, "a fine film .")
    at.sidebar.selectbox(key="sb_model").set_value("tiny-mrpc").run()
    assert not at.exception and not at.info
    assert at.text_area(key="pg_text_b").value                      # a pair, ready to run
    assert next(m.value for m in at.metric if m.label == "exit block").endswith("of 3")


def test_switching_to_a_pair_model_starts_from_its_own_examples(make_app):
    """The Playground of an SST-2 model, then the MRPC model from the sidebar: both sentences come from MRPC's
    examples (not the SST-2 example beside an MRPC second sentence)."""
    from core.data import load_task
    at = make_app(model="tiny-sst2")
    sst2_text = at.text_area(key="pg_text").value
    at.sidebar.selectbox(key="sb_model").set_value("tiny-mrpc").run()
    assert not at.exception, [e.value for e in at.exception]
    mrpc = load_task("mrpc", "validation", limit=12)
    pair = (at.text_area(key="pg_text").value, at.text_area(key="pg_text_b").value)
    assert pair[0] != sst2_text
    assert pair in set(zip(mrpc["text"], mrpc["text_b"]))

"""What a new user hit in a real browser (issue "what a new user hits"), each fixed and held here through AppTest:
settings that survive a widget's absence, the label that belongs to its text, the "why" in words, a loss shown
as a loss, counts that agree, escaped hover text, and one source of truth for thresholds."""
import numpy as np
import pytest

from app import charts
from core.analysis import primary_cohort
from core.policies import POLICIES, decide, make_policy
from tests.conftest import submit_sentence


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


def test_the_what_if_threshold_survives_an_empty_run(make_app):
    at = make_app(policy="entropy", threshold="0.3")
    at.slider(key="pg_whatif").set_value(0.6).run()
    submit_sentence(at, "   ")                                              # no sentence: the slider is not drawn
    assert any("Type a sentence" in i.value for i in at.info)
    submit_sentence(at, "a warm and funny film .")
    assert at.slider(key="pg_whatif").value == pytest.approx(0.6)          # not 0.000
    assert at.number_input(key="pg_whatif_num").value == pytest.approx(0.6)


def test_the_limit_survives_a_detour_through_the_probe_sentences(make_app):
    at = make_app(page="thresholds", limit="300")
    at.sidebar.radio(key="sb_data").set_value("probes").run()
    assert not at.sidebar.get("number_input") or all(w.key != "sb_limit" for w in at.sidebar.number_input)
    at.sidebar.radio(key="sb_data").set_value("glue").run()
    assert at.sidebar.number_input(key="sb_limit").value == 300           # not 0 ("all")
    assert at.query_params["limit"] == "300"


def test_a_typed_sentence_does_not_inherit_the_examples_label(make_app):
    at = make_app()
    assert at.selectbox(key="pg_label").value != "unknown"                 # the first example brings its label
    submit_sentence(at, "<script>alert(1)</script> what a film")
    assert at.selectbox(key="pg_label").value == "unknown"
    pred = _metric(at, "prediction").value
    assert "✓" not in pred and "✗" not in pred and "label" not in at.query_params
    at.selectbox(key="pg_label").set_value("positive")                     # a label the user gives is kept
    next(b for b in at.button if b.label == "Run").click()
    at.run()
    assert at.selectbox(key="pg_label").value == "positive" and at.query_params["label"] == "positive"


@pytest.mark.parametrize("policy, threshold", [("entropy", "0.3"), ("maxprob", "0.7"), ("patience", "2"),
                                               ("margin", "0.5"), ("frac_reduction", "0.1"), ("edr", "0.4"),
                                               ("norm_entropy", "0.5"), ("lte", "0.5")])
def test_the_exit_is_explained_in_words_in_the_policys_own_terms(make_app, app_env, policy, threshold):
    at = make_app(policy=policy, threshold=threshold)
    text = "a gorgeous , witty , seductive movie ."
    submit_sentence(at, text)
    why = next(m.value for m in at.markdown if m.value.startswith("**Why:**"))
    from core.model import checkpoint
    from core.run import record
    model, tok = checkpoint.load(app_env / "tiny-sst2"), checkpoint.load_tokenizer(app_env / "tiny-sst2")
    tr = record(model, tok, [text], batch_size=1)
    pol = make_policy(policy, threshold=float(threshold))
    assert why == f"**Why:** {pol.reason(tr, 0, decide(pol, tr))}."
    assert POLICIES[policy].symbol in why and ("exited at block" in why or "ran all" in why)


@pytest.mark.parametrize("threshold", ["0.69", "0.0"])         # nearly all exit at block 1 / none exits early
def test_an_accuracy_loss_is_red_a_gain_green_and_no_change_grey(make_app, dev_trace, threshold):
    from streamlit.proto.Metric_pb2 import Metric

    from core.analysis import metric
    at = make_app(page="thresholds", policy="entropy", threshold=threshold)
    m = _metric(at, "accuracy")
    ex = decide(make_policy("entropy", threshold=float(threshold)), dev_trace)
    full = metric("accuracy", dev_trace.labels, dev_trace.preds[:, -1])
    change = metric("accuracy", dev_trace.labels, ex.pred) - full
    if threshold == "0.0":
        assert change == 0
    assert m.delta == (f"{change:+.4f} vs full model" if round(change, 4) else "±0.0000 vs full model")
    want = "RED" if round(change, 4) < 0 else "GREEN" if round(change, 4) > 0 else "GRAY"
    assert Metric.MetricColor.Name(m.proto.color) == want


def test_the_certified_change_reads_like_the_headline(make_app, dev_trace):
    """The certified section says the metric at the certified threshold with its signed change, not a 'drop'
    whose minus sign means a gain."""
    from streamlit.proto.Metric_pb2 import Metric
    at = make_app(page="thresholds", policy="entropy")
    m = _metric(at, "accuracy, report data")
    value, change = float(m.value), float(m.delta.split()[0].replace("±", ""))
    assert not any(x.label.endswith(" drop") for x in at.metric)
    assert m.delta.endswith("vs full")
    assert Metric.MetricColor.Name(m.proto.color) == ("RED" if change < 0 else "GREEN" if change > 0 else "GRAY")
    assert 0 <= value <= 1


def test_the_map_legend_and_the_headline_count_the_same_samples(dev_trace):
    from core.analysis import COHORT_LABELS, cohorts
    groups = primary_cohort(dev_trace)
    totals = {k: len(v) for k, v in cohorts(dev_trace).items()}
    fig = charts.projection_scatter(np.zeros((dev_trace.n, 2)), groups, dev_trace.texts, group_labels=COHORT_LABELS,
                                    totals=totals)
    assert len(fig.data) == len(set(groups))
    for trace in fig.data:
        g = next(g for g in set(groups) if trace.name.startswith(COHORT_LABELS[g] + " ("))
        shown, total = int(np.sum(groups == g)), totals.get(g, int(np.sum(groups == g)))
        assert trace.name == f"{COHORT_LABELS[g]} ({shown}" + (f" here of {total})" if total != shown else ")")


def test_text_from_the_data_is_escaped_in_hover_labels():
    fig = charts.projection_scatter(np.zeros((2, 2)), np.array(["wrong", "wrong"], dtype=object),
                                    ["<b>bold</b> claim", "fine"])
    assert list(fig.data[0].text) == ["&lt;b&gt;bold&lt;/b&gt; claim", "fine"]


def test_the_learn_slider_starts_where_the_sidebar_is(make_app):
    at = make_app(page="learn", topic="entropy", policy="entropy", threshold="0.42")
    assert at.slider(key="ln_entropy").value == pytest.approx(0.42)       # not a value of its own
    assert at.number_input(key="ln_entropy_num").value == pytest.approx(0.42)


def test_the_learn_slider_follows_later_sidebar_moves_and_keeps_its_own_until_then(make_app):
    at = make_app(page="learn", topic="entropy", policy="entropy", threshold="0.42")
    at.slider(key="ln_entropy").set_value(0.2).run()                     # a what-if on the Learn page
    at.sidebar.number_input(key="sb_thr_entropy_num").set_value(0.55).run()   # then the sidebar moves
    assert at.slider(key="ln_entropy").value == pytest.approx(0.55)
    at.slider(key="ln_entropy").set_value(0.1).run()
    at.button_group(key="ln_topic").set_value("patience").run()
    at.button_group(key="ln_topic").set_value("entropy").run()            # away and back: the what-if stays
    assert at.slider(key="ln_entropy").value == pytest.approx(0.1)


def test_every_threshold_can_be_typed(make_app):
    at = make_app(policy="maxprob", threshold="0.8")
    at.sidebar.number_input(key="sb_thr_maxprob_num").set_value(0.91).run()
    assert at.sidebar.slider(key="sb_thr_maxprob").value == pytest.approx(0.91)
    assert at.query_params["threshold"] == "0.91"


def test_a_mostly_unknown_text_is_flagged_and_its_pieces_shown(make_app):
    at = submit_sentence(make_app(), "😀😀😀 🎬🎬")
    assert any("unknown to this model ([UNK])" in w.value for w in at.warning)
    assert any("⚠[UNK]" in t.value for t in at.text)


def test_unknown_pieces_are_counted_in_plain_words():
    from app.sentence_form import pieces_word, unknown_words
    assert unknown_words(1, 1) == "The only word piece is"
    assert unknown_words(3, 3) == "All 3 word pieces are"
    assert unknown_words(1, 4) == "1 of the 4 word pieces is"
    assert unknown_words(2, 5) == "2 of the 5 word pieces are"
    assert pieces_word(1) == "1 word piece" and pieces_word(1200) == "1,200 word pieces"

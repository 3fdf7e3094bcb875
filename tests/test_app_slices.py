"""The Slices page and the Threshold debugger's per-slice certificate through AppTest: the tables and metrics the
page shows are core's on the same recorded Traces, every number names its rows, filters and pins work."""
import numpy as np
import pytest

from core.analysis import make_slicing, slice_table
from core.certify import certify, risk_by_slice
from core.policies import EntropyThreshold, decide


def _table(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture
def cal_trace(app_env):
    from core.run import trace_for

    return trace_for(app_env / "tiny-sst2", "sst2", "calibration")


def test_slice_table_equals_core_and_names_its_rows(make_app, dev_trace):
    at = make_app(page="slices", policy="entropy", threshold="0.3")
    assert not at.error
    shown = _table(at, "exit-induced error rate")
    want = slice_table(dev_trace, EntropyThreshold(0.3), "length")
    assert shown["slice"].tolist() == want["slice"].tolist()
    assert shown["samples"].tolist() == want["samples"].tolist()
    np.testing.assert_allclose(shown["exit-induced error rate"], want["exit-induced error rate"])
    np.testing.assert_allclose(shown["layer speed-up"], want["layer speed-up"])
    assert any(f"{dev_trace.n:,} rows of sst2 validation" in c.value and "not held-out" in c.value for c in at.caption)


def test_slicing_search_and_recorded_columns(make_app, dev_trace):
    at = make_app(page="slices", policy="entropy", threshold="0.3")
    at.selectbox(key="sl_by").set_value("negation").run()
    assert _table(at, "exit-induced error rate")["slice"].tolist() == ["negation: yes", "negation: no"]
    at.text_input(key="sl_q").input("not").run()
    data = _table(at, "prediction depth")
    assert len(data) == sum("not" in t.lower() for t in dev_trace.texts) and len(data) > 0
    assert all("not" in t.lower() for t in data["text"])
    at.checkbox(key="sl_only_err").check().run()
    ex = decide(EntropyThreshold(0.3), dev_trace)
    final_ok = dev_trace.correct[:, -1]
    hurt = np.flatnonzero(final_ok & (ex.pred != dev_trace.labels))
    induced = {i for i in hurt if "not" in dev_trace.texts[i].lower()}
    assert set(_table(at, "prediction depth")["sample"]) == induced
    # the probe set's recorded categories are a slicing of their own
    at = make_app(page="slices", data="probes")
    at.selectbox(key="sl_by").set_value("categories").run()
    assert _table(at, "exit-induced error rate")["slice"].tolist() == sorted(
        ["contrast", "intensifier", "long", "negation", "sarcasm", "short"])


def test_trip_and_two_pinned_samples(make_app, dev_trace):
    at = make_app(page="slices", policy="entropy", threshold="0.3")
    at.selectbox(key="sl_open").set_value(5).run()
    assert any(t.value == dev_trace.texts[5] for t in at.text)
    at.multiselect(key="sl_pin").select(7).select(9).run()
    assert not at.exception
    caps = [c.value for c in at.caption if "prediction depth" in c.value]
    assert len(caps) == 2
    depth = {7: None, 9: None}
    from core.analysis import prediction_depth
    d = prediction_depth(dev_trace)
    for j in depth:
        assert any(f"prediction depth {d[j] + 1}" in c for c in caps)


def test_certificate_in_every_slice_matches_core(make_app, cal_trace, dev_trace):
    at = make_app(page="slices", policy="entropy", threshold="0.3")
    glob = certify(cal_trace, EntropyThreshold(0.3), 0.05, 0.1)
    grp = certify(cal_trace, EntropyThreshold(0.3), 0.05, 0.1, groups="length")
    fmt = lambda t: "full model" if t is None else f"{t:.4g}"
    assert next(m.value for m in at.metric if m.label == "global certified S") == fmt(glob.threshold)
    assert next(m.value for m in at.metric if m.label == "S certified in every slice") == fmt(grp.threshold)
    table = _table(at, "global: bound above ε")
    want = risk_by_slice(cal_trace, glob.policy, "length", 0.05, 0.1)
    assert table["calibration rows"].tolist() == want["samples"].tolist()
    np.testing.assert_allclose(table["global: bound on calibration"], want["risk bound"])
    rep = risk_by_slice(dev_trace, grp.policy, make_slicing(dev_trace, "length"), 0.05)
    np.testing.assert_allclose(table["by slice: realized risk"], rep["risk"])
    over = risk_by_slice(dev_trace, glob.policy, "length", 0.05)["risk above ε"]
    assert table["global: realized above ε"].tolist() == over.tolist()
    assert any(f"{cal_trace.n:,} rows of the model's calibration split" in c.value for c in at.caption)


def test_threshold_debugger_shows_the_slices_its_certificate_breaks(make_app, cal_trace):
    at = make_app(page="thresholds", policy="entropy")
    assert not at.exception
    cert = certify(cal_trace, "entropy", 0.01, 0.05)                 # the certified section's defaults
    table = _table(at, "global: bound above ε")
    want = risk_by_slice(cal_trace, cert.policy, "length", 0.01, 0.05)
    np.testing.assert_allclose(table["global: bound on calibration"], want["risk bound"])
    assert table["global: bound above ε"].tolist() == want["bound above ε"].tolist()


def test_learn_topic_on_slices(make_app):
    at = make_app(page="learn", topic="slices")
    assert not at.exception and not at.error
    assert any("every slice" in m.value for m in at.markdown)


def test_pairs_and_a_policy_without_threshold(make_app):
    at = make_app(page="slices", model="tiny-mrpc", policy="oracle")
    assert not at.exception and not at.error
    assert any("needs a threshold policy" in i.value for i in at.info)
    assert _table(at, "exit-induced error rate")["exit-induced error rate"].max() == 0    # the oracle never hurts

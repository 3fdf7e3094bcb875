"""A shared URL carries the whole certification state (issue 20, item 5): ε, 1 − δ, risk, method and the
calibration data come back from it, and the certified threshold shown is the one they give."""
import pytest

from core.analysis import split_halves
from core.certify import certify
from core.policies import make_policy
from tests.conftest import metric_value


def test_the_url_restores_the_certificate(make_app, dev_trace):
    at = make_app(page="thresholds", policy="maxprob", threshold="0.7", cert_eps="0.02", cert_conf="0.9",
                  cert_risk="consistency", cert_method="crc", cert_cal="half")
    assert at.number_input(key="thr_eps").value == pytest.approx(0.02)
    assert at.number_input(key="thr_conf").value == pytest.approx(0.9)
    assert at.selectbox(key="thr_risk").value == "consistency"
    assert at.selectbox(key="thr_method").value == "crc"
    assert at.radio(key="thr_cal_src").value == "half"
    cal, _ = split_halves(dev_trace, seed=0)
    cert = certify(cal, make_policy("maxprob", threshold=0.7), 0.02, delta=0.1, risk="consistency", method="crc")
    shown = "full model" if cert.threshold is None else f"{cert.threshold:.4g}"
    assert metric_value(at, "certified q") == shown
    assert at.sidebar.slider(key="sb_thr_maxprob").value == pytest.approx(0.7)      # the applied one, untouched


def test_the_certificate_settings_go_into_the_url(make_app):
    at = make_app(page="thresholds", policy="entropy")
    assert at.query_params["cert_eps"] == "0.01" and at.query_params["cert_method"] == "ltt"
    at.number_input(key="thr_eps").set_value(0.03).run()
    at.selectbox(key="thr_risk").set_value("consistency").run()
    at.radio(key="thr_cal_src").set_value("half").run()
    qp = at.query_params
    assert (qp["cert_eps"], qp["cert_risk"], qp["cert_cal"]) == ("0.03", "consistency", "half")
    # the page's keys leave the URL on another page
    at.switch_page("views/learn.py").run()
    assert "cert_eps" not in at.query_params


def test_nonsense_in_the_url_is_said_and_replaced(make_app):
    at = make_app(page="thresholds", policy="entropy", cert_eps="7", cert_method="magic")
    assert at.number_input(key="thr_eps").value == pytest.approx(0.5)
    assert at.selectbox(key="thr_method").value == "ltt"
    said = " ".join(w.value for w in at.warning)
    assert "clamped to 0.5" in said and "Unknown method 'magic'" in said


def test_the_realized_risk_verdict_has_no_arrow(make_app):
    at = make_app(page="thresholds", policy="entropy")
    real = next(m for m in at.metric if m.label == "realized risk")
    assert real.proto.delta in ("within ε", "above ε") and real.proto.direction == 2      # NONE: not a change

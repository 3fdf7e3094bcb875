"""The threshold report downloaded from the Threshold debugger names its rows and documents the threshold on
the page (issue 20, items 1–2): calibrated on a random half, its figures are on the other half only; with the
sidebar away from the certified threshold, both thresholds are in it, and only the certified one is held-out."""
import html
import re

import pytest

from core.analysis import split_halves
from core.certify import certify, heldout_figures
from core.policies import make_policy


def _report(at) -> str:
    next(b for b in at.button if b.label == "make the threshold report (HTML)").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return html.unescape(at.session_state["_thr_report"][1].decode())


def _cell(page: str, header: str) -> str:
    """The value cell next to a header cell (the first table that has it)."""
    m = re.search(rf"<th>{re.escape(header)}</th><td>([^<]*)</td>", page)
    assert m, header
    return m.group(1)


def test_report_on_a_half_names_the_other_half_only(make_app, dev_trace):
    at = make_app(page="thresholds", policy="entropy")
    at.radio(key="thr_cal_src").set_value("half").run()
    cal, rep = split_halves(dev_trace, seed=0)
    cert = certify(cal, make_policy("entropy", threshold=0.3), 0.01, delta=0.05)
    page = _report(at)
    assert _cell(page, "samples") == str(rep.n)            # not all rows: the half the threshold did not see
    assert f"the other half (random, seed 0) of sst2 validation (≤ 1,000 samples): {rep.n:,} of {dev_trace.n:,} rows" \
        in page
    if cert.threshold is not None and abs(cert.threshold - at.sidebar.slider(key="sb_thr_entropy").value) > 1e-9:
        assert "certified threshold (not applied)" in page
    # the figures are those of the half
    thr = float(at.sidebar.slider(key="sb_thr_entropy").value)
    fig = heldout_figures(rep, make_policy("entropy", threshold=thr), thr)
    induced = "exit-induced errors (early wrong, final right)"
    assert _cell(page, induced) == f"{fig[induced]:.4g}"


def test_report_documents_the_threshold_on_the_page_and_the_certified_one(make_app, dev_trace):
    at = make_app(page="thresholds", policy="entropy", threshold="0.25")
    page = _report(at)
    cert = at.session_state["_thr_cert"][1]
    assert _cell(page, "threshold") == "S = 0.25"
    assert cert.threshold is None or abs(cert.threshold - 0.25) > 1e-6, "pick a page threshold that is not certified"
    want = "the full model (every block)" if cert.threshold is None else f"S = {cert.threshold:.6g}"
    assert _cell(page, "certified threshold (not applied)") == want
    assert "carries no guarantee" in _cell(page, "how it was chosen")
    # the page's own threshold was set where these rows are shown: never called held-out
    assert "Figures on the report rows" in page and "not held-out figures" in page
    assert "Held-out figures" not in page
    assert "Speed against quality (report rows" in page
    # applying the certified threshold makes the report about it, and held-out
    if cert.threshold is not None:
        next(b for b in at.button if b.label == "apply the certified threshold").click().run()
        assert at.sidebar.slider(key="sb_thr_entropy").value == pytest.approx(cert.threshold)
        page = _report(at)
        assert "certified threshold (not applied)" not in page
        assert "Held-out figures" in page and _cell(page, "samples") == str(dev_trace.n)


def test_the_page_names_the_rows_of_its_numbers(make_app, dev_trace):
    at = make_app(page="thresholds", policy="entropy")
    said = [c.value for c in at.caption if c.value.startswith("These numbers are measured on")]
    assert len(said) == 1 and f"all {dev_trace.n:,} rows" in said[0] and "not held-out" in said[0]
    _, test = split_halves(dev_trace, seed=0)
    held = next(m for m in at.metric if m.label == "accuracy, held-out half")
    assert f"{test.n:,} of {dev_trace.n:,} rows" in held.help


def test_the_page_says_when_the_applied_threshold_is_not_the_certified_one(make_app):
    at = make_app(page="thresholds", policy="entropy", threshold="0.25")
    cert = at.session_state["_thr_cert"][1]
    said = [c.value for c in at.caption if c.value.startswith("The sidebar applies")]
    assert cert.threshold is None or abs(cert.threshold - 0.25) > 1e-6
    assert len(said) == 1 and "S = 0.25, not the certified" in said[0]
    if cert.threshold is not None:
        next(b for b in at.button if b.label == "apply the certified threshold").click().run()
        assert not [c.value for c in at.caption if c.value.startswith("The sidebar applies")]

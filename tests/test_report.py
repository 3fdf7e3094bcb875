"""core.certify.report: the standalone threshold report — offline (plotly.js inline, no external URL), escaped text,
the held-out figures of the threshold, and the certificate's guarantee and risk curve."""
from __future__ import annotations

import html
from html.parser import HTMLParser

import numpy as np
import plotly.graph_objects as go
import pytest

from core.certify import certify, guarantee_text, heldout_figures, report_html, threshold_report_html
from core.policies import EntropyThreshold
from core.trace import Trace
from tests.conftest import hand_exit, random_trace

EVIL = "<script>alert('x')</script> & \"quoted\""


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def trace(n=240, seed=0, labelled=True) -> Trace:
    return random_trace(n, 4, 2, seed, labels=None if labelled else np.full(n, -1), flops=np.ones(4), protos=False,
                        texts=[f"{EVIL} #{i}" for i in range(n)], texts_b=[f"second <b>{i}</b>" for i in range(n)],
                        meta={"task": "sst2", "label_names": ["neg <0>", "pos"]})


def external_refs(page: str) -> list[str]:
    p = Tags()
    p.feed(page)
    refs = []
    for tag, attrs in p.tags:
        if tag == "script" and "src" in attrs:                      # any script loaded from elsewhere
            refs.append(f"<script src={attrs['src']!r}>")
        refs += [f"<{tag} {k}={v!r}>" for k, v in attrs.items()
                 if k in ("src", "href", "data") and (v or "").startswith(("http:", "https:", "//"))]
    return refs


def test_report_is_standalone_and_escapes_every_text():
    tr = trace()
    page = threshold_report_html(tr, "entropy", 0.5, model="<img src=x onerror=alert(1)>", data="SST-2 <dev> & co")
    assert external_refs(page) == []                                 # no CDN script, no remote link / image
    assert "plotly.js v" in page and page.count("Plotly.newPlot") == 1   # the bundle inline, one chart
    assert page.index("plotly.js v") < page.index("Plotly.newPlot")      # defined before any chart draws
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "SST-2 &lt;dev&gt; &amp; co" in page
    assert "<script>alert(" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "second &lt;b&gt;" in page and "neg &lt;0&gt;" in page    # pair texts and label names too
    assert "Samples the early exit got wrong" in page and "chosen by the user" in page
    assert "carries no statistical guarantee" in page


def test_the_offline_check_catches_a_cdn_script():
    assert external_refs(go.Figure().to_html(include_plotlyjs="cdn")) != []


def test_heldout_figures_are_worked_out_by_hand():
    """Every held-out figure from the exits themselves (tests.conftest.hand_exit: softmax, entropy, first block at
    or below S from min_block on), not from core.analysis."""
    tr = trace(seed=1)
    pol = EntropyThreshold(0.3, min_block=1)
    fig = heldout_figures(tr, pol, 0.45)
    ex = hand_exit(tr.logits, "entropy", 0.45, min_block=1)
    pred = tr.logits[np.arange(tr.n), ex].argmax(-1)
    final = tr.logits[:, -1].argmax(-1)
    full = float(np.mean(final == tr.labels))
    acc = float(np.mean(pred == tr.labels))
    assert fig["layer speed-up (×)"] == pytest.approx(tr.n_blocks / np.mean(ex + 1))
    assert fig["accuracy at the threshold"] == pytest.approx(acc)
    assert fig["full-model accuracy"] == pytest.approx(full)
    assert fig["accuracy drop (points)"] == pytest.approx(100 * (full - acc))
    assert fig["exit-induced error rate"] == pytest.approx(np.mean((final == tr.labels) & (pred != tr.labels)))
    assert 1.0 < fig["layer speed-up (×)"] < tr.n_blocks              # the threshold exits some samples early only
    none = heldout_figures(tr, pol, None)
    assert none["layer speed-up (×)"] == 1.0 and none["accuracy drop (points)"] == 0.0


def test_certified_report_has_the_guarantee_and_the_risk_curve():
    cal, dev = trace(n=400, seed=2), trace(n=200, seed=3)
    cert = certify(cal, "maxprob", 0.3, 0.1)
    assert cert.certified
    page = report_html(cert, dev, model="tiny", data="synthetic")
    assert external_refs(page) == []
    assert page.count("Plotly.newPlot") == 2 and page.count("plotly.js v") == 1   # Pareto + risk, one bundle
    assert page.index("plotly.js v") < page.index("Plotly.newPlot")
    assert "Risk along the grid" in page and "certified on a calibration split" in page
    assert html.escape(guarantee_text(cert)) in page


def test_full_depth_and_unlabelled_splits():
    cal = trace(n=30, seed=4)
    cert = certify(cal, "entropy", 0.01, 0.05)                       # nothing certifiable with 30 samples
    page = report_html(cert, trace(seed=5), model="tiny", notes=("trained on <calibration>",))
    assert '<div class="warn">trained on &lt;calibration&gt;</div>' in page
    assert "full model (every block)" in page and "Nothing on the entropy grid" in page
    blind = threshold_report_html(trace(seed=6, labelled=False), "entropy", 0.5, model="tiny")
    assert external_refs(blind) == [] and "Held-out figures" in blind


def test_report_needs_a_threshold_policy():
    with pytest.raises(ValueError, match="threshold policy"):
        threshold_report_html(trace(), "oracle", None, model="m")


def test_a_one_block_threshold_is_reported_as_a_smaller_model():
    tr = trace(seed=4)
    page = threshold_report_html(tr, "maxprob", 0.5, model="m", data="d")       # p_max ≥ 1/2 always: block 1
    assert "equivalent to a 1-block model" in html.unescape(page)
    assert "what it is" not in heldout_figures(tr, EntropyThreshold(0.3), 0.3)  # spread exits: no such row

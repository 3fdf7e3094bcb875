"""The Learn page through AppTest: every topic runs, and its live figures follow core."""
import numpy as np
import pytest

from tests.conftest import chart_data


@pytest.mark.parametrize("topic", ["entropy", "patience", "prototypes", "overthinking", "binarization"])
def test_every_topic_renders(make_app, topic):
    at = make_app(page="learn", topic=topic)
    assert not at.exception and not at.error
    assert at.button_group(key="ln_topic").value == topic
    assert any("arXiv 2412.05225" in m.value and "2402.05948" in m.value and "2210.15523" in m.value
               for m in at.markdown)


def test_entropy_slider_moves_the_exit(make_app):
    """The exit is the first block whose entropy (the page's own curve) is at or below the slider — by hand."""
    at = make_app(page="learn", topic="entropy")
    slider = at.slider(key="ln_entropy")
    for s in (0.0, slider.max, 0.5 * slider.max):
        at.slider(key="ln_entropy").set_value(s).run()
        h = next(t for t in chart_data(at, "entropy").values() if len(t["y"]) == 4)["y"]
        want = next((i for i, v in enumerate(h) if v <= s), 3)
        assert next(m.value for m in at.metric if m.label == "exits after block") == f"{want + 1} of 4", (s, h)
    at.slider(key="ln_entropy").set_value(0.0).run()               # nothing is that sure: the last block
    assert next(m.value for m in at.metric if m.label == "exits after block") == "4 of 4"


def test_binarization_topic_shows_the_surrogate(make_app):
    """The page's own chart: sign(w) forward, the ApproxSign triangle 2 − 2|w| backward (Bi-Real Net), and the
    slider's w marked with its gradient — read off the figure the browser gets."""
    at = make_app(page="learn", topic="binarization", model="tiny-sst2-bin")
    assert any("latent weights inside" in m.label for m in at.metric)

    def figure():
        return chart_data(at, "ApproxSign")

    for w, want in [(0.5, 1.0), (-0.25, 1.5), (1.2, 0.0)]:       # 2 − 2·|w| inside |w| < 1, else 0, by hand
        at.slider(key="ln_w").set_value(w).run()
        fig = figure()
        assert fig["gradient at w"]["x"] == [w] and fig["gradient at w"]["y"] == [pytest.approx(want)]
    xs, grad = np.asarray(fig["backward: ApproxSign′(w)"]["x"]), np.asarray(fig["backward: ApproxSign′(w)"]["y"])
    np.testing.assert_allclose(grad, np.where(np.abs(xs) < 1, 2 - 2 * np.abs(xs), 0.0), atol=1e-9)
    sign = np.asarray(fig["forward: sign(w)"]["y"])
    assert set(np.unique(sign)) <= {-1.0, 0.0, 1.0} and sign[xs > 0].min() == 1.0 and sign[xs < 0].max() == -1.0

"""The Learn page through AppTest: every topic runs, and its live figures follow core."""
import numpy as np
import pytest

from core.model import approx_sign_curves


@pytest.mark.parametrize("topic", ["entropy", "patience", "prototypes", "overthinking", "binarization"])
def test_every_topic_renders(make_app, topic):
    at = make_app(page="learn", topic=topic)
    assert not at.exception and not at.error
    assert at.button_group(key="ln_topic").value == topic
    assert any("arXiv 2412.05225" in m.value and "2402.05948" in m.value and "2210.15523" in m.value
               for m in at.markdown)


def test_entropy_slider_moves_the_exit(make_app):
    at = make_app(page="learn", topic="entropy")
    at.slider(key="ln_entropy").set_value(0.0).run()
    assert next(m.value for m in at.metric if m.label == "exits after block") == "4 of 4"
    at.slider(key="ln_entropy").set_value(float(np.log(2))).run()
    assert next(m.value for m in at.metric if m.label == "exits after block") == "1 of 4"


def test_binarization_topic_shows_the_surrogate(make_app):
    at = make_app(page="learn", topic="binarization", model="tiny-sst2-bin")
    at.slider(key="ln_w").set_value(0.5).run()
    assert any("latent weights inside" in m.label for m in at.metric)
    sign, grad = approx_sign_curves(np.array([0.5]))
    assert grad[0] == pytest.approx(1.0)

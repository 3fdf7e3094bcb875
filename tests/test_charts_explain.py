"""The explanation charts (app.charts.explain) on real core.explain output from a small real model: the
heatmap shows the words × blocks scores in reading order with the marked exit, the highlighted text escapes
user HTML and colours by sign, the attention map keeps repeated tokens apart."""
import re

import numpy as np
import pytest
import torch

from app import charts
from core.explain import attention, salience
from core.model import MultiExitEncoder, preset, train_wordpiece

TEXT = "the film is not good , the film is not bad <b>at</b> all ."


@pytest.fixture(scope="module")
def explained():
    """A random 3-block SLFN on a word-piece vocabulary of the sentence: real salience and attention."""
    torch.manual_seed(0)
    tok = train_wordpiece([TEXT, "a great movie , a dull plot"] * 5, vocab_size=60, min_frequency=1)
    model = MultiExitEncoder(preset("tiny", vocab_size=tok.get_vocab_size(), n_blocks=3)).eval()
    return salience(model, tok, TEXT, method="grad_x_input"), attention(model, tok, TEXT)


def test_heatmap_is_words_by_blocks_in_reading_order(explained):
    sal, _ = explained
    fig = charts.salience_heatmap(sal.word_scores, sal.words, sal.target, ["neg", "pos"], sal.blocks,
                                  {1: "exit"}, scaled=False)
    hm = fig.data[0]
    z = np.asarray(hm.z, dtype=float)
    assert z.shape == (len(sal.words), 3)                      # rows = words, columns = blocks
    np.testing.assert_allclose(z, sal.word_scores.T)
    assert list(fig.layout.yaxis.ticktext) == sal.words        # both "the" and both "film" keep their own row
    assert fig.layout.yaxis.autorange == "reversed"            # the first word on top
    assert [t.split("<br>")[1] for t in fig.layout.xaxis.ticktext] == [["neg", "pos"][c] for c in sal.target]
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.x1) == (1.5, 2.5)                    # block 2 (0-based 1) outlined
    assert fig.layout.annotations[0].text == "<b>exit</b>"
    assert hm.zmid == 0 and hm.zmin == -hm.zmax                # colour by sign: 0 is the middle


def test_scaled_heatmap_divides_each_block_by_its_strongest_word(explained):
    sal, _ = explained
    z = np.asarray(charts.salience_heatmap(sal.word_scores, sal.words, sal.target, ["neg", "pos"]).data[0].z, float)
    np.testing.assert_allclose(np.abs(z).max(0), 1.0)
    np.testing.assert_allclose(z * np.abs(sal.word_scores.T).max(0), sal.word_scores.T, atol=1e-12)
    raw = np.asarray(charts.salience_heatmap(sal.word_scores, sal.words, sal.target, ["a", "b"]).data[0].customdata)
    np.testing.assert_allclose(raw[..., 0].astype(float), sal.word_scores.T)      # the hover keeps the raw score


def test_highlighted_text_escapes_html_and_colours_by_sign(explained):
    sal, _ = explained
    on = sal.word_segment == 0
    scores = sal.word_scores[-1, on]
    out = charts.highlighted_text(TEXT, sal.word_spans[on], scores)
    assert "<b>" not in out and "</b>" not in out                # the user's tags are text, not markup
    assert out.count("&lt;") == 2 and out.count("&gt;") == 2
    assert re.sub(r"<[^>]+>", "", out).replace("&lt;", "<").replace("&gt;", ">") == TEXT   # the text, all of it
    spans = re.findall(r'title="([^"]+)" style="background:rgba\((\d+),', out)
    assert len(spans) == on.sum()
    for (score, red), s in zip(spans, scores):
        assert float(score) == pytest.approx(s, rel=1e-3, abs=1e-12)
        assert int(red) == (25 if s >= 0 else 224)                 # blue for, red against
    with pytest.raises(ValueError, match="one score per word"):
        charts.highlighted_text(TEXT, sal.word_spans[on], scores[:-1])


def test_attention_heatmap_keeps_every_token(explained):
    sal, maps = explained
    w = maps[0].mean(0)
    fig = charts.attention_heatmap(w, sal.tokens)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, float), w)
    assert list(fig.layout.xaxis.ticktext) == [t[:11] + "…" if len(t) > 12 else t for t in sal.tokens]
    with pytest.raises(ValueError, match=r"\(T, T\)"):
        charts.attention_heatmap(w[:, :-1], sal.tokens)


def test_trip_chart_marks_the_exit_and_the_threshold():
    probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    sig = probs.max(1)
    fig = charts.trip_chart(probs, sig, ["neg", "pos"], 1, "max probability", 0.65, [0, 1])
    names = [t.name for t in fig.data]
    assert names == ["class", "signal", "threshold", "exit"]
    assert list(fig.data[0].text) == ["neg", "pos", "pos"]
    assert fig.data[3].x == (2,) and fig.data[3].y == (0.7,)
    assert list(fig.layout.yaxis2.range) == [0, 1]


def test_diff_marks_only_the_changed_words():
    out = charts.diff_html("the film is <good>", "the film is not <good>")
    assert "not" in re.findall(r"<b[^>]*>([^<]*)</b>", out)[0]
    assert "&lt;good&gt;" in out and "<good>" not in out
    assert "<del" not in out
    assert "<del" in charts.diff_html("a good film", "a film")

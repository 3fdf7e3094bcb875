"""app.charts.slices: the figures draw the slice table's numbers (bars, whiskers up to the bounds, ε) and name
their rows; prediction-depth lines are shares of each slice's samples."""
import numpy as np
import pytest

from app.charts import slices as slice_charts
from core.analysis import depth_histogram, make_slicing, slice_table
from core.policies import EntropyThreshold
from tests.conftest import hand_trace


def test_risk_and_speedup_bars_and_whiskers():
    tr = hand_trace()
    t = slice_table(tr, EntropyThreshold(0.68), np.array(["x", "y", "x"]), delta=0.1)
    fig = slice_charts.risk_and_speedup(t, epsilon=0.05, rows="3 rows of test")
    risk, speed = fig.data
    assert list(risk.x) == ["x", "y"] and list(risk.y) == [0.0, 1.0]               # y: its one sample is induced
    assert list(risk.error_y.array) == pytest.approx([1 - 0.1 ** 0.5, 0.0])        # up to the bound; y's bound is 1
    assert list(speed.y) == [4.0, 4.0]                                              # every sample exits at block 1
    assert "3 rows of test" in fig.layout.title.text
    assert any(s.y0 == 0.05 for s in fig.layout.shapes)


def test_depth_lines_are_shares():
    tr = hand_trace()                                   # depths 0, 1, 3
    h = depth_histogram(tr, make_slicing(tr, np.array(["x", "y", "x"])))
    fig = slice_charts.depth_histograms(h, "3 rows")
    assert [list(d.y) for d in fig.data] == [[0.5, 0, 0, 0.5], [0, 1.0, 0, 0]]
    assert fig.data[0].name == "x (n = 2)"

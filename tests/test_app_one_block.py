"""A policy that sends every sample to one block is "equivalent to a k-block model" on every page, never an
early-exit speed-up (issue 20, item 4)."""
import numpy as np

from core.analysis import best_threshold, split_halves
from core.policies import POLICIES, decide, make_policy
from tests.conftest import metric_value


def _one_block_warnings(at):
    return [w.value for w in at.warning if "equivalent to a 1-block model" in w.value]


def test_threshold_debugger_names_a_one_block_policy(make_app, dev_trace):
    assert (decide(make_policy("maxprob", threshold=0.5), dev_trace).exit_block == 0).all()   # p_max ≥ 1/2, K = 2
    at = make_app(page="thresholds", policy="maxprob", threshold="0.5")
    assert metric_value(at, "not an early exit") == "1 block"
    assert not [m for m in at.metric if m.label == "layer speed-up L/ℓ̄"]        # no "4.000×" speed-up
    said = _one_block_warnings(at)
    assert said and f"{dev_trace.n:,} rows" in said[0] and "not an early-exit speed-up" in said[0]
    # a policy whose exits spread keeps its speed-up
    at.sidebar.slider(key="sb_thr_maxprob").set_value(0.6).run()
    ex = decide(make_policy("maxprob", threshold=0.6), dev_trace)
    assert len(np.unique(ex.exit_block)) > 1
    assert metric_value(at, "layer speed-up L/ℓ̄").endswith("×") and not _one_block_warnings(at)


def test_best_threshold_that_is_one_block_is_not_sold_as_a_speed_up(make_app, dev_trace):
    tune, test = split_halves(dev_trace, seed=0)
    grid = POLICIES["maxprob"].threshold_spec(dev_trace).grid()
    want = best_threshold(tune, test, "maxprob", target_speedup=float(dev_trace.n_blocks), thresholds=grid,
                          min_block=0)
    assert (decide(make_policy("maxprob", threshold=want.threshold), test).exit_block == 0).all()
    at = make_app(page="thresholds", policy="maxprob", threshold="0.6")
    at.button_group(key="thr_target").set_value("speed").run()
    at.number_input(key="thr_speed").set_value(float(dev_trace.n_blocks)).run()
    assert metric_value(at, "not an early exit") == "1 block"        # the tuned threshold on the held-out half
    assert metric_value(at, "layer speed-up L/ℓ̄").endswith("×")       # the sidebar's maxprob 0.6 spreads its exits
    assert any(f"the held-out half ({test.n:,} rows)" in w for w in _one_block_warnings(at))


def test_compare_names_a_one_block_policy(make_app):
    at = make_app(page="compare", model="tiny-sst2", model_b="tiny-sst2-bin", policy="maxprob", threshold="0.5")
    assert metric_value(at, "A: not an early exit") == "1 block"
    assert metric_value(at, "B: not an early exit") == "1 block"
    assert len(_one_block_warnings(at)) == 2

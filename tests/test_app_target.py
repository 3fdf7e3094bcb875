""""Best threshold for a target" says in words when the held-out half misses the target, and warns when the
halves are too small to mean anything (issue 20, item 3)."""
import pytest

from core.analysis import best_threshold, split_halves, sweep
from core.certify import report_rows as RR
from core.policies import POLICIES


def _missed(at):
    return [w.value for w in at.warning if w.value.startswith("Target missed")]


def _halves(trace, name, **target):
    tune, test = split_halves(trace, seed=0)
    grid = POLICIES[name].threshold_spec(trace).grid()
    return tune, test, grid, best_threshold(tune, test, name, thresholds=grid, min_block=0, **target)


def test_a_missed_speed_target_is_said_with_the_threshold_that_meets_it(make_app, dev_trace):
    tune, test, grid, run = _halves(dev_trace, "maxprob", target_speedup=2.0)
    lo, hi = run.test["layer_speedup"], run.tune["layer_speedup"]
    assert lo < hi, "the fixture model's tuned threshold must be slower on the held-out half for this test"
    target = (lo + hi) / 2                        # met on the tuning half, missed on the held-out one
    tuned = best_threshold(tune, test, "maxprob", target_speedup=target, thresholds=grid, min_block=0)
    assert tuned.feasible and tuned.test["layer_speedup"] < target
    at = make_app(page="thresholds", policy="maxprob")
    at.button_group(key="thr_target").set_value("speed").run()
    at.number_input(key="thr_speed").set_value(min(run.test["layer_speedup"], 1.5)).run()
    assert _missed(at) == []                      # a target both halves meet: no word of a miss
    at.number_input(key="thr_speed").set_value(target).run()
    said = _missed(at)
    assert len(said) == 1, [w.value for w in at.warning]
    assert f"is {tuned.test['layer_speedup']:.4g}, below the target {target:.4g}" in said[0]
    assert "met it on the tuning half only" in said[0]
    meets = RR.meeting_threshold(sweep(test, "maxprob", grid), tuned.test["baseline_metric"], target_speedup=target)
    if meets is None:
        assert "no threshold on the grid meets it" in said[0]
    else:
        assert f"= {meets:.4g} — found on those rows, so it is not a held-out figure" in said[0]
        assert sweep(test, "maxprob", [meets]).iloc[0]["layer_speedup"] >= target   # it really meets it there


def test_a_target_no_threshold_meets_is_said_too(make_app, dev_trace):
    *_, run = _halves(dev_trace, "patience", target_speedup=float(dev_trace.n_blocks))
    assert not run.feasible                       # every sample at block 1 is not reachable by patience
    at = make_app(page="thresholds", policy="patience")
    at.button_group(key="thr_target").set_value("speed").run()
    at.number_input(key="thr_speed").set_value(float(dev_trace.n_blocks)).run()
    said = _missed(at)
    assert len(said) == 1 and "No threshold met it on the tuning half either" in said[0]
    assert "no threshold on the grid meets it on the held-out half either" in said[0]


def test_a_four_row_upload_gets_a_small_sample_warning(make_app):
    at = make_app(page="thresholds", policy="entropy")
    assert not any("sampling error" in w.value for w in at.warning)        # 872 rows: no warning
    at.sidebar.radio(key="sb_data").set_value("upload").run()
    rows = "a gorgeous film,1\nawful and dull,0\nwitty and warm,1\na tedious mess,0"
    at.sidebar.file_uploader(key="sb_upload").upload("four.csv", f"text,label\n{rows}\n".encode(), "text/csv")
    at.run()
    assert not at.exception
    small = [w.value for w in at.warning if "sampling error" in w.value]
    assert len(small) == 1 and "Only 2 rows" in small[0]
    err = float(small[0].split("±")[1].split(" ")[0])
    assert err >= 0.3                                   # two rows: a rate there is nearly meaningless


def test_sampling_error_and_meeting_threshold_by_hand():
    assert RR.sampling_error(0.5, 100) == pytest.approx(1.96 * 0.05)
    assert RR.sampling_error(1.0, 2) == pytest.approx(1.0)            # rule of three, capped
    assert RR.small_sample_text(100, 0.9) is None and "Only 99 rows" in RR.small_sample_text(99, 0.9)
    import pandas as pd
    df = pd.DataFrame({"threshold": [0.1, 0.2, 0.3, 0.4], "metric": [0.90, 0.89, 0.87, 0.80],
                       "layer_speedup": [1.0, 1.5, 2.0, 3.0]})
    assert RR.meeting_threshold(df, 0.90, target_drop=0.01) == 0.2        # fastest within one point
    assert RR.meeting_threshold(df, 0.90, target_drop=0.0) == 0.1
    assert RR.meeting_threshold(df, 0.90, target_speedup=1.8) == 0.3      # most accurate at ≥ 1.8×
    assert RR.meeting_threshold(df, 0.90, target_speedup=3.5) is None

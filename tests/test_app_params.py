"""The query-parameter helpers (app.params): pure functions, no Streamlit."""
import math

import numpy as np
import pytest

from app import params as P
from core.policies import POLICIES, make_policy


@pytest.mark.parametrize("raw, want, warns", [
    ("0.3", 0.3, False), (["0.1", "0.4"], 0.4, False), (None, 0.5, False), ("", 0.5, False),
    ("nan", 0.5, True), ("inf", 0.5, True), ("-inf", 0.5, True), ("abc", 0.5, True),
    ("-5", 0.0, True), ("1e300", 1.0, True), ("1.0000001", 1.0, True),
])
def test_parse_float_clamps_or_defaults(raw, want, warns):
    value, warn = P.parse_float(raw, 0.0, 1.0, 0.5, "threshold")
    assert value == pytest.approx(want)
    assert (warn is not None) == warns
    if warns:
        assert "threshold" in warn and ("clamped" in warn or "using" in warn)


def test_parse_int_rounds_and_says_so():
    assert P.parse_int("3", 1, 6, 1, "block") == (3, None)
    v, w = P.parse_int("2.6", 1, 6, 1, "block")
    assert v == 3 and "rounded" in w
    v, w = P.parse_int("99", 1, 6, 1, "block")
    assert v == 6 and "clamped" in w


def test_parse_choice_is_case_insensitive_and_warns_on_unknown():
    assert P.parse_choice("MaxProb", ["entropy", "maxprob"], "entropy", "policy") == ("maxprob", None)
    v, w = P.parse_choice("<script>", ["entropy", "maxprob"], "entropy", "exit policy")
    assert v == "entropy" and "Unknown exit policy" in w


def test_changed_encodes_and_skips_equal_values():
    cur = {"threshold": "0.25", "policy": "entropy"}
    assert P.changed(cur, {"threshold": 0.25, "policy": "entropy"}) == {}
    assert P.changed(cur, {"threshold": 0.3, "policy": "entropy", "x": None}) == {"threshold": "0.3"}


def test_slider_grid_is_the_sweep_grid():
    """A point clicked on the Pareto chart (a sweep threshold) is exactly a slider position."""
    from core.policies import POLICIES as POL
    from core.trace import Trace
    tr = Trace(logits=np.zeros((3, 4, 2)), pooled=np.zeros((3, 4, 1)), labels=[0, 1, 0], texts=list("abc"),
               flops_per_block=np.ones(4))
    for name in ("entropy", "norm_entropy", "maxprob", "frac_reduction", "edr", "lte"):
        spec = P.slider_spec(name, 4, 2)
        grid = POL[name].grid(tr, P.SWEEP_POINTS)
        assert np.allclose(P.sweep_grid(spec), grid)
        assert np.allclose(spec.lo + spec.step * np.arange(P.SWEEP_POINTS), grid)
    assert P.slider_spec("oracle", 4, 2) is None
    pat = P.slider_spec("patience", 4, 2)
    assert pat.integer and (pat.lo, pat.hi) == (1, 4)
    assert P.slider_spec("patience", 2, 2).hi == 2          # never an empty slider (min == max)


def test_entropy_range_follows_the_number_of_classes():
    assert P.slider_spec("entropy", 6, 2).hi == pytest.approx(math.log(2))
    assert P.slider_spec("entropy", 6, 3).hi == pytest.approx(math.log(3))
    assert P.slider_spec("maxprob", 6, 3).lo == pytest.approx(1 / 3)


def test_parse_policy_sanitises_every_field():
    qp = {"policy": "edr", "threshold": "7", "lam": "-1", "earliest": "0", "direction": "sideways"}
    vals, warns = P.parse_policy(qp, P.supported_policies(True, True), "entropy", 6, 2)
    assert vals["policy"] == "edr" and vals["threshold"] == 1.0 and vals["lam"] == 0.0 and vals["earliest"] == 1
    assert vals["direction"] == "below"
    assert len(warns) == 4
    vals, warns = P.parse_policy({"policy": "lte"}, P.supported_policies(False, False), "entropy", 6, 2)
    assert vals["policy"] == "entropy" and warns          # a policy the model cannot run


def test_supported_policies_follow_the_model_heads():
    assert set(P.supported_policies(True, True)) == set(POLICIES)
    assert "edr" not in P.supported_policies(False, True)
    assert "lte" not in P.supported_policies(True, False)


def test_policy_params_build_core_policies():
    for name in POLICIES:
        spec = P.slider_spec(name, 4, 2)
        kw = P.policy_params(name, spec.default if spec else None, 0.5, "above", "first", 2)
        pol = make_policy(name, **kw)
        assert pol.min_block == 1
    assert make_policy("frac_reduction", **P.policy_params("frac_reduction", 0.1, 1, "above", "first", 1)).reference == "first"

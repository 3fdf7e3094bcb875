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
    """A point clicked on the Pareto chart (a sweep threshold) is exactly a slider position: the policy's
    threshold spec (what the sidebar draws) and its sweep grid are one grid."""
    from core.policies import DEFAULT_GRID_SIZE, Shape
    from core.trace import Trace
    tr = Trace(logits=np.zeros((3, 4, 2)), pooled=np.zeros((3, 4, 1)), labels=[0, 1, 0], texts=list("abc"),
               flops_per_block=np.ones(4))
    for name in ("entropy", "norm_entropy", "maxprob", "margin", "frac_reduction", "edr", "lte"):
        spec = POLICIES[name].threshold_spec(Shape(4, 2))
        grid = POLICIES[name].grid(tr)
        assert len(grid) == DEFAULT_GRID_SIZE and np.allclose(spec.grid(), grid)
        assert np.allclose(spec.lo + spec.step * np.arange(DEFAULT_GRID_SIZE), grid)
    assert not hasattr(POLICIES["oracle"], "threshold_spec")
    pat = POLICIES["patience"].threshold_spec(Shape(4, 2))
    assert pat.integer and (pat.lo, pat.hi) == (1, 4)
    assert POLICIES["patience"].threshold_spec(Shape(2, 2)).hi == 2          # never an empty slider (min == max)


def test_entropy_range_follows_the_number_of_classes():
    from core.policies import Shape
    assert POLICIES["entropy"].threshold_spec(Shape(6, 2)).hi == pytest.approx(math.log(2))
    assert POLICIES["entropy"].threshold_spec(Shape(6, 3)).hi == pytest.approx(math.log(3))
    assert POLICIES["maxprob"].threshold_spec(Shape(6, 3)).lo == pytest.approx(1 / 3)


def test_parse_policy_sanitises_every_field():
    from core.policies import Shape
    qp = {"policy": "edr", "threshold": "7", "lam": "-1", "earliest": "0"}
    vals, warns = P.parse_policy(qp, P.supported_policies(True, True), "entropy", Shape(6, 2))
    assert vals["policy"] == "edr" and vals["threshold"] == 1.0 and vals["lam"] == 0.0 and vals["earliest"] == 1
    assert len(warns) == 3
    vals, warns = P.parse_policy({"policy": "frac_reduction", "direction": "sideways", "reference": "FIRST"},
                                 P.supported_policies(True, True), "entropy", Shape(6, 2))
    assert vals["direction"] == "below" and vals["reference"] == "first" and len(warns) == 1
    vals, warns = P.parse_policy({"policy": "lte"}, P.supported_policies(False, False), "entropy", Shape(6, 2))
    assert vals["policy"] == "entropy" and warns          # a policy the model cannot run


def test_supported_policies_follow_the_model_heads():
    assert set(P.supported_policies(True, True)) == set(POLICIES)
    assert "edr" not in P.supported_policies(False, True)
    assert "lte" not in P.supported_policies(True, False)


def test_build_policy_makes_core_policies_from_their_description():
    from core.policies import Shape, ThresholdPolicy
    for name, cls in POLICIES.items():
        thr = cls.threshold_spec(Shape(4, 2)).default if issubclass(cls, ThresholdPolicy) else None
        pol = P.build_policy(name, thr, 2, {p.name: p.default for p in cls.extra})
        assert pol.min_block == 1 and type(pol) is cls
        url = P.policy_url(pol, P.extra_keys())
        assert url["policy"] == name and url["earliest"] == 2
    fr = P.build_policy("frac_reduction", 0.1, 1, {"direction": "above", "reference": "first"})
    assert fr.reference == "first" and fr.direction == "above"
    assert P.policy_url(fr, P.extra_keys())["lam"] is None            # another policy's key leaves the URL


def test_sweep_params_keep_the_current_policy_and_defaults_for_the_rest():
    cur = make_policy("edr", threshold=0.3, lam=2.5, min_block=1)
    sp = P.sweep_params(["entropy", "edr", "frac_reduction"], cur)
    assert sp["edr"] == {"min_block": 1, "lam": 2.5}
    assert sp["entropy"] == {"min_block": 1}
    assert sp["frac_reduction"] == {"min_block": 1, "direction": "below", "reference": "previous"}

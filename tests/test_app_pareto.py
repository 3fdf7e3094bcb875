"""The Pareto chart hides no policy (issue 20, item 8): policies that make the same decisions share one named
curve with a caption that says why, every policy colour is far from every other, and the PNG export has a
plain file name."""
import itertools
import json

import numpy as np

from core.analysis import groups, same_decisions
from core.policies import POLICIES, make_policy
from core.trace import Trace
from tests.conftest import random_trace


def _pareto(at) -> dict:
    c = next(c for c in at.get("plotly_chart") if (c.key or "").startswith("thr_pareto"))
    return {"spec": json.loads(c.proto.spec), "config": json.loads(c.proto.config)}


def _trace(k: int, n=400, seed=0) -> Trace:
    return random_trace(n, 4, k, seed, flops=np.ones(4), protos=False, texts=[""] * n)


def _pols(tr, names):
    return [make_policy(n, threshold=POLICIES[n].threshold_spec(tr).default) for n in names]


def test_same_decisions_is_read_off_the_data():
    two, three = _trace(2), _trace(3)
    names = ["entropy", "norm_entropy", "maxprob", "margin", "patience"]
    assert groups(two, _pols(two, names)) == {"norm_entropy": "entropy", "maxprob": "entropy", "margin": "entropy"}
    assert groups(three, _pols(three, names)) == {"norm_entropy": "entropy"}     # 3 classes: only ÷ ln K stays
    e, m = _pols(two, ["entropy", "maxprob"])
    assert not same_decisions(two, e, m.replace(min_block=1))                      # another earliest block
    # and the claim is true: every max-prob threshold exits exactly as some entropy threshold
    ent = e.signal(two)
    for fires in (make_policy("maxprob", threshold=t).fires(two) for t in (0.6, 0.8, 0.95)):
        cut = ent[fires].max() if fires.any() else -1
        assert np.array_equal(fires, ent <= cut)


def test_coinciding_policies_share_one_named_curve(make_app):
    at = make_app(page="thresholds", policy="maxprob", threshold="0.7")
    fig = _pareto(at)
    names = [t.get("name", "") for t in fig["spec"]["data"]]
    merged = [n for n in names if "≡" in n]
    assert len(merged) == 1
    for title in (POLICIES[p].title for p in ("entropy", "norm_entropy", "maxprob", "margin")):
        assert title in merged[0]
        assert sum(title in n for n in names) == 1                                # drawn once, never hidden
    said = [c.value for c in at.caption if "make the same exit decisions" in c.value]
    assert len(said) == 1 and "a click on it applies" in said[0]


def test_the_png_export_has_a_plain_name(make_app):
    at = make_app(page="thresholds")
    opts = _pareto(at)["config"]["toImageButtonOptions"]
    assert opts["filename"].isascii() and "ℓ" not in opts["filename"] and opts["filename"].startswith("pareto-")
    assert opts["height"] >= 600


def _lab(h):
    r, g, b = (int(h.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
    lin = lambda c: c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = lin(r), lin(g), lin(b)
    xyz = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
           (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz]
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_every_policy_colour_is_far_from_every_other():
    worst = min((float(np.linalg.norm(_lab(a.colour) - _lab(b.colour))), a.name, b.name)
                for a, b in itertools.combinations(POLICIES.values(), 2))
    assert worst[0] >= 30, worst                # CIELAB ΔE: 14 was FastBERT vs BERxiT, 22 margin vs BEExformer

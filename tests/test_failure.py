"""Failure-prediction AUROC per exit, by hand, against sklearn, and the direction of each policy."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.analysis import error_score, failure_auroc, failure_auroc_all
from core.policies import POLICIES, FractionalReduction, ThresholdPolicy, make_policy
from core.trace import Trace
from tests.conftest import random_trace as shared_random_trace

# 6 samples, 2 blocks, label 0 everywhere. Block 1: p(class 0) = .9 .8 .6 .45 .3 .7 → samples 3 and 4 are
# wrong, with max-probability .55 and .7; the right ones have .9 .8 .6 .7. AUROC of "less confident":
# error .55 is below all 4 right ones (4 pairs); error .7 is below .9 and .8, above .6, tied with .7 (2.5)
# → 6.5 / 8 = 0.8125. Block 2 is always right: AUROC undefined.
P0 = np.array([.9, .8, .6, .45, .3, .7])


def hand_trace() -> Trace:
    p = np.empty((6, 2, 2))
    p[:, 0, 0], p[:, 1, 0] = P0, 0.99
    p[..., 1] = 1 - p[..., 0]
    return Trace(logits=np.log(p), pooled=np.zeros((6, 2, 1)), labels=np.zeros(6, int), texts=list("abcdef"),
                 flops_per_block=[1, 1])


@pytest.mark.parametrize("name", ["maxprob", "entropy", "norm_entropy"])
def test_hand_case(name):
    r = failure_auroc(hand_trace(), name)
    assert r.auroc.value[0] == pytest.approx(0.8125)      # for K = 2 they all rank samples alike
    assert np.isnan(r.auroc.value[1])                     # block 2 is never wrong
    np.testing.assert_array_equal(r.n_errors, [2, 0])
    assert r.n == 6 and r.blocks == ["block 1", "block 2"]
    assert list(r.to_frame()["block"]) == [1, 2]


def random_trace(n=300, n_blocks=4, k=3, seed=0) -> Trace:
    return shared_random_trace(n, n_blocks, k, seed, flops=np.ones(n_blocks))


@pytest.mark.parametrize("name", sorted(k for k, c in POLICIES.items() if issubclass(c, ThresholdPolicy)))
def test_against_sklearn_with_the_confident_side_low(name):
    tr = random_trace()
    pol = make_policy(name, threshold=POLICIES[name].threshold_range(tr)[0])
    r = failure_auroc(tr, pol)
    s = np.asarray(pol.signal(tr), dtype=float)
    for i in range(tr.n_blocks):
        ok = np.isfinite(s[:, i])
        if not ok.any():
            assert np.isnan(r.auroc.value[i])
            continue
        # "below" rules exit on a low signal, so a high signal predicts an error; "above" rules the reverse
        ref = roc_auc_score(~tr.correct[ok, i], s[ok, i] if pol.direction == "below" else -s[ok, i])
        assert r.auroc.value[i] == pytest.approx(ref)
    assert r.direction == pol.direction


def test_direction_of_an_instance_flips_the_auroc():
    tr = random_trace(seed=1)
    below = failure_auroc(tr, FractionalReduction(0.1, direction="below")).auroc.value
    above = failure_auroc(tr, FractionalReduction(0.1, direction="above")).auroc.value
    assert np.isnan(below[0]) and np.isnan(above[0])          # ΔH has no value at block 1
    np.testing.assert_allclose(above[1:], 1 - below[1:])
    np.testing.assert_allclose(error_score(FractionalReduction(0.1, direction="above"), tr)[:, 1:],
                               -error_score(FractionalReduction(0.1), tr)[:, 1:])


def test_a_confident_and_right_model_scores_high():
    """Errors planted where max-probability is lowest: AUROC 1 for max-prob and entropy alike."""
    n = 200
    m = np.linspace(0.51, 0.99, n)
    wrong = m < 0.6
    y = np.zeros(n, int)
    p0 = np.where(wrong, 1 - m, m)
    p = np.stack([p0, 1 - p0], axis=-1)[:, None, :]
    tr = Trace(logits=np.log(p), pooled=np.zeros((n, 1, 1)), labels=y, texts=[""] * n, flops_per_block=[1])
    assert failure_auroc(tr, "maxprob").auroc.value[0] == pytest.approx(1.0)
    assert failure_auroc(tr, "entropy").auroc.value[0] == pytest.approx(1.0)


def test_all_policies_table():
    tr = random_trace()
    df = failure_auroc_all(tr)
    names = {k for k, c in POLICIES.items() if issubclass(c, ThresholdPolicy)}
    assert set(df["policy"]) == names and len(df) == len(names) * tr.n_blocks
    assert df["auroc"].dropna().between(0, 1).all()


def test_bad_input():
    tr = random_trace()
    with pytest.raises(ValueError, match="no confidence signal"):
        failure_auroc(tr, "oracle")
    with pytest.raises(ValueError, match="unknown policy"):
        failure_auroc(tr, "nope")
    unlabelled = Trace(logits=tr.logits, pooled=tr.pooled, labels=np.full(tr.n, -1), texts=tr.texts,
                       flops_per_block=tr.flops_per_block)
    with pytest.raises(ValueError, match="label"):
        failure_auroc(unlabelled, "entropy")
    no_prototypes = Trace(logits=tr.logits, pooled=tr.pooled, labels=tr.labels, texts=tr.texts,
                          flops_per_block=tr.flops_per_block)
    with pytest.raises(ValueError, match="cannot run"):
        failure_auroc(no_prototypes, "edr")

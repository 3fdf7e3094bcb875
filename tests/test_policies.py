"""Exit policies (core.policies.rules): hand-computed exits on a 3 × 4 trace, validation, causality, monotonicity,
and the vectorized many-threshold path against one ``decide`` per threshold."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.policies import (
    POLICIES,
    EntropyThreshold,
    FractionalReduction,
    HybridEDR,
    LearnedExit,
    MaxProb,
    NormalizedEntropy,
    Oracle,
    Patience,
    ThresholdPolicy,
    class_argmax,
    class_max,
    count_le,
    decide,
    decide_many,
    dr,
    edr,
    edr_from,
    frac_reduction_signal,
    make_policy,
    patience_count,
)
from core.trace import Trace
from tests.conftest import LTE, D, P, build, hand_trace, threshold_for, traces  # noqa: F401

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

def test_hand_trace_signals():
    tr = hand_trace()
    h = {.6: .6730117, .9: .3250830, .99: .0560015, .7: .6108643, .8: .5004024}
    np.testing.assert_allclose(tr.entropy, [[h[.6], h[.9], h[.99], h[.99]], [h[.7], h[.6], h[.8], h[.9]],
                                            [h[.9], h[.7], h[.6], h[.8]]], atol=1e-6)
    np.testing.assert_array_equal(patience_count(tr), [[0, 1, 2, 3], [0, 0, 1, 2], [0, 0, 0, 0]])
    # ΔH (previous): sample 0 block 1 = (.673012 − .325083)/.673012 = .516975; block 3 = 0
    d = frac_reduction_signal(tr)
    assert np.isnan(d[:, 0]).all()
    np.testing.assert_allclose(d[0, 1:], [.516975, .827733, 0.0], atol=1e-5)
    np.testing.assert_allclose(d[1, 1:], [-.101744, .256472, .350356], atol=1e-5)
    # EDR (λ=1) = 2/(1/DR + 1/H̃); sample 0 block 0: H̃ = .970951 → 2/(6 + 1.029918) = .284498
    np.testing.assert_allclose(edr(tr, 1.0)[0], [.284498, .245939, .108829, .108829], atol=1e-5)
    np.testing.assert_allclose(edr(tr, 1.0)[1, 3], 2 / (1.2 + 1 / .468996), atol=1e-5)


def test_dr_and_edr_by_hand():
    np.testing.assert_allclose(dr([1, 3, 2, 0], [3, 1, 2, 0]), [1 / 6, 5 / 6, .5, .5])   # r1=r2=0 → ½
    assert edr_from(1 / 6, .5, 1.0) == pytest.approx(.25)          # 2 / (6 + 2)
    assert edr_from(.5, .25, 2.0) == pytest.approx(.375)           # 3 / (4 + 4)
    assert edr_from(.3, 0.0, 1.0) == 0.0                           # H̃ = 0 → exit
    assert edr_from(0.0, .5, 1.0) == 0.0                           # DR = 0 → exit
    assert edr_from(0.0, 0.0, 1.0) == 0.0
    assert edr_from(.3, .7, 0.0) == pytest.approx(.7)              # λ = 0: the normalized entropy


# policy → (exit_block, answer_block, pred), all worked out by hand from the table above
HAND = [
    (EntropyThreshold(0.4), [1, 3, 0], [1, 3, 0], [0, 1, 0]),
    (EntropyThreshold(0.1), [2, 3, 3], [2, 3, 3], [0, 1, 1]),
    (EntropyThreshold(0.4, min_block=1), [1, 3, 3], [1, 3, 3], [0, 1, 1]),
    (EntropyThreshold([0.1, 0.1, 0.6, 0.6]), [2, 2, 3], [2, 2, 3], [0, 1, 1]),   # per-block thresholds
    (NormalizedEntropy(0.5), [1, 3, 0], [1, 3, 0], [0, 1, 0]),                  # H̃: .469 < .5 at s1 b3
    (MaxProb(0.85), [1, 3, 0], [1, 3, 0], [0, 1, 0]),
    (MaxProb(0.95), [2, 3, 3], [2, 3, 3], [0, 1, 1]),
    # SDN fallback: s1 max p .7 .6 .8 .9 → block 3; s2 .9 .7 .6 .8 → block 0 (and that fixes the error)
    (MaxProb(0.95, fallback="most_confident"), [2, 3, 3], [2, 3, 0], [0, 1, 0]),
    (Patience(1), [1, 2, 3], [1, 2, 3], [0, 1, 1]),
    (Patience(2), [2, 3, 3], [2, 3, 3], [0, 1, 1]),
    (Patience(3), [3, 3, 3], [3, 3, 3], [0, 1, 1]),
    (FractionalReduction(0.1), [3, 1, 1], [3, 1, 1], [0, 1, 1]),                   # ΔH < .1
    (FractionalReduction(0.5, direction="above"), [1, 3, 3], [1, 3, 3], [0, 1, 1]),
    (FractionalReduction(0.9, direction="above", reference="first"), [2, 3, 3], [2, 3, 3], [0, 1, 1]),
    (HybridEDR(0.25), [1, 3, 3], [1, 3, 3], [0, 1, 1]),                          # s0: .2845 .2459
    (HybridEDR(0.5), [0, 3, 0], [0, 3, 0], [0, 1, 0]),                           # s2 block 0: .4840
    (LearnedExit(0.1), [2, 3, 0], [2, 3, 0], [0, 1, 0]),
    (Oracle(), [0, 1, 0], [0, 1, 0], [0, 1, 0]),
]


@pytest.mark.parametrize("policy, exit_block, answer, pred", HAND,
                         ids=lambda v: repr(v) if not isinstance(v, list) else None)
def test_hand_exits(policy, exit_block, answer, pred):
    e = decide(policy, hand_trace())
    np.testing.assert_array_equal(e.exit_block, exit_block)
    np.testing.assert_array_equal(e.answer_block, answer)
    np.testing.assert_array_equal(e.pred, pred)


def test_min_block_at_or_past_the_end_and_fired_flags():
    tr = hand_trace()
    e = decide(EntropyThreshold(0.4, min_block=3), tr)          # only the last block may exit
    np.testing.assert_array_equal(e.exit_block, [3, 3, 3])
    np.testing.assert_array_equal(e.fired, [True, True, False])  # s2: H .500 at block 3 is not < .4
    e = decide(MaxProb(0.5, min_block=9, fallback="most_confident"), tr)   # past the end: nothing fires
    np.testing.assert_array_equal(e.exit_block, [3, 3, 3])
    np.testing.assert_array_equal(e.answer_block, [2, 3, 0])     # all computed; the most confident answers
    assert not e.fired.any()


def test_registry_and_params():
    assert set(POLICIES) == {"entropy", "norm_entropy", "maxprob", "margin", "patience", "frac_reduction", "edr",
                             "lte", "oracle"}
    p = make_policy("frac_reduction", threshold=0.2, direction="above", reference="first", min_block=1)
    assert isinstance(p, FractionalReduction) and p.params == {
        "threshold": 0.2, "min_block": 1, "direction": "above", "reference": "first"}
    q = p.replace(threshold=0.3)
    assert q.threshold == 0.3 and q.direction == "above" and p.threshold == 0.2
    assert make_policy("edr", threshold=0.1, lam=2).lam == 2.0
    for cls in POLICIES.values():   # every threshold rule labels itself
        if issubclass(cls, ThresholdPolicy):
            assert cls.threshold_label and cls.unit and cls.direction in ("below", "above") and cls.title


def test_grids():
    tr = hand_trace()
    g = EntropyThreshold.grid(tr)
    assert len(g) == 201 and g[0] == 0 and g[-1] == pytest.approx(math.log(2))
    np.testing.assert_array_equal(Patience.grid(tr), [1, 2, 3])
    assert MaxProb.grid(tr, 5).tolist() == [.5, .625, .75, .875, 1.0]
    for name, cls in POLICIES.items():
        if issubclass(cls, ThresholdPolicy):
            grid = cls.grid(tr)
            decide_many(make_policy(name, threshold=grid[0]), tr, grid)   # every grid value is valid


@pytest.mark.parametrize("make, match", [
    (lambda: EntropyThreshold(float("nan")), "finite"),
    (lambda: EntropyThreshold(-0.1), r"valid range \[0, inf\]"),
    (lambda: NormalizedEntropy(1.5), r"\[0, 1\]"),
    (lambda: MaxProb(1.2), r"\[0, 1\]"),
    (lambda: MaxProb(0.9, fallback="first"), "fallback"),
    (lambda: Patience(0), "valid range"),
    (lambda: Patience(1.5), "whole number"),
    (lambda: FractionalReduction(1.5), "≤ 1"),
    (lambda: FractionalReduction(0.1, direction="up"), "direction"),
    (lambda: FractionalReduction(0.1, reference="last"), "reference"),
    (lambda: HybridEDR(0.1, lam=-1), "λ"),
    (lambda: HybridEDR(0.1, lam=float("inf")), "λ"),
    (lambda: LearnedExit(2.0), r"\[0, 1\]"),
    (lambda: EntropyThreshold(0.1, min_block=-1), "min_block"),
    (lambda: EntropyThreshold(0.1, min_block=1.5), "min_block"),
    (lambda: EntropyThreshold([[0.1]]), "per-block"),
    (lambda: make_policy("entropi", threshold=0.1), "unknown policy"),
    (lambda: make_policy("entropy", treshold=0.1), "policy 'entropy'"),
])
def test_invalid_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_trace_dependent_validation():
    tr = hand_trace()
    with pytest.raises(ValueError, match=r"outside the valid range \[0, 0.693147\] nats"):
        decide(EntropyThreshold(0.8), tr)                      # > ln 2: probably a normalized value
    with pytest.raises(ValueError, match=r"\[0.5, 1\]"):
        decide(MaxProb(0.3), tr)                               # < 1/K: would always fire
    with pytest.raises(ValueError, match="4 blocks"):
        decide(EntropyThreshold([0.1, 0.2]), tr)               # per-block vector too short
    with pytest.raises(ValueError, match="proto_dist"):
        decide(HybridEDR(0.3), hand_trace(proto_dist=None))
    with pytest.raises(ValueError, match="lte"):
        decide(LearnedExit(0.3), hand_trace(lte=None))
    with pytest.raises(ValueError, match="label"):
        decide(Oracle(), hand_trace(labels=[0, -1, 0]))
    assert HybridEDR.missing(hand_trace(proto_dist=None)) == "needs trace.proto_dist"
    assert Oracle.missing(hand_trace()) is None


def sliced(tr: Trace, length: int) -> Trace:
    """The trace a real early-exit run holds after computing the first `length` blocks."""
    cut = lambda a: None if a is None else a[:, :length]
    return Trace(logits=tr.logits[:, :length], pooled=tr.pooled[:, :length], labels=tr.labels, texts=tr.texts,
                 flops_per_block=tr.flops_per_block[:length], flops_embed=tr.flops_embed,
                 proto_dist=cut(tr.proto_dist), lte=cut(tr.lte),
                 prototypes=None if tr.prototypes is None else tr.prototypes[:length], meta=tr.meta)


@pytest.mark.parametrize("name", sorted(POLICIES))
@FAST
@given(tr=traces(), u=st.floats(0, 1), per_block=st.booleans())
def test_fires_is_causal(name, tr, u, per_block):
    """Column i of fires() is the same whether the trace holds all L blocks or only the first i+1."""
    policy = build(name, tr, u, per_block)
    full = np.asarray(policy.fires(tr), bool)
    assert full.shape == (tr.n, tr.n_blocks)
    for length in range(1, tr.n_blocks + 1):
        np.testing.assert_array_equal(np.asarray(policy.fires(sliced(tr, length)), bool), full[:, :length])


def _exits(policy, tr):
    return decide(policy, tr).exit_block


@FAST
@given(tr=traces(), a=st.floats(0, 1), b=st.floats(0, 1), min_block=st.integers(0, 3))
def test_stricter_thresholds_never_exit_earlier(tr, a, b, min_block):
    lo, hi = sorted((a, b))
    ln_k = math.log(tr.n_classes)
    # entropy: smaller S is stricter
    assert (_exits(EntropyThreshold(lo * ln_k, min_block), tr)
            >= _exits(EntropyThreshold(hi * ln_k, min_block), tr)).all()
    # max-prob: higher q is stricter
    q = lambda u: 1 / tr.n_classes + u * (1 - 1 / tr.n_classes)
    assert (_exits(MaxProb(q(hi), min_block), tr) >= _exits(MaxProb(q(lo), min_block), tr)).all()
    # patience: larger t is stricter
    t1, t2 = 1 + round(lo * 4), 1 + round(hi * 4)
    assert (_exits(Patience(t2, min_block), tr) >= _exits(Patience(t1, min_block), tr)).all()


@pytest.mark.parametrize("name", sorted(set(POLICIES) - {"oracle"}))
@FAST
@given(tr=traces(), us=st.lists(st.floats(0, 1), min_size=1, max_size=12), min_block=st.integers(0, 3),
       use_signal=st.booleans())
def test_decide_many_equals_decide(name, tr, us, min_block, use_signal):
    """The interval representation gives, threshold by threshold, exactly what decide() gives — also for
    duplicate thresholds and thresholds equal to signal values (ties: < vs >=)."""
    policy = build(name, tr, us[0], min_block=min_block)
    thr = [threshold_for(type(policy), tr, u) for u in us]
    if use_signal:       # thresholds exactly on signal values, where < and >= differ
        sig = np.asarray(policy.signal(tr), float).ravel()
        lo, hi = type(policy).valid_range(tr)
        sig = sig[np.isfinite(sig) & (sig >= lo) & (sig <= hi)]
        if type(policy) is Patience:
            sig = sig[sig >= 1]
        thr += sig[: 6].tolist()
    seg = decide_many(policy, tr, thr)
    for t, value in enumerate(thr):
        want = decide(policy.replace(threshold=value), tr)
        got = seg.exits_at(t, tr)
        np.testing.assert_array_equal(got.exit_block, want.exit_block)
        np.testing.assert_array_equal(got.answer_block, want.answer_block)
        np.testing.assert_array_equal(got.pred, want.pred)
        np.testing.assert_array_equal(got.fired, want.fired)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(3, 300), a=st.floats(-5, 5), width=st.floats(1e-3, 10), seed=st.integers(0, 2**31))
def test_count_le_matches_searchsorted(n, a, width, seed):
    grid = np.linspace(a, a + width, n)                       # the evenly spaced fast path
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(a - 1, a + width + 1, 50), grid, grid[::7] + 1e-12, [np.inf, -np.inf]])
    np.testing.assert_array_equal(count_le(grid, x), np.searchsorted(grid, x, side="right"))
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(count_le(grid, x32), np.searchsorted(grid, x32.astype(np.float64), side="right"))
    uneven = np.sort(rng.uniform(a, a + width, n))
    np.testing.assert_array_equal(count_le(uneven, x), np.searchsorted(uneven, x, side="right"))


@settings(max_examples=50, deadline=None)
@given(k=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_class_argmax_is_argmax_with_first_tie(k, seed):
    x = np.random.default_rng(seed).integers(-2, 3, (7, 4, k)).astype(np.float32)   # plenty of ties
    np.testing.assert_array_equal(class_argmax(x), x.argmax(-1))
    np.testing.assert_array_equal(class_max(x), x.max(-1))

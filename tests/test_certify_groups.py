"""core.certify.groups: a threshold certified in every slice. Counts per slice equal core.certify.ltt's on each slice
alone; the grouped threshold is the most cautious of the slices' own certificates at δ/G (core.certify.ltt on each
subset); slices too small are listed, never dropped; and on a synthetic population with one hard slice of three
the grouped certificate holds in every slice at the stated rate while the global one never does."""
import math

import numpy as np
import pytest

from core.certify import certify, group_risk_counts, needed_n, risk_by_slice, risk_counts
from core.policies import EntropyThreshold, MaxProb
from core.trace import Trace
from tests.conftest import hand_trace, trace_of


def noisy(n=900, n_blocks=4, seed=0) -> Trace:
    """Exits that improve with depth, three length buckets of different difficulty."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    words = rng.integers(1, 40, n)
    logits = rng.normal(size=(n, n_blocks, 2)).astype(np.float32)
    logits[np.arange(n), :, labels] += (np.arange(n_blocks) + 1)[None] * (1.5 - words[:, None] / 40)
    texts = [" ".join(["w"] * int(k)) for k in words]
    return trace_of(logits, labels, texts=texts)


def test_counts_per_slice_equal_certify_on_each_slice():
    tr = noisy()
    pol = EntropyThreshold(0.3)
    grid = EntropyThreshold.grid(tr)
    codes = np.searchsorted([10, 20, 30], [len(t.split()) for t in tr.texts], side="left")
    ordered, errors, mono = group_risk_counts(tr, pol, grid, codes, 4)
    for g in range(4):
        o, e, m = risk_counts(tr.subset(codes == g), pol, grid)
        np.testing.assert_array_equal(o, ordered)
        for risk in ("induced", "consistency"):
            np.testing.assert_array_equal(errors[risk][g], e[risk])
            np.testing.assert_array_equal(mono[risk][g], m[risk])


@pytest.mark.parametrize("method", ["ltt", "crc"])
def test_grouped_threshold_is_the_most_cautious_slice_certificate(method):
    tr = noisy(seed=1)
    eps, delta = 0.05, 0.1
    gc = certify(tr, "entropy", eps, delta, method=method, groups="length")
    assert list(gc.slices["slice"]) == ["1–10 words", "11–20 words", "21–30 words", "> 30 words"]
    codes = np.searchsorted([10, 20, 30], [len(t.split()) for t in tr.texts], side="left")
    assert gc.slices["samples"].tolist() == np.bincount(codes, minlength=4).tolist()
    assert gc.slices["covered"].all()
    d = delta / 4 if method == "ltt" else delta        # CRC bounds an expectation: no δ to split
    alone = [certify(tr.subset(codes == g), "entropy", eps, d, method=method) for g in range(4)]
    grid = list(EntropyThreshold.grid(tr))            # ascending: the conservative end first
    cautious = min((c.threshold for c in alone), key=lambda t: -1 if t is None else grid.index(t))
    assert gc.threshold == cautious
    assert gc.slices["fastest threshold alone"].tolist() == [c.threshold for c in alone]
    if method == "ltt":
        assert gc.delta_slice == pytest.approx(delta / 4)
    # at the grouped threshold every covered slice's bound is ≤ ε, and the reported bound is the worst of them
    assert (gc.slices["risk bound"] <= eps).all() and gc.bound == pytest.approx(gc.slices["risk bound"].max())
    # one slice holding everything: the global certificate
    one = certify(tr, "entropy", eps, delta, method=method, groups=np.zeros(tr.n, int))
    assert one.threshold == certify(tr, "entropy", eps, delta, method=method).threshold


def test_needed_n_by_hand():
    # LTT: 1 − δ^(1/n) ≤ ε ⇔ n ≥ ln δ / ln(1 − ε): ε = .05, δ = .1 → 44.89 → 45
    assert needed_n(0.05, 0.1, "ltt") == 45
    for eps, delta in [(0.05, 0.1), (0.01, 0.05), (0.02, 0.01), (0.2, 0.5)]:   # the smallest n, by its definition
        n = needed_n(eps, delta, "ltt")
        assert 1 - delta ** (1 / n) <= eps < 1 - delta ** (1 / (n - 1))
    assert needed_n(0.05, 0.1, "crc") == 19                 # 1/(n+1) ≤ .05 ⇔ n ≥ 19


def test_small_slices_are_listed_not_dropped():
    tr = noisy(n=600, seed=2)
    groups = np.where(np.arange(tr.n) < 10, "tiny", "big")   # 10 samples cannot certify ε = .05 at δ/2
    gc = certify(tr, "entropy", 0.05, 0.1, groups=groups)
    row = gc.slices.set_index("slice").loc["tiny"]
    assert not row["covered"] and "too small" in row["note"] and row["samples"] == 10
    assert gc.uncovered == ["tiny"]
    assert gc.delta_slice == pytest.approx(0.1)              # G counts the covered slice only
    text = __import__("core.certify.groups", fromlist=["x"]).group_guarantee_text(gc)
    assert "No guarantee for tiny (10 samples" in text
    # every slice too small: nothing certified, and it says why
    gc = certify(tr.subset(np.arange(30)), "entropy", 0.05, 0.1, groups=np.arange(30) % 3)
    assert gc.threshold is None and gc.slices["covered"].sum() == 0
    assert "no slice has enough calibration samples" in __import__(
        "core.certify.groups", fromlist=["x"]).group_guarantee_text(gc)


def test_risk_by_slice_by_hand():
    # hand trace at S = 0.68: every sample exits at block 1 answering 0; sample 1 (label 1, final right) is the one
    # exit-induced error
    tr = hand_trace()
    df = risk_by_slice(tr, EntropyThreshold(0.68), np.array(["x", "y", "x"]), epsilon=0.1, delta=0.2)
    df = df.set_index("slice")
    assert df.loc["x", "errors"] == 0 and df.loc["y", "errors"] == 1 and df.loc["y", "risk"] == 1.0
    assert bool(df.loc["y", "risk above ε"]) and not bool(df.loc["x", "risk above ε"])
    assert df.loc["x", "risk bound"] == pytest.approx(1 - 0.1 ** 0.5)      # 0 of 2 at δ/G = .2/2
    full = risk_by_slice(tr, None, np.array(["x", "y", "x"]), epsilon=0.1)
    assert full["errors"].tolist() == [0, 0]


# ── coverage on synthetic slices ─────────────────────────────────────────────────────────────────────
# Two exits, K = 2. Block 1's confidence u ~ U(0.5, 1); it is wrong with probability 2a(1 − u), the final exit is
# always right. MaxProb at q exits at block 1 when u ≥ q, so the true exit-induced risk of a slice with difficulty a
# is ∫_q^1 2 · 2a(1 − u) du = 2a(1 − q)². Slices: a = .1, .1, .6 (the third is hard).

A = np.array([0.1, 0.1, 0.6])


def population(n_per: int, rng) -> Trace:
    s = np.repeat(np.arange(len(A)), n_per)
    n = len(s)
    u = rng.uniform(0.5, 1.0, n)
    wrong = rng.random(n) < 2 * A[s] * (1 - u)
    y = rng.integers(0, 2, n)
    first = np.where(wrong, 1 - y, y)
    p0 = np.zeros((n, 2))
    p0[np.arange(n), first] = u
    p0[np.arange(n), 1 - first] = 1 - u
    p1 = np.zeros((n, 2))
    p1[np.arange(n), y] = 0.99
    p1[np.arange(n), 1 - y] = 0.01
    return Trace(logits=np.log(np.stack([p0, p1], 1)), pooled=np.zeros((n, 2, 1)), labels=y, texts=[""] * n,
                 flops_per_block=[1.0, 1.0], meta={"slice": s.tolist()})


def true_risk(q):
    return np.zeros(len(A)) if q is None else 2 * A * (1 - q) ** 2


@pytest.mark.slow
def test_grouped_certificate_covers_every_slice_and_the_global_one_does_not():
    eps, delta, draws = 0.05, 0.1, 200
    rng = np.random.default_rng(21)
    glob_hard, grouped_ok, grouped_fast = [], [], []
    for _ in range(draws):
        tr = population(1000, rng)
        g = certify(tr, MaxProb(0.9), eps, delta)
        gc = certify(tr, MaxProb(0.9), eps, delta, groups="slice")
        glob_hard.append(true_risk(g.threshold)[2])
        grouped_ok.append(bool((true_risk(gc.threshold) <= eps).all()))
        grouped_fast.append(gc.threshold is not None and gc.layer_speedup > 1.05)
    assert min(glob_hard) > eps                        # the global certificate breaks the hard slice every time
    assert np.mean(grouped_ok) >= 1 - delta            # the grouped one holds in every slice at the stated rate
    assert np.mean(grouped_fast) > 0.9                 # … and is not the full model (which would hold trivially)
    assert math.isclose(true_risk(0.8)[2], 2 * 0.6 * 0.04)

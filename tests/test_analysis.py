"""core.analysis: metrics, cost, sweeps, Pareto, threshold selection, overthinking, calibration, cohorts —
hand-computed on the 3 × 4 trace of test_policies, plus identities and sweep == decide on random traces."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.analysis import (
    COST_CONVENTIONS,
    SWEEP_COLUMNS,
    Stat,
    best_threshold,
    calibration,
    cohorts,
    confusion_matrix,
    confusion_score,
    confusion_stats,
    cost,
    destructive_overthinking,
    exit_fixed_errors,
    exit_histogram,
    exit_induced_errors,
    first_correct_block,
    flips,
    metric,
    metric_from_confusion,
    oracle_accuracy,
    pareto_front,
    per_exit_accuracy,
    per_exit_metric,
    split_halves,
    sweep,
    sweep_all,
    wasteful_overthinking,
)
from core.policies import POLICIES, EntropyThreshold, MaxProb, Oracle, decide
from core.trace import Trace
from tests.conftest import build, hand_trace, threshold_for, traces

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ── metrics ──────────────────────────────────────────────────────────────────────────────────────

def test_binary_metrics_by_hand():
    y_true = [1, 1, 1, 0, 0, 0, 1, 0]
    y_pred = [1, 1, 0, 0, 0, 1, 1, 0]            # TP 3, FN 1, FP 1, TN 3
    assert metric("accuracy", y_true, y_pred) == 0.75
    assert metric("f1", y_true, y_pred) == 0.75                  # 2·3 / (2·3 + 1 + 1)
    assert metric("mcc", y_true, y_pred) == 0.5                  # (3·3 − 1·1) / sqrt(4·4·4·4)
    assert metric("matthews_correlation", y_true, y_pred) == 0.5  # alias
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred), [[3, 1], [1, 3]])


def test_multiclass_mcc_by_hand():
    # confusion (rows true): [[2,0,0],[1,0,1],[0,1,1]]: c = 3, s = 6, t = (2,2,2), p = (3,1,2)
    # MCC = (3·6 − 12) / sqrt((36 − 14)(36 − 12)) = 6 / sqrt(528) = 0.261116
    y_true, y_pred = [0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 2]
    assert metric("mcc", y_true, y_pred) == pytest.approx(6 / math.sqrt(528))
    assert metric("accuracy", y_true, y_pred) == pytest.approx(0.5)


def test_degenerate_metrics():
    assert metric("mcc", [0, 1, 0, 1], [1, 1, 1, 1]) == 0.0      # constant prediction: sklearn's 0
    assert metric("f1", [0, 0, 0], [0, 0, 0]) == 0.0             # no positives anywhere
    assert metric("f1", [1, 1], [1, 1]) == 1.0
    assert metric("mcc", [0, 1], [0, 1]) == 1.0
    assert metric("mcc", [0, 1], [1, 0]) == -1.0
    with pytest.raises(ValueError, match="unknown metric"):
        metric("auc", [0], [0])
    with pytest.raises(ValueError, match="-1"):
        metric("accuracy", [0, -1], [0, 1])


def test_vectorized_metric_from_confusion():
    conf = np.array([[[3, 1], [1, 3]], [[2, 0], [0, 2]]])
    np.testing.assert_allclose(metric_from_confusion("mcc", conf), [0.5, 1.0])
    np.testing.assert_allclose(metric_from_confusion("f1", conf), [0.75, 1.0])


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(2, 4), n=st.integers(1, 40))
def test_metrics_match_sklearn(seed, k, n):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, k, n), rng.integers(0, k, n)
    assert metric("accuracy", y, p) == pytest.approx(skm.accuracy_score(y, p))
    assert metric("mcc", y, p) == pytest.approx(skm.matthews_corrcoef(y, p), abs=1e-12)
    if k == 2:
        assert metric("f1", y, p) == pytest.approx(skm.f1_score(y, p, zero_division=0))


# ── cost ─────────────────────────────────────────────────────────────────────────────────────────

def test_cost_by_hand():
    tr = hand_trace()                                 # F_embed 5, F_block 10 20 30 40 → cumsum 10 30 60 100
    e = decide(EntropyThreshold(0.4), tr)             # exits 1, 3, 0 → 1-based 2, 4, 1
    c = cost(tr, e)
    assert c.avg_exit_block == pytest.approx(7 / 3)
    assert c.layer_speedup == pytest.approx(12 / 7)   # L / ℓ̄ = 4 / (7/3)
    assert c.saved_layers == pytest.approx(5 / 12)
    assert c.expected_flops == pytest.approx(155 / 3)  # 5 + (30 + 100 + 10) / 3
    assert c.flops_full == 105
    assert c.flops_reduction == pytest.approx(32 / 63)  # 1 − (155/3)/105
    np.testing.assert_array_equal(c.exit_histogram, [1, 1, 0, 1])
    np.testing.assert_array_equal(exit_histogram(tr, e), [1, 1, 0, 1])
    assert {s.name for s in c.stats()} == {v["label"] for v in COST_CONVENTIONS.values()}
    assert all(v["unit"] and v["formula"] for v in COST_CONVENTIONS.values())


def test_cost_follows_the_exit_block_not_the_answer():
    tr = hand_trace()
    e = decide(MaxProb(0.95, fallback="most_confident"), tr)    # answers 2, 3, 0 but computes 3, 4, 4 blocks
    assert cost(tr, e).avg_exit_block == pytest.approx(11 / 3)


# ── sweeps ───────────────────────────────────────────────────────────────────────────────────────

def test_sweep_by_hand():
    df = sweep(hand_trace(), "entropy", [0.4, 0.1])              # caller's order is kept
    assert list(df.columns) == list(SWEEP_COLUMNS)
    assert df.attrs["columns"]["layer_speedup"]["unit"] == "×"
    r4, r1 = df.iloc[0], df.iloc[1]
    assert r4.threshold == 0.4 and r4.metric == 1.0 and r4.metric_name == "accuracy"
    assert r4.layer_speedup == pytest.approx(12 / 7) and r4.flops_reduction == pytest.approx(32 / 63)
    assert (r4.exit_induced_errors, r4.exit_fixed_errors) == (0, 1)     # sample 2 fixed by exiting at 0
    assert r1.metric == pytest.approx(2 / 3) and r1.avg_exit_block == pytest.approx(11 / 3)
    assert (r1.exit_induced_errors, r1.exit_fixed_errors) == (0, 0)
    assert json.loads(r4.params) == {"min_block": 0}


def test_sweep_metric_from_meta():
    tr = hand_trace(meta={"metric": "mcc"})
    df = sweep(tr, "entropy", [0.4, 0.1])
    # 0.4: preds 0 1 0 = labels → 1; 0.1: preds 0 1 1 → TP 1 FP 1 TN 1 FN 0 → 1/sqrt(2·1·2·1) = 0.5
    np.testing.assert_allclose(df.metric, [1.0, 0.5])
    np.testing.assert_allclose(df.accuracy, [1.0, 2 / 3])
    assert (df.metric_name == "mcc").all()
    df = sweep(hand_trace(meta={"metric": "f1"}), "entropy", [0.1])
    assert df.metric[0] == pytest.approx(2 / 3)                        # 2·1 / (2·1 + 1 + 0)


def test_sweep_oracle_per_block_and_unlabelled():
    tr = hand_trace()
    o = sweep(tr, "oracle")
    assert len(o) == 1 and np.isnan(o.threshold[0]) and o.metric[0] == 1.0
    assert o.avg_exit_block[0] == pytest.approx(4 / 3)
    per_block = sweep(tr, "entropy", np.array([[0.1, 0.1, 0.6, 0.6], [0.4] * 4]))   # exits 2 2 3 / 1 3 0
    np.testing.assert_allclose(per_block.avg_exit_block, [10 / 3, 7 / 3])
    assert per_block.threshold[0] == [0.1, 0.1, 0.6, 0.6]
    df = sweep(hand_trace(labels=[-1, -1, -1]), "maxprob", [0.85])
    assert np.isnan(df.metric[0]) and df.avg_exit_block[0] == pytest.approx(7 / 3)
    with pytest.raises(ValueError, match="thresholds="):
        sweep(tr, "entropy", threshold=0.3)
    with pytest.raises(ValueError, match="unknown policy"):
        sweep(tr, "nope")


@pytest.mark.parametrize("name", sorted(POLICIES))
@FAST
@given(tr=traces(max_n=12, max_blocks=5), us=st.lists(st.floats(0, 1), min_size=1, max_size=8),
       min_block=st.integers(0, 2), task=st.sampled_from(["accuracy", "f1", "mcc"]))
def test_sweep_equals_decide_per_threshold(name, tr, us, min_block, task):
    tr.meta["metric"] = task
    policy = build(name, tr, us[0], min_block=min_block)
    thr = None if name == "oracle" else [threshold_for(type(policy), tr, u) for u in us]
    df = sweep(tr, policy, thr)
    for _, row in df.iterrows():
        p = policy if name == "oracle" else policy.replace(threshold=row.threshold)
        e = decide(p, tr)
        c = cost(tr, e)
        assert row.metric == pytest.approx(metric(task, tr.labels, e.pred), abs=1e-12)
        assert row.accuracy == pytest.approx((e.pred == tr.labels).mean())
        for key in ("avg_exit_block", "layer_speedup", "saved_layers", "expected_flops", "flops_reduction"):
            assert row[key] == pytest.approx(getattr(c, key)), key
        assert row.exit_induced_errors == len(exit_induced_errors(tr, e))
        assert row.exit_fixed_errors == len(exit_fixed_errors(tr, e))


def test_sweep_all_skips_what_the_trace_lacks():
    df = sweep_all(hand_trace(), n=11)
    assert set(df.policy) == {"entropy", "norm_entropy", "maxprob", "margin", "patience", "frac_reduction", "edr",
                              "lte"}
    assert (df.groupby("policy").size().drop("patience") == 11).all() and (df.policy == "patience").sum() == 3
    df = sweep_all(hand_trace(proto_dist=None, lte=None), n=5, include_oracle=True,
                   params={"frac_reduction": {"direction": "above"}})
    assert set(df.policy) == {"entropy", "norm_entropy", "maxprob", "margin", "patience", "frac_reduction", "oracle"}
    assert json.loads(df[df.policy == "frac_reduction"].params.iloc[0])["direction"] == "above"


def test_pareto_front_by_hand():
    df = pd.DataFrame({"name": list("ABCDEFG"),
                       "layer_speedup": [1.0, 1.5, 1.5, 2.0, 1.2, 2.5, 2.5],
                       "metric": [0.90, 0.88, 0.85, 0.80, 0.87, 0.80, np.nan]})
    # C: same speed as B, worse; E: dominated by B; D: dominated by F (same metric, faster); G: NaN
    assert pareto_front(df).name.tolist() == ["A", "B", "F"]
    dup = pd.DataFrame({"layer_speedup": [1.0, 1.0, 2.0], "metric": [0.9, 0.9, 0.5]})
    assert pareto_front(dup).index.tolist() == [0, 2]              # identical points: the first kept


def test_best_threshold_by_hand():
    tr = hand_trace()
    grid = [0.0, 0.1, 0.4, 0.69]
    # on the hand trace: S=0 full model (acc 2/3, ×1); 0.1 (2/3, ×12/11); 0.4 (1, ×12/7); 0.69 (2/3, ×4)
    t = best_threshold(tr, tr, "entropy", target_drop=0.0, thresholds=grid)
    assert t.threshold == 0.69 and t.feasible and t.tune["layer_speedup"] == 4.0
    assert t.tune["baseline_metric"] == pytest.approx(2 / 3) and t.tune["drop"] == pytest.approx(0)
    t = best_threshold(tr, tr, "entropy", target_speedup=1.5, thresholds=grid)
    assert t.threshold == 0.4 and t.tune["metric"] == 1.0 and t.test["metric"] == 1.0
    assert t.test["drop"] == pytest.approx(-1 / 3)                   # early exit beats the final layer
    t = best_threshold(tr, tr, "entropy", target_speedup=5, thresholds=grid)
    assert not t.feasible and t.threshold == 0.69                   # nothing reaches ×5: the fastest
    assert t.to_frame().split.tolist() == ["tune", "test"]
    with pytest.raises(ValueError, match="exactly one"):
        best_threshold(tr, tr, "entropy")
    with pytest.raises(ValueError, match="no threshold"):
        best_threshold(tr, tr, "oracle", target_drop=0.01)


def test_best_threshold_reports_on_the_other_split():
    rng = np.random.default_rng(0)
    n, n_blocks = 400, 6
    labels = rng.integers(0, 2, n)
    logits = rng.normal(size=(n, n_blocks, 2)).astype(np.float32)
    logits[np.arange(n), :, labels] += np.linspace(0, 2, n_blocks)
    tr = Trace(logits=logits, pooled=np.zeros((n, n_blocks, 1)), labels=labels, texts=[""] * n,
               flops_per_block=np.ones(n_blocks))
    a, b = split_halves(tr, seed=1)
    t = best_threshold(a, b, "maxprob", target_drop=0.02)
    assert t.tune["metric"] >= t.tune["baseline_metric"] - 0.02
    held = sweep(b, "maxprob", [t.threshold]).iloc[0]
    assert t.test["metric"] == held.metric and t.test["layer_speedup"] == held.layer_speedup


def test_split_halves_are_disjoint():
    tr = Trace(logits=np.zeros((9, 2, 2)), pooled=np.zeros((9, 2, 1)), labels=np.arange(9) % 2,
               texts=[str(i) for i in range(9)], flops_per_block=[1, 1])
    a, b = split_halves(tr, seed=3)
    assert (a.n, b.n) == (4, 5)
    assert sorted(a.texts + b.texts, key=int) == tr.texts and not set(a.texts) & set(b.texts)
    assert split_halves(tr, seed=3)[0].texts == a.texts                # seeded


# ── overthinking, calibration, cohorts ───────────────────────────────────────────────────────────

def test_overthinking_by_hand():
    tr = hand_trace()                        # preds: s0 0000, s1 0111, s2 0101; labels 0 1 0
    np.testing.assert_allclose(per_exit_accuracy(tr).value, [2 / 3, 2 / 3, 1, 2 / 3])
    np.testing.assert_allclose(per_exit_metric(tr, "mcc").value, [0, 0.5, 1, 0.5])
    assert oracle_accuracy(tr).value == 1.0
    np.testing.assert_array_equal(first_correct_block(tr), [0, 1, 0])
    d = destructive_overthinking(tr)
    np.testing.assert_array_equal(d.per_layer.value, [1, 0, 1, 0])   # |C_i ∩ W_L|, W_L = {s2}
    assert (d.count, d.n_errors, d.rate.value, d.share_of_errors.value) == (1, 1, 1 / 3, 1.0)
    np.testing.assert_array_equal(d.samples, [2])
    w = wasteful_overthinking(tr)
    assert (w.count, w.still_correct, w.rate.value) == (3, 2, 1.0)
    np.testing.assert_array_equal(w.first_correct_hist.value, [2, 1, 0, 0])
    assert w.oracle_cost.avg_exit_block == pytest.approx(4 / 3)       # exits 0, 1, 0
    assert w.oracle_cost.expected_flops == pytest.approx(5 + 50 / 3)  # 5 + (10 + 30 + 10)/3
    np.testing.assert_array_equal(flips(tr), [0, 1, 3])


def test_confusion_score_by_hand():
    tr = hand_trace()
    # Σ_i ||p_L − p_i||_1: s0 .78 + .18 = .96; s1 1.2 + .6 + .2 = 2.0; s2 1.4 + .2 + .8 = 2.4
    np.testing.assert_allclose(confusion_score(tr), [0.96, 2.0, 2.4], atol=1e-6)
    # mean 5.36/3 = 1.786667, population std sqrt(1.105067/3) = 0.606923
    np.testing.assert_allclose(confusion_score(tr, normalize=True), [-1.362062, 0.351500, 1.010562], atol=1e-5)
    mean, std = confusion_stats(tr)
    assert mean == pytest.approx(1.786667, abs=1e-6) and std == pytest.approx(0.606923, abs=1e-6)
    np.testing.assert_allclose(confusion_score(tr, normalize=True, stats=(2.0, 0.5)), [-2.08, 0.0, 0.8], atol=1e-5)


def test_calibration_by_hand():
    tr = hand_trace()
    c = calibration(tr, n_bins=4)            # bins (0,.25] (.25,.5] (.5,.75] (.75,1]
    # block 0: confidences .6 .7 .9, right/wrong/right → bin 2: conf .65 acc .5; bin 3: conf .9 acc 1
    # ECE = 2/3·|.5 − .65| + 1/3·|1 − .9| = .1 + .0333 = .133333
    np.testing.assert_array_equal(c.count[0], [0, 0, 2, 1])
    np.testing.assert_allclose(c.confidence[0, 2:], [.65, .9], atol=1e-6)
    np.testing.assert_allclose(c.accuracy[0, 2:], [.5, 1.0])
    assert np.isnan(c.confidence[0, 0]) and np.isnan(c.accuracy[0, 1])
    assert c.ece.value[0] == pytest.approx(0.4 / 3, abs=1e-6)
    c2 = calibration(tr, n_bins=2)           # everything in (.5, 1]: ECE = |acc − mean conf|
    np.testing.assert_allclose(c2.ece.value, [.066667, .066667, .203333, .23], atol=1e-5)
    assert c2.ece.unit == "fraction" and c2.ece.range == (0.0, 1.0)


def test_cohorts_by_hand():
    tr = hand_trace()
    e = decide(EntropyThreshold(0.1), tr)     # exits 2 3 3, preds 0 1 1: nothing changes vs the final
    got = cohorts(tr, decide(EntropyThreshold(0.4), tr))
    assert {k: v.tolist() for k, v in got.items()} == {
        "destructive": [2], "wasteful": [0, 1, 2], "multi_flip": [2], "correct": [0, 1], "wrong": [2],
        "exit_induced_errors": [], "exit_fixed_errors": [2]}
    assert exit_fixed_errors(tr, e).tolist() == [] and exit_induced_errors(tr, e).tolist() == []
    # an exit that breaks sample 1: threshold where s1 exits at block 0 (pred 0, label 1)
    bad = decide(EntropyThreshold(0.65), tr)  # s0 b1 (.325), s1 b0 (.611), s2 b0 (.325)
    assert exit_induced_errors(tr, bad).tolist() == [1] and exit_fixed_errors(tr, bad).tolist() == [2]
    assert list(cohorts(hand_trace(labels=[-1, -1, -1]))) == ["multi_flip"]


def test_label_free_analysis_raises_clearly():
    tr = hand_trace(labels=[0, -1, 0])
    for f in (per_exit_accuracy, oracle_accuracy, destructive_overthinking, wasteful_overthinking, calibration):
        with pytest.raises(ValueError, match="label"):
            f(tr)


def test_stats_carry_labels():
    s = oracle_accuracy(hand_trace())
    assert isinstance(s, Stat) and s.name == "oracle accuracy" and s.unit == "fraction" and s.range == (0, 1)
    assert float(s) == 1.0


@FAST
@given(tr=traces(max_n=20, max_blocks=6))
def test_oracle_minus_final_is_the_destructive_rate(tr):
    """∪_i C_i = C_L ⊔ (∪_{i<L} C_i ∩ W_L), so oracle − final accuracy = destructive rate, exactly."""
    d = destructive_overthinking(tr)
    oracle_count = int(tr.correct.any(axis=1).sum())
    final_count = int(tr.correct[:, -1].sum())
    assert oracle_count - final_count == d.count
    assert oracle_accuracy(tr).value - per_exit_accuracy(tr).value[-1] == pytest.approx(d.rate.value, abs=1e-15)
    # and the oracle policy reaches the oracle accuracy
    assert (decide(Oracle(), tr).pred == tr.labels).mean() == oracle_accuracy(tr).value

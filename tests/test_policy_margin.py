"""The margin policy (top-1 − top-2 probability ≥ m): hand-computed values, its self-description, and the
app's generic machinery (sweep, reasons) picking it up with no other change."""
import numpy as np
import pytest

from core.analysis import sweep
from core.policies import POLICIES, SIGNALS, Margin, MaxProb, decide, make_policy, margin, sample_signals
from tests.conftest import trace_of


def _trace(logits, labels=None):
    return trace_of(np.asarray(logits, dtype=np.float32), labels)


def test_margin_signal_by_hand_three_classes():
    p = np.array([[[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]])                  # (1, 2, 3) probabilities
    tr = _trace(np.log(p))
    np.testing.assert_allclose(margin(tr), [[0.2, 0.7]], atol=1e-6)      # 0.5 − 0.3, 0.8 − 0.1


def test_margin_exits_at_first_block_with_enough_lead_and_matches_maxprob_for_two_classes():
    p = np.array([[[0.6, 0.4], [0.95, 0.05], [0.99, 0.01]],             # margins 0.2, 0.9, 0.98
                  [[0.55, 0.45], [0.6, 0.4], [0.7, 0.3]]])              # margins 0.1, 0.2, 0.4 → never ≥ 0.5
    tr = _trace(np.log(p), labels=[0, 0])
    e = decide(make_policy("margin", threshold=0.5), tr)
    np.testing.assert_array_equal(e.exit_block, [1, 2])
    np.testing.assert_array_equal(e.fired, [True, False])
    q = decide(MaxProb(threshold=0.75), tr)                              # K = 2: m = 2q − 1
    np.testing.assert_array_equal(q.exit_block, e.exit_block)


def test_margin_describes_itself_and_sweeps_like_any_policy():
    assert POLICIES["margin"] is Margin
    assert Margin.signal_key in SIGNALS and Margin.colour.startswith("#") and "m" in Margin.formula
    spec = Margin.threshold_spec(_trace(np.zeros((1, 4, 3))))
    assert (spec.lo, spec.hi, spec.default) == (0.0, 1.0, 0.8) and len(spec.grid()) == 201
    rng = np.random.default_rng(0)
    tr = _trace(rng.normal(size=(300, 4, 3)) * 2, labels=rng.integers(0, 3, 300))
    df = sweep(tr, "margin")
    assert len(df) == 201 and (df["policy"] == "margin").all()
    for thr in (0.1, 0.5, 0.9):                                          # the vectorized sweep = decide
        row = df.iloc[int(np.argmin(np.abs(df["threshold"] - thr)))]
        e = decide(Margin(threshold=float(row["threshold"])), tr)
        assert row["accuracy"] == pytest.approx(float((e.pred == tr.labels).mean()))
    stats = sample_signals(tr, 0)
    assert stats["margin"].unit == "probability" and len(stats["margin"].value) == 4


def test_margin_reason_in_words():
    p = np.array([[[0.6, 0.4], [0.95, 0.05]]])
    tr = _trace(np.log(p))
    pol = Margin(threshold=0.5)
    text = pol.reason(tr, 0, decide(pol, tr))
    assert text.startswith("exited at block 2: top-1 − top-2 probability 0.9 ≥ m = 0.5")
    assert "block 1: 0.2 < m" in text

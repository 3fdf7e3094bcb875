"""core.certify.ltt: Hoeffding–Bentkus p-values by hand and against MAPIE, the risk counts against one ``decide``
per threshold, the guarantee on synthetic populations with a known risk curve, edge cases, the CLI."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value, get_r_hat_plus
from scipy.optimize import brentq

from core.certify import (
    RISKS,
    certify,
    crc_bound,
    fixed_sequence,
    guarantee_text,
    hb_p_values,
    holdout_warning,
    realized,
    risk_counts,
    sample_risk,
    smallest_epsilon,
    smallest_epsilon_text,
    upper_bound,
)
from core.cli.certify import main, table
from core.policies import POLICIES, EntropyThreshold, MaxProb, ThresholdPolicy, decide, make_policy
from core.trace import Trace
from tests.conftest import hand_exit, random_trace, trace_of

REPO_MODEL = str(Path(__file__).resolve().parents[1] / "assets" / "models" / "beex-sst2")


# ── statistics ───────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("k, n, eps, binary, expected", [
    (0, 10, 0.1, True, 0.9 ** 10),              # P(Bin(10, .1) = 0); Hoeffding gives the same (1 − ε)^n
    (0, 10, 0.1, False, 0.9 ** 10),             # e·tail is larger, Hoeffding's (1 − ε)^n wins
    (1, 5, 0.5, True, 6 / 32),                  # P(Bin(5, ½) ≤ 1) = (1 + 5)/32
    (1, 5, 0.5, False, 2.5 * 0.625 ** 4),       # Hoeffding (ε/r̂)^{n r̂}((1−ε)/(1−r̂))^{n(1−r̂)} < e·6/32
    (3, 4, 0.5, True, 15 / 16),                 # r̂ > ε: Hoeffding is 1, the tail P(Bin(4, ½) ≤ 3) = 15/16
    (3, 4, 0.5, False, 1.0),
    (0, 3, 0.2, True, 0.512),
    (2, 2, 0.3, True, 1.0),                     # every sample lost: no evidence at all
])
def test_hb_p_values_by_hand(k, n, eps, binary, expected):
    assert hb_p_values([k], n, eps, binary)[0] == pytest.approx(expected, rel=1e-12)


def test_hb_p_value_k7_n100_exact_tail_where_mapie_rounds_up():
    exact = sum(math.comb(100, i) * 0.1 ** i * 0.9 ** (100 - i) for i in range(8))
    assert hb_p_values([7], 100, 0.1)[0] == pytest.approx(exact, rel=1e-10)
    # MAPIE's ceil(100 · 0.07) is 8 in floating point: a valid, looser p-value (the tail up to 8)
    mapie = compute_hoeffding_bentkus_p_value(np.array([0.07]), 100, 0.1, binary=True)[0, 0]
    assert mapie > exact + 0.1


def test_hb_p_values_match_mapie_where_its_rounding_is_exact():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        n = int(rng.integers(1, 400))
        k = int(rng.integers(0, n + 1))
        eps = float(rng.uniform(0.001, 0.999))
        if math.ceil(n * (k / n)) != k:
            continue
        for binary in (True, False):
            ref = compute_hoeffding_bentkus_p_value(np.array([k / n]), n, eps, binary=binary)[0, 0]
            assert hb_p_values([k], n, eps, binary)[0] == pytest.approx(ref, rel=1e-9, abs=1e-300)
        checked += 1
    assert checked > 200


def test_epsilon_at_least_one_is_always_rejected():
    assert (hb_p_values([0, 3, 5], 5, 1.0) == 0).all()


@pytest.mark.parametrize("k, n, delta", [(0, 1, 0.1), (0, 436, 0.05), (3, 50, 0.1), (17, 2000, 0.05), (9, 10, 0.2)])
def test_upper_bound_inverts_the_binary_p_value(k, n, delta):
    ucb = float(upper_bound(k, n, delta))
    assert hb_p_values([k], n, ucb)[0] == pytest.approx(delta, rel=1e-6)
    assert hb_p_values([k], n, ucb * (1 - 1e-4))[0] > delta       # a hair below the bound: not rejected
    assert k / n < ucb < 1


def test_upper_bound_edges_and_smallest_epsilon():
    assert upper_bound(5, 5, 0.1) == 1.0
    assert smallest_epsilon(436, 0.05) == pytest.approx(1 - 0.05 ** (1 / 436))     # (1 − ε)^n = δ
    assert smallest_epsilon(436, 0.05) == pytest.approx(0.006847, abs=1e-6)
    assert smallest_epsilon(99, 0.05, "crc") == pytest.approx(0.01)
    assert "436 samples" in smallest_epsilon_text(436, 0.05) and "0.0068" in smallest_epsilon_text(436, 0.05)


def test_crc_bound_matches_mapie():
    rng = np.random.default_rng(1)
    losses = rng.random((37, 6)) < np.linspace(0.0, 0.6, 6)                # (n, T) binary losses
    _, ref = get_r_hat_plus(losses.astype(float), np.arange(6.0), "crc", None, None, None)
    np.testing.assert_allclose(crc_bound(losses.sum(axis=0), 37), ref, rtol=1e-12)


def test_fixed_sequence_stops_at_first_non_rejection():
    assert fixed_sequence([0.01, 0.02, 0.2, 0.01], 0.05) == 2
    assert fixed_sequence([0.5, 0.0, 0.0], 0.05) == 0
    assert fixed_sequence([0.0, 0.05, 0.05], 0.05) == 3


# ── risks along the grid ─────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("name", sorted(k for k, c in POLICIES.items() if issubclass(c, ThresholdPolicy)))
def test_risk_counts_equal_one_decide_per_threshold(name):
    tr = random_trace()
    cls = POLICIES[name]
    pol = make_policy(name, threshold=cls.threshold_range(tr)[0], min_block=1)
    if name == "maxprob":
        pol = pol.replace(fallback="most_confident")          # the never-fired segment answers elsewhere
    ordered, errors, mono = risk_counts(tr, pol, cls.grid(tr, 29))
    for risk in RISKS:
        loss = np.array([sample_risk(tr, decide(pol.replace(threshold=t), tr).pred, risk) for t in ordered])  # (T, N)
        np.testing.assert_array_equal(errors[risk], loss.sum(axis=1))
        np.testing.assert_array_equal(mono[risk], np.maximum.accumulate(loss, axis=0).sum(axis=1))
    assert (np.diff(mono["induced"]) >= 0).all()


@pytest.mark.parametrize("name, ascending", [("entropy", True), ("norm_entropy", True), ("maxprob", False),
                                             ("patience", False)])
def test_curve_runs_from_conservative_to_fast(name, ascending):
    """"below" rules (exit where s < τ) exit later for smaller τ, "above" rules (s ≥ τ) for larger τ."""
    tr = random_trace(k=2)
    c = certify(tr, name, 0.5, 0.1, risk="consistency")
    t = c.curve.thresholds
    assert (np.diff(t) >= 0).all() if ascending else (np.diff(t) <= 0).all()
    assert (np.diff(c.curve.layer_speedup) >= -1e-12).all()     # the grid only gets faster
    assert c.curve.layer_speedup[0] == pytest.approx(1.0)        # the conservative end: every sample runs in full
    assert c.curve.certified[: c.index + 1].all() and not c.curve.certified[c.index + 1:].any()


def test_certificate_fields_and_realized_on_the_same_trace():
    tr = random_trace(n=400, k=2, seed=3)
    c = certify(tr, "entropy", 0.2, 0.1)
    assert c.certified and c.method == "ltt" and c.risk == "induced" and c.n == 400
    assert isinstance(c.policy, EntropyThreshold) and c.policy.threshold == c.threshold
    assert c.empirical_risk <= c.bound <= 0.2
    r = realized(c, tr)
    assert r.risk == pytest.approx(c.empirical_risk) and r.layer_speedup == pytest.approx(c.layer_speedup)
    assert r.accuracy_drop <= r.risk + 1e-12                     # induced risk bounds the accuracy drop
    d = c.to_dict()
    assert d["policy"] == "entropy" and d["threshold"] == c.threshold and "guarantee" in d


def test_instance_keeps_its_parameters():
    tr = random_trace(n=300, k=2, seed=4)
    c = certify(tr, MaxProb(0.9, min_block=2, fallback="most_confident"), 0.5, 0.1)
    assert c.policy.min_block == 2 and c.policy.fallback_rule == "most_confident"
    assert c.layer_speedup <= tr.n_blocks / 3 + 1e-9              # nobody exits before block 3


# ── the guarantee, empirically ───────────────────────────────────────────────────────────────────
# Population: blocks 1 and 2 are right with probability equal to their max-probability m_i ~ U(½, 1), the
# final block is always right. Max-prob q exits at block 1 if m_1 ≥ q, else at block 2 if m_2 ≥ q, so the
# induced risk is R(q) = (1 − q)² + (q − ½)·2·(1 − q)² = 2q(1 − q)², for q in [½, 1].

def population(rng, n: int) -> Trace:
    m = rng.uniform(0.5, 1.0, size=(n, 2))
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random((n, 2)) < m, y[:, None], 1 - y[:, None])          # (n, 2)
    p = np.empty((n, 3, 2))
    p[:, :2, 0] = np.where(pred == 0, m, 1 - m)
    p[:, :2, 1] = 1 - p[:, :2, 0]
    p[:, 2] = 1e-3
    p[np.arange(n), 2, y] = 1 - 1e-3
    return trace_of(np.log(p), y)


def true_risk_maxprob(q: float) -> float:
    q = min(max(q, 0.5), 1.0)
    return 2 * q * (1 - q) ** 2


def true_risk_entropy(tau: float) -> float:
    """Entropy τ exits where H(m) < τ, i.e. m > H⁻¹(τ)."""
    h = lambda m: -(m * math.log(m) + (1 - m) * math.log(1 - m))
    if tau <= 0:
        return 0.0
    if tau >= math.log(2):
        return true_risk_maxprob(0.5)
    return true_risk_maxprob(brentq(lambda m: h(m) - tau, 0.5, 1 - 1e-15))


DRAWS, N_CAL, EPS, DELTA = 500, 400, 0.05, 0.1


@pytest.mark.slow
@pytest.mark.parametrize("name, grid, true_risk", [
    ("maxprob", np.linspace(0.5, 1.0, 51), true_risk_maxprob),
    ("entropy", np.linspace(0.0, math.log(2), 51), true_risk_entropy),
])
def test_ltt_violation_rate_at_most_delta(name, grid, true_risk):
    rng = np.random.default_rng(7)
    ltt, naive = [], []
    for _ in range(DRAWS):
        c = certify(population(rng, N_CAL), name, EPS, DELTA, grid=grid)
        ltt.append(0.0 if c.threshold is None else true_risk(c.threshold))
        ok = np.flatnonzero(c.curve.empirical_risk <= EPS)            # "empirical risk ≤ ε", no bound
        naive.append(true_risk(c.curve.thresholds[ok[-1]]))
    se = math.sqrt(DELTA * (1 - DELTA) / DRAWS)
    assert np.mean(np.array(ltt) > EPS) <= DELTA + 3 * se
    assert np.mean(np.array(naive) > EPS) > DELTA + 3 * se           # the check has teeth
    assert np.mean(np.array(ltt) > 0.03) > 0.5                        # and LTT is not trivially conservative


@pytest.mark.slow
def test_crc_mean_risk_at_most_epsilon():
    rng = np.random.default_rng(11)
    grid = np.linspace(0.5, 1.0, 51)
    risks = np.array([true_risk_maxprob(c.threshold) if c.threshold is not None else 0.0
                      for c in (certify(population(rng, N_CAL), "maxprob", EPS, DELTA, method="crc", grid=grid)
                                for _ in range(DRAWS))])
    assert risks.mean() <= EPS + 3 * risks.std() / math.sqrt(DRAWS)
    assert risks.mean() > 0.5 * EPS                                   # close to ε, not the full model


# ── edge cases and bad input ─────────────────────────────────────────────────────────────────────

def test_nothing_certifiable_is_full_depth():
    tr = random_trace(n=50, k=2, seed=5)
    c = certify(tr, "entropy", 0.01, 0.05)                  # 50 samples cannot certify anything below 5.8 %
    assert c.threshold is None and c.policy is None and not c.certified and c.layer_speedup == 1.0
    assert not c.curve.certified.any()
    r = realized(c, tr)
    assert r.risk == 0.0 and r.accuracy_drop == 0.0 and r.layer_speedup == 1.0
    assert "full model" in guarantee_text(c)


def test_epsilon_at_least_one_certifies_the_fastest_threshold():
    tr = random_trace(n=30, k=2, seed=6)
    for method in ("ltt", "crc"):
        c = certify(tr, "entropy", 1.0, 0.1, method=method)
        assert c.index == len(c.curve.thresholds) - 1 and c.threshold == pytest.approx(math.log(2))


def test_single_sample():
    tr = random_trace(n=1, k=2, seed=0, labels=np.array([0]))
    assert certify(tr, "entropy", 0.5, 0.1).threshold is None           # p = 1 − ε = 0.5 > δ
    c = certify(tr, "entropy", 0.95, 0.1, risk="consistency")          # p = 0.05 at the conservative end
    assert c.certified and c.n == 1


@pytest.mark.parametrize("right", [True, False])
def test_all_correct_and_all_wrong_traces(right):
    n = 300
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, n)
    conf = rng.uniform(1, 5, size=(n, 4))                       # every block predicts y (right) or 1 − y (wrong)
    sign = np.where(y == 0, 1.0, -1.0)[:, None] * (1 if right else -1)
    logits = np.stack([sign * conf, -sign * conf], axis=-1)
    tr = Trace(logits=logits, pooled=np.zeros((n, 4, 1)), labels=y, texts=[""] * n, flops_per_block=np.ones(4))
    for risk in RISKS:
        c = certify(tr, "entropy", 0.02, 0.05, risk=risk)
        assert c.curve.errors.sum() == 0                        # no exit changes a right answer, none disagrees
        assert c.index == len(c.curve.thresholds) - 1 and c.layer_speedup == pytest.approx(4.0)


def test_unlabelled_trace_certifies_consistency_only():
    tr = random_trace(n=200, k=2, labels=np.full(200, -1))
    with pytest.raises(ValueError, match="consistency"):
        certify(tr, "entropy", 0.1)
    assert certify(tr, "entropy", 0.3, risk="consistency").n == 200


@pytest.mark.parametrize("kwargs, match", [
    ({"epsilon": 0.0}, "epsilon"), ({"epsilon": -0.1}, "epsilon"), ({"epsilon": float("nan")}, "epsilon"),
    ({"delta": 0.0}, "delta"), ({"delta": 1.0}, "delta"), ({"risk": "accuracy"}, "risk must be"),
    ({"method": "rcps"}, "method must be"), ({"policy": "oracle"}, "no threshold"), ({"policy": "nope"}, "unknown"),
    ({"grid": [[0.1, 0.2]]}, "1-D"), ({"grid": [5.0]}, "outside the valid range"),
])
def test_bad_input_says_what_to_do(kwargs, match):
    args = {"policy": "entropy", "epsilon": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        certify(random_trace(n=20, k=2), **args)


def test_policy_missing_its_head():
    tr = random_trace(n=20, k=2)
    tr.lte = None
    with pytest.raises(ValueError, match="cannot run"):
        certify(tr, "lte", 0.1)


def test_guarantee_text_names_its_limits():
    c = certify(random_trace(n=400, k=2, seed=3), "entropy", 0.2, 0.05)
    text = guarantee_text(c)
    assert "95 %" in text and "400" in text and "20 %" in text
    assert "not a promise about any single sentence" in text and "shift" in text
    crc = guarantee_text(certify(random_trace(n=400, k=2, seed=3), "entropy", 0.2, 0.05, method="crc"))
    assert "average" in crc.lower() and "expectation" in crc


# ── the table and the CLI ────────────────────────────────────────────────────────────────────────

def test_table_certifies_on_one_split_and_reports_on_the_other():
    """The table's dev columns worked out by hand at each certified threshold (tests.conftest.hand_exit): the
    induced risk (final exit right, the early answer wrong) and the layer speed-up on the other split."""
    cal, dev = random_trace(n=300, k=2, seed=1), random_trace(n=200, k=2, seed=2)
    df, certs = table(cal, dev, ["entropy", "maxprob"], [0.1, 0.3], 0.1, "induced", "ltt")
    assert len(df) == 4 and len(certs) == 4
    final = dev.logits[:, -1].argmax(-1)
    for (_, row), c in zip(df.iterrows(), certs):
        assert row["cal risk"] == pytest.approx(c.empirical_risk)
        if c.threshold is None:                        # nothing certified: the full model, no risk, no speed-up
            assert row["dev risk"] == 0 and row["dev ×"] == pytest.approx(1.0)
            continue
        ex = hand_exit(dev.logits, c.policy_name, c.threshold, min_block=c.base_policy.min_block)
        pred = dev.logits[np.arange(dev.n), ex].argmax(-1)
        assert row["dev risk"] == pytest.approx(np.mean((final == dev.labels) & (pred != dev.labels)))
        assert row["dev ×"] == pytest.approx(dev.n_blocks / np.mean(ex + 1))
    assert any(c.threshold is not None for c in certs)


def test_holdout_warning_reads_the_card():
    assert holdout_warning({"train": {"config": {"holdout": True}}}) is None
    assert "calibration rows" in holdout_warning({"train": {"config": {"holdout": False}}})
    assert "calibration rows" in holdout_warning({})


def test_cli_rejects_a_folder_that_is_not_a_model(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--model", str(tmp_path), "--epsilon", "0.01"])
    assert "not a model directory" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_end_to_end_on_a_shipped_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report.html"
    assert main(["--model", REPO_MODEL, "--epsilon", "0.05", "0.2", "--delta", "0.1", "--policy", "entropy",
                 "maxprob", "--limit", "48", "--html", str(out)]) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "calibration rows" not in captured.err    # the shipped beex-sst2 trained on train − calibration
    assert "calibration (n = 48)" in text and "dev (n = 48)" in text and "dev risk" in text
    assert text.count("entropy") >= 2 and "maxprob" in text and "nothing below ε" in text
    page = out.read_text(encoding="utf-8")
    assert "beex-sst2" in page and "Risk along the grid" in page and "<script src" not in page
    assert "calibration rows" not in page
    # a copy whose card says it trained on all of train: the CLI warns, and the warning travels with the report
    import json
    import shutil
    seen = tmp_path / "beex-sst2"
    shutil.copytree(REPO_MODEL, seen)
    card = json.loads((seen / "card.json").read_text())
    card["train"]["config"]["holdout"] = False
    (seen / "card.json").write_text(json.dumps(card))
    assert main(["--model", str(seen), "--epsilon", "0.2", "--delta", "0.1", "--policy", "entropy", "--limit", "48",
                 "--html", str(out)]) == 0
    assert "calibration rows" in capsys.readouterr().err
    assert "calibration rows" in out.read_text(encoding="utf-8")

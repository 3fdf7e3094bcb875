"""The statistics of certified thresholds, on error counts only (no Trace, no policy): Hoeffding–Bentkus
p-values, the Clopper–Pearson bound, fixed-sequence testing, conformal risk control's inflated risk, and the
per-sample losses they count. core.certify.ltt (one certificate) and core.certify.groups (one per slice) use them;
they are re-exported from core.certify.ltt.
"""
from __future__ import annotations

import numpy as np
from mapie.risk_control import control_fwer
from scipy.stats import beta, binom

RISKS = {"induced": "turns a right final answer into a wrong one",
         "consistency": "gives a different answer from the full model"}
METHODS = {"ltt": "Learn-then-Test (Hoeffding–Bentkus p-values, fixed-sequence testing)",
           "crc": "conformal risk control (expected risk)"}


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)} ({'; '.join(METHODS.values())}), got {method!r}")


def loss(answer: np.ndarray, final: np.ndarray, labels: np.ndarray, risk: str) -> np.ndarray:
    """(…) bool: the 0/1 loss of each answer against the final exit's answer and the labels (RISKS)."""
    if risk == "induced":
        return (final == labels) & (answer != labels)
    return answer != final


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Statistics (binary losses: k errors among n samples)

def hb_p_values(errors, n: int, epsilon: float, binary: bool = True) -> np.ndarray:
    """Hoeffding–Bentkus p-values for H0: risk > ε, (T,) from error counts (T,) (LTT Prop. 3):
    min(exp(−n·h1(min(r̂, ε), ε)), c·P(Binom(n, ε) ≤ k)) with c = e, or c = 1 for binary losses (LTT
    §3.2: then the binomial tail is exact). The same formula as MAPIE's ``compute_hoeffding_bentkus_p_value``
    but on integer counts: MAPIE's ceil(n·r̂) rounds 100·(7/100) up to 8 in floating point (4 % of (k, n)
    pairs with n ≤ 3000), a valid but looser p-value. ε ≥ 1: the null is impossible, p = 0."""
    k = np.asarray(errors, dtype=np.float64)
    if epsilon >= 1:
        return np.zeros_like(k)
    r = np.minimum(k / n, epsilon)
    with np.errstate(divide="ignore", invalid="ignore"):
        h1 = np.where(r > 0, r * np.log(r / epsilon), 0.0) + (1 - r) * np.log((1 - r) / (1 - epsilon))
    tail = binom.cdf(k, n, epsilon) * (1.0 if binary else np.e)
    return np.minimum(np.minimum(np.exp(-n * h1), tail), 1.0)


def upper_bound(errors, n: int, delta: float) -> np.ndarray:
    """The (1 − δ) upper confidence bound of the risk: the smallest ε whose binary HB p-value is ≤ δ,
    i.e. the Clopper–Pearson bound Beta⁻¹(1 − δ; k + 1, n − k) (1 when k = n)."""
    k = np.asarray(errors, dtype=np.float64)
    return np.where(k >= n, 1.0, beta.ppf(1 - delta, k + 1, np.maximum(n - k, 1)))


def crc_bound(errors, n: int) -> np.ndarray:
    """CRC's inflated risk n/(n+1)·R̂ + B/(n+1) with B = 1 (MAPIE ``get_r_hat_plus``, method "crc")."""
    return (np.asarray(errors, dtype=np.float64) + 1.0) / (n + 1.0)


def fixed_sequence(p_values, delta: float) -> int:
    """How many hypotheses fixed-sequence testing rejects, in the given order (MAPIE ``control_fwer``)."""
    rejected = control_fwer(np.asarray(p_values, dtype=np.float64), delta, fwer_method="fixed_sequence")
    return len(rejected)                      # a prefix 0..m-1: the procedure stops at the first non-rejection


def smallest_epsilon(n: int, delta: float, method: str = "ltt") -> float:
    """The smallest ε that n samples can certify at δ (zero observed errors): 1 − δ^(1/n) for LTT,
    1/(n + 1) for CRC. Below it nothing can be certified, however good the model."""
    check_method(method)
    return float(upper_bound(0, n, delta)) if method == "ltt" else 1.0 / (n + 1.0)

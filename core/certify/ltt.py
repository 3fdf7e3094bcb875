"""Certified exit thresholds: a threshold that holds on data the user has not seen, with a stated guarantee.

Over a policy's threshold grid, ordered from the most conservative threshold (exits latest) to the fastest,
every threshold λ has a risk R(λ) = P(loss = 1) on new inputs, with a per-sample loss in {0, 1}:

    induced      the final exit is right and the policy's answer is wrong (E[loss] bounds the accuracy drop)
    consistency  the policy's answer differs from the final exit's (needs no labels)

Two ways to pick λ on n calibration samples (never on the split the numbers are reported on):

* ``method="ltt"`` — Learn-then-Test (Angelopoulos et al., arXiv 2110.01052): one Hoeffding–Bentkus p-value per
  λ for the null "R(λ) > ε" (§3, Prop. 3; binary losses: the exact binomial tail, §3.2), then fixed-sequence
  testing (FWER ≤ δ, §4.1) from the conservative end, stopping at the first non-rejection.
  Guarantee: with probability ≥ 1 − δ over the calibration draw, R(λ̂) ≤ ε.
* ``method="crc"`` — conformal risk control (Angelopoulos et al., arXiv 2208.02814): the fastest λ with
  (Σ L̃_i(λ) + 1)/(n + 1) ≤ ε. The loss of one sample is not monotone along the grid (an earlier exit can be
  right where a later one was wrong), so L̃_i(λ) = max over λ' no faster than λ of L_i(λ') is used (CRC §2,
  "monotonizing"; as in "Fast yet Safe", Jazbec et al. arXiv 2405.20915). Guarantee: E[R(λ̂)] ≤ ε over
  calibration draws and new inputs.

Nothing certified → ``threshold`` None: the full model (zero risk by definition). Applied to early exits by CALM
(arXiv 2207.07061) and "Fast yet Safe". Every sum over the grid uses ``decide_many``'s segments; the counts are
integers, so a store (core.trace.store) certified chunk by chunk (core.analysis.chunked.certify) gives the same
certificate. The grid and its order must not depend on the calibration data (the default grids: K and L only).

    python -m core.certify --model assets/models/minilm-ee-sst2 --epsilon 0.01 0.02 --delta 0.05
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.analysis import RISK_METHODS as METHODS  # noqa: F401
from core.analysis import (  # noqa: F401
    RISKS,
    cost,
    crc_bound,
    fixed_sequence,
    hb_p_values,
    metric,
    smallest_epsilon,
    sweep,
    task_metric,
    upper_bound,
)
from core.analysis import check_method as _check_method
from core.analysis import loss as _loss
from core.certify.groups import certify_by_group
from core.certify.report import threshold_report_html
from core.policies import Exits, Policy, ThresholdPolicy, class_argmax, decide, decide_many, threshold_policy
from core.trace import Trace

# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Risks

def sample_risk(trace: Trace, pred: np.ndarray, risk: str = "induced") -> np.ndarray:
    """(N,) bool: the loss of each sample when the policy answers ``pred`` (N,)."""
    final = class_argmax(trace.logits[:, -1])                                    # (N,)
    return _loss(np.asarray(pred), final, trace.labels, risk)


def risk_counts(trace: Trace, policy: ThresholdPolicy, thresholds) -> tuple[np.ndarray, dict, dict]:
    """(sorted thresholds (T,), {risk: errors (T,)}, {risk: monotonized errors (T,)}) along the grid from
    the most conservative threshold to the fastest, without a (T, N) table: each sample's answer is
    constant on ≤ L + 1 segments of the sorted grid (core.policies.decide_many)."""
    seg = decide_many(policy, trace, thresholds)
    t_count, n = len(seg.thresholds), trace.n
    preds = class_argmax(trace.logits.transpose(1, 0, 2))                        # (L, N)
    answer = np.concatenate([preds, preds[seg.fallback, np.arange(n)][None]])    # (L+1, N) per segment
    lo, hi = seg.lo, seg.hi                                                      # (L+1, N)
    errors, mono = {}, {}
    for risk in RISKS:
        live = _loss(answer, preds[-1][None], trace.labels[None], risk) & (lo < hi)   # (L+1, N)
        delta = np.bincount(lo[live], minlength=t_count + 1) - np.bincount(hi[live], minlength=t_count + 1)
        errors[risk] = np.cumsum(delta)[:t_count]
        first = np.where(live, lo, t_count).min(axis=0)                          # (N,) first lossy position
        mono[risk] = np.cumsum(np.bincount(first, minlength=t_count + 1))[:t_count]
    return seg.thresholds[seg.order], errors, mono


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Results

@dataclass(frozen=True)
class RiskCurve:
    """Per threshold, conservative → fast: what a chart of "risk and its bound along the grid" draws."""

    thresholds: np.ndarray       # (T,) sorted from the latest-exiting threshold to the fastest
    errors: np.ndarray           # (T,) int: samples with loss 1
    empirical_risk: np.ndarray   # (T,) errors / n
    monotone_risk: np.ndarray    # (T,) CRC's monotonized empirical risk (≥ empirical_risk)
    ucb: np.ndarray              # (T,) LTT: (1 − δ) upper confidence bound; CRC: (Σ L̃ + 1)/(n + 1)
    p_values: np.ndarray         # (T,) LTT's HB p-values; NaN for CRC
    certified: np.ndarray        # (T,) bool: a prefix
    layer_speedup: np.ndarray    # (T,)
    flops_reduction: np.ndarray  # (T,)
    metric: np.ndarray           # (T,) task metric on the calibration split (NaN without labels)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True)
class Certificate:
    threshold: float | None      # the fastest certified threshold; None: nothing certified → full depth
    bound: float                 # LTT: upper confidence bound of the risk there; CRC: the inflated risk
    empirical_risk: float        # on the calibration samples
    n: int
    epsilon: float
    delta: float
    method: str
    risk: str
    layer_speedup: float         # on the calibration samples (1 at full depth)
    policy: Policy | None        # ready to use (decide / the sidebar); None at full depth
    policy_name: str
    base_policy: Policy = field(repr=False)       # the policy's fixed parameters (threshold: a placeholder)
    curve: RiskCurve = field(repr=False)
    index: int | None = None     # position of ``threshold`` in ``curve``
    p_value: float = float("nan")
    flops_reduction: float = 0.0

    @property
    def certified(self) -> bool:
        return self.threshold is not None

    def to_dict(self) -> dict:
        """A JSON-ready summary (for model cards)."""
        params = {k: v for k, v in self.base_policy.params.items() if k != "threshold"}
        keys = ("threshold", "bound", "empirical_risk", "n", "epsilon", "delta", "method", "risk",
                "layer_speedup", "flops_reduction", "p_value")
        out = {k: getattr(self, k) for k in keys}
        out.update(policy=self.policy_name, params=json.loads(json.dumps(params, default=np.ndarray.tolist)),
                   guarantee=guarantee_text(self))
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}


def certify_grid(trace: Trace, policy, epsilon, delta, risk: str, method: str,
                 grid=None) -> tuple[ThresholdPolicy, np.ndarray]:
    """The checked policy and grid of ``certify`` (``trace``: a Trace, or a store — its shape, n, labels)."""
    _check_method(method)
    if risk not in RISKS:
        raise ValueError(f"risk must be one of {sorted(RISKS)}, got {risk!r}")
    if not (isinstance(epsilon, (int, float, np.number)) and np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"ε (epsilon) is the largest risk allowed, a number > 0 (0.01 = one point), got {epsilon!r}")
    if not (isinstance(delta, (int, float, np.number)) and 0 < delta < 1):
        raise ValueError(f"δ (delta) is the allowed failure probability, in (0, 1) (0.05 = 95 % confidence), "
                         f"got {delta!r}")
    if trace.n == 0:
        raise ValueError("certify needs calibration samples, but the trace is empty: record a non-empty split")
    if risk == "induced" and not trace.has_labels:
        raise ValueError("risk 'induced' needs the label of every calibration sample (some are -1): record a "
                         "labelled split, or use risk='consistency', which needs no labels")
    pol = threshold_policy(policy, trace, "threshold to certify")
    thr = type(pol).grid(trace) if grid is None else np.asarray(grid, dtype=np.float64)
    if thr.ndim != 1 or thr.size == 0:
        raise ValueError(f"grid must be a non-empty 1-D list of scalar thresholds, got shape {thr.shape}")
    return pol, thr


def certify(trace: Trace, policy, epsilon: float, delta: float = 0.1, risk: str = "induced",
            method: str = "ltt", grid=None, groups=None) -> Certificate:
    """The fastest threshold of ``policy``'s grid (``type(policy).grid(trace)`` or ``grid``) whose risk
    on new data is certified ≤ ε by ``method`` on the calibration ``trace`` (see the module docstring).
    ``groups`` (a core.analysis.slices name or Slicing, or one value per sample): ≤ ε in every slice at once, a
    ``core.certify.groups.GroupCertificate``."""
    pol, thr = certify_grid(trace, policy, epsilon, delta, risk, method, grid)
    if groups is not None:
        return certify_by_group(trace, pol, thr, epsilon, delta, risk, method, groups)
    ordered, errors, mono = risk_counts(trace, pol, thr)
    return certify_counts(pol, trace.n, ordered, errors[risk], mono[risk], sweep(trace, pol, ordered), epsilon, delta,
                          risk, method)                 # the sweep's cost columns in the same (sorted) order


def certify_counts(pol: ThresholdPolicy, n: int, ordered: np.ndarray, k: np.ndarray, k_mono: np.ndarray,
                   sw: pd.DataFrame, epsilon: float, delta: float, risk: str, method: str) -> Certificate:
    """The certificate from n samples' error counts ``k`` / ``k_mono`` along the sorted grid ``ordered`` and the
    sweep ``sw`` in that order (integers: counted in memory or chunk by chunk, they are equal)."""
    if method == "ltt":
        p = hb_p_values(k, n, float(epsilon))
        ucb = upper_bound(k, n, delta)
        m = fixed_sequence(p, delta)
    else:
        p = np.full(len(k), np.nan)
        ucb = crc_bound(k_mono, n)
        m = int(np.cumprod(ucb <= epsilon).sum())       # monotone, so a prefix
    curve = RiskCurve(thresholds=ordered, errors=k, empirical_risk=k / n, monotone_risk=k_mono / n, ucb=ucb,
                      p_values=p, certified=np.arange(len(k)) < m, layer_speedup=sw["layer_speedup"].to_numpy(),
                      flops_reduction=sw["flops_reduction"].to_numpy(), metric=sw["metric"].to_numpy())
    common = {"n": n, "epsilon": float(epsilon), "delta": float(delta), "method": method, "risk": risk,
              "policy_name": pol.name, "base_policy": pol, "curve": curve}
    if m == 0:
        return Certificate(threshold=None, bound=0.0, empirical_risk=0.0, layer_speedup=1.0, policy=None, **common)
    j = m - 1
    t = float(ordered[j])
    return Certificate(threshold=t, bound=float(ucb[j]), empirical_risk=float(k[j] / n),
                       layer_speedup=float(curve.layer_speedup[j]), policy=pol.replace(threshold=t), index=j,
                       p_value=float(p[j]), flops_reduction=float(curve.flops_reduction[j]), **common)


@dataclass(frozen=True)
class Realized:
    """A certificate replayed on a report split (GLUE dev): what a user would have seen."""

    n: int
    risk: float              # the realized risk (the certificate's risk definition)
    errors: int
    within: bool             # risk ≤ ε (a single split can exceed ε with probability ≤ δ, or by chance)
    metric_name: str
    full_metric: float
    metric: float
    metric_drop: float       # full − policy (NaN without labels)
    full_accuracy: float
    accuracy: float
    accuracy_drop: float
    layer_speedup: float
    flops_reduction: float


def realized(certificate: Certificate, report_trace: Trace) -> Realized:
    """Risk, metric / accuracy drop and speed-up of the certified threshold on ``report_trace``."""
    tr = report_trace
    if certificate.risk == "induced" and not tr.has_labels:
        raise ValueError("the realized 'induced' risk needs labels on the report split: use a labelled split")
    final = class_argmax(tr.logits[:, -1])                                      # (N,)
    if certificate.policy is None:                                             # full depth
        last = np.full(tr.n, tr.n_blocks - 1, dtype=np.int64)
        ex = Exits(exit_block=last, answer_block=last, pred=final, fired=np.zeros(tr.n, bool))
    else:
        ex = decide(certificate.policy, tr)
    loss = sample_risk(tr, ex.pred, certificate.risk)
    c = cost(tr, ex)
    name, nan, lab = task_metric(tr), float("nan"), tr.has_labels
    full_m, pol_m = ((metric(name, tr.labels, p) if lab else nan) for p in (final, ex.pred))
    full_a, pol_a = ((float(np.mean(p == tr.labels)) if lab else nan) for p in (final, ex.pred))
    r = float(loss.mean()) if tr.n else nan
    return Realized(n=tr.n, risk=r, errors=int(loss.sum()), within=bool(r <= certificate.epsilon), metric_name=name,
                    full_metric=full_m, metric=pol_m, metric_drop=full_m - pol_m, full_accuracy=full_a,
                    accuracy=pol_a, accuracy_drop=full_a - pol_a, layer_speedup=c.layer_speedup,
                    flops_reduction=c.flops_reduction)


def _pct(x: float) -> str:
    return f"{100 * x:.3g} %"


def guarantee_text(cert: Certificate) -> str:
    """One plain sentence: what is guaranteed, and its limits (marginal, not per sentence; no shift)."""
    what = RISKS[cert.risk]
    if not cert.certified:
        conf = f" and δ = {cert.delta:g}" if cert.method == "ltt" else ""
        return (f"Nothing on the {cert.policy_name} grid could be certified at ε = {_pct(cert.epsilon)} with "
                f"{cert.n:,} calibration samples{conf}, so the certified choice is the full model "
                f"(every block: it never exits early, so it has no {cert.risk} risk).")
    sym = getattr(cert.base_policy, "symbol", "threshold")
    where = f"exiting by {cert.policy_name} at {sym} = {cert.threshold:.4g}"
    limits = ("a rate over many new inputs, not a promise about any single sentence, and void if the inputs "
              "shift away from the calibration data")
    if cert.method == "ltt":
        return (f"With probability at least {_pct(1 - cert.delta)} over the draw of the {cert.n:,} calibration "
                f"samples, {where} {what} on at most {_pct(cert.epsilon)} of new inputs from the same distribution "
                f"— {limits}.")
    return (f"On average over calibration draws of {cert.n:,} samples and new inputs from the same distribution, "
            f"{where} {what} on at most {_pct(cert.epsilon)} of inputs — in expectation only (one calibration "
            f"draw can do worse), {limits}.")


def smallest_epsilon_text(n: int, delta: float, method: str = "ltt") -> str:
    eps = smallest_epsilon(n, delta, method)
    conf = f", δ = {delta:g}" if method == "ltt" else ""
    return (f"With {n:,} samples{conf}, nothing below ε ≈ {eps:.2g} ({100 * eps:.2g} points) can be certified "
            f"({method.upper()}), whatever the model.")


def holdout_warning(card: dict) -> str | None:
    """Why a certificate on this model may be void: its card does not record training without the calibration
    rows (``train.config.holdout``, core.train.loop). A model that saw them is more often right on them than on new
    data, so their risk understates the risk on new inputs."""
    if ((card.get("train") or {}).get("config") or {}).get("holdout"):
        return None
    return ("warning: the model card does not record training without the calibration rows (train.config.holdout); "
            "if the model was trained on them, the calibration risk is optimistic and the certificate does not hold")


def report_html(cert: Certificate, report_trace: Trace, model: str, data: str = "", notes: tuple[str, ...] = ()) -> str:
    """The standalone threshold report (report.py) of a certificate, its held-out figures on ``report_trace``."""
    return threshold_report_html(report_trace, cert.base_policy, cert.threshold, model=model, data=data,
                                 certificate=cert, guarantee=guarantee_text(cert), curve=cert.curve.to_frame(),
                                 notes=notes)

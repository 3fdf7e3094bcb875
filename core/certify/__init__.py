"""Certified exit thresholds: Learn-then-Test and conformal risk control (ltt), the same over a trace store
(store), and the standalone HTML report (report).  `python -m core.certify --model DIR --epsilon 0.01`.

Other packages import this package, never its modules."""
from core.certify import report_rows
from core.certify.groups import group_guarantee_text, group_risk_counts, needed_n, risk_by_slice
from core.certify.ltt import (
    METHODS,
    RISKS,
    Certificate,
    certify,
    crc_bound,
    fixed_sequence,
    guarantee_text,
    hb_p_values,
    holdout_warning,
    realized,
    report_html,
    risk_counts,
    sample_risk,
    smallest_epsilon,
    smallest_epsilon_text,
    upper_bound,
)
from core.certify.report import heldout_figures, risk_figure, threshold_report_html
from core.certify.store import certify as certify_store

__all__ = ["Certificate", "METHODS", "RISKS", "certify", "certify_store", "crc_bound", "fixed_sequence",
           "group_guarantee_text", "group_risk_counts", "guarantee_text", "hb_p_values", "heldout_figures",
           "holdout_warning", "needed_n", "realized", "report_html", "report_rows", "risk_by_slice", "risk_counts",
           "risk_figure", "sample_risk", "smallest_epsilon", "smallest_epsilon_text", "threshold_report_html",
           "upper_bound"]

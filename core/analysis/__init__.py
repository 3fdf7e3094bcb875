"""Measuring exits on a Trace: metrics and cost, threshold sweeps and the Pareto front, overthinking,
failure prediction, the pages' tables, out-of-core versions of all these (chunked), embeddings' projections.

Other packages import this package, never its modules."""
from core.analysis import chunked, projection
from core.analysis.chunked import stratified_rows
from core.analysis.depth import (
    confusion_at_exit,
    confusion_per_exit,
    depth_counts,
    depth_histogram,
    depth_table,
    kl_sums,
    kl_table,
    kl_to_final,
    mean_kl,
    prediction_depth,
)
from core.analysis.equivalent import groups, same_decisions
from core.analysis.failure import error_score, failure_auroc, failure_auroc_all
from core.analysis.metrics import (
    COST_CONVENTIONS,
    METRICS,
    Calibration,
    Cost,
    calibration,
    confusion_matrix,
    cost,
    exit_histogram,
    metric,
    metric_from_confusion,
    metric_name,
    need_labels,
    per_exit_accuracy,
    per_exit_metric,
    task_metric,
)
from core.analysis.overthinking import (
    COHORTS,
    Destructive,
    Wasteful,
    cohorts,
    confusion_score,
    confusion_stats,
    destructive_overthinking,
    exit_fixed_errors,
    exit_induced_errors,
    first_correct_block,
    flips,
    oracle_accuracy,
    wasteful_overthinking,
)
from core.analysis.projection import embeddings_at, pca_2d
from core.analysis.risk_stats import METHODS as RISK_METHODS
from core.analysis.risk_stats import (
    RISKS,
    check_method,
    crc_bound,
    fixed_sequence,
    hb_p_values,
    loss,
    smallest_epsilon,
    upper_bound,
)
from core.analysis.slices import (
    BY,
    SUMS,
    Slicing,
    csv_column,
    make_slicing,
    rows_label,
    sample_frame,
    slice_sums,
    slice_table,
    table_from_sums,
)
from core.analysis.sweep import (
    SWEEP_COLUMNS,
    Tuned,
    best_threshold,
    pareto_front,
    split_halves,
    sweep,
    sweep_all,
    sweep_counts,
    sweep_frame,
)
from core.analysis.tables import (
    COHORT_LABELS,
    COHORT_ORDER,
    agreement,
    exit_summary,
    largest_differences,
    per_class_table,
    preds_path,
    primary_cohort,
    sample_table,
)
from core.util import Stat

__all__ = ["BY", "COHORTS", "COHORT_LABELS", "COHORT_ORDER", "COST_CONVENTIONS", "Calibration", "Cost",
           "Destructive", "METRICS", "RISKS", "RISK_METHODS", "SUMS", "SWEEP_COLUMNS", "Slicing", "Stat", "Tuned",
           "Wasteful", "agreement", "best_threshold", "calibration", "check_method", "chunked", "cohorts",
           "confusion_at_exit", "confusion_matrix", "confusion_per_exit", "confusion_score", "confusion_stats",
           "cost", "crc_bound", "csv_column", "depth_counts", "depth_histogram", "depth_table",
           "destructive_overthinking", "embeddings_at", "error_score", "exit_fixed_errors", "exit_histogram",
           "exit_induced_errors", "exit_summary", "failure_auroc", "failure_auroc_all", "first_correct_block",
           "fixed_sequence", "flips", "groups", "hb_p_values", "kl_sums", "kl_table", "kl_to_final",
           "largest_differences", "loss", "make_slicing", "mean_kl", "metric", "metric_from_confusion",
           "metric_name", "need_labels", "oracle_accuracy", "pareto_front", "pca_2d", "per_class_table",
           "per_exit_accuracy", "per_exit_metric", "prediction_depth", "preds_path", "primary_cohort", "projection",
           "rows_label", "same_decisions", "sample_frame", "sample_table", "slice_sums", "slice_table",
           "smallest_epsilon", "split_halves", "stratified_rows", "sweep", "sweep_all", "sweep_counts",
           "sweep_frame", "table_from_sums", "task_metric", "upper_bound", "wasteful_overthinking"]

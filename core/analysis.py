"""Measuring exits on a Trace — the one import for everything the app and the bench measure.

The work lives in focused modules; their public names are re-exported here so that
``from core.analysis import sweep_all, calibration, cohorts`` keeps working:

    core.metrics       task metrics, cost accounting (COST_CONVENTIONS), per-exit metric, calibration
    core.sweep         sweeps of a policy's thresholds, Pareto front, best_threshold, split_halves
    core.overthinking  oracle, destructive / wasteful overthinking, flips, confusion score, cohorts
    core.stat          Stat: a number with its name, unit and range
"""
from core.depth import prediction_depth  # noqa: F401
from core.metrics import (  # noqa: F401
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
from core.overthinking import (  # noqa: F401
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
from core.slices import slice_table  # noqa: F401
from core.stat import Stat  # noqa: F401
from core.sweep import SWEEP_COLUMNS, Tuned, best_threshold, pareto_front, split_halves, sweep, sweep_all  # noqa: F401

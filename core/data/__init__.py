"""Data: the GLUE task registry and loading through `datasets` (glue), reading the original TSV files (tsv),
uploaded CSVs and the probe set (uploads), and the fit / calibration / report splits (splits).

Other packages import this package, never its modules."""
from core.data import glue, splits, tsv
from core.data.glue import (
    DEFAULT_GLUE_DIR,
    GLUE_DIR_ENV,
    OFFLINE_ENVS,
    REPO_ROOT,
    SOURCES,
    SPLIT_ALIASES,
    SPLITS,
    TASKS,
    Task,
    available_splits,
    canonical_split,
    get_task,
    glue_dir,
    load_task,
    offline_reason,
    task_names,
)
from core.data.splits import columns, load_calibration, load_fit, load_split, split_info
from core.data.tsv import HIDDEN_LABEL, DataError, TsvLayout, label_ids
from core.data.uploads import PROBE_CATEGORIES, PROBES_PATH, load_csv_upload, load_probes

__all__ = ["DEFAULT_GLUE_DIR", "DataError", "GLUE_DIR_ENV", "HIDDEN_LABEL", "OFFLINE_ENVS", "PROBES_PATH",
           "PROBE_CATEGORIES", "REPO_ROOT", "SOURCES", "SPLITS", "SPLIT_ALIASES", "TASKS", "Task", "TsvLayout",
           "available_splits", "canonical_split", "columns", "get_task", "glue", "glue_dir", "label_ids",
           "load_calibration", "load_csv_upload", "load_fit", "load_probes", "load_split", "load_task",
           "offline_reason", "split_info", "splits", "task_names", "tsv"]

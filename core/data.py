"""Data, the one import: GLUE tasks (core.glue), table reading (core.tables), uploads and probes
(core.uploads), and the calibration split (core.splits). Re-exported here so that
``from core.data import load_task, get_task, load_csv_upload, load_probes`` keeps working."""
from core.glue import (  # noqa: F401
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
from core.tables import HIDDEN_LABEL, DataError, TsvLayout, label_ids  # noqa: F401
from core.uploads import PROBE_CATEGORIES, PROBES_PATH, load_csv_upload, load_probes  # noqa: F401

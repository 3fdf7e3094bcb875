"""GLUE task registry and loading: the hub by name, or the original TSV files in a local folder.

(Reading and normalizing the tables: core.data.tsv. User uploads and the probe set: core.data.uploads.)

Every loader returns a ``datasets.Dataset`` with the same normalized columns, whatever the source:

    text     str   the sentence (the first sentence of a pair)
    text_b   str   the second sentence — only for pair tasks (MRPC, RTE, QNLI, MNLI, QQP)
    label    int   Hugging Face ``glue``'s integer coding (``Task.label_names``); -1 where hidden (test)
    idx      int   the row's id: the file's ``index``/``id`` column where it has one, else the row number

Where the data comes from (``load_task(..., source=)``):

    "local"  the original GLUE TSVs in a folder: ``data_dir``, else ``$EXITLENS_GLUE_DIR``, else the
             repo's sibling ``../shared/data/glue`` when it exists
    "hub"    ``load_dataset("glue", config)`` (needs network, or a warm Hugging Face cache)
    "auto"   the local file when it is there, else the hub; ``EXITLENS_OFFLINE=1`` (or
             ``HF_DATASETS_OFFLINE=1`` / ``HF_HUB_OFFLINE=1``) rules the hub out

Local files are read with ``load_dataset("csv", ...)`` as the data README prescribes:
``quoting=csv.QUOTE_NONE`` (GLUE fields contain bare ``"`` characters — RTE, MRPC, QNLI — that
default CSV quoting would eat or choke on), ``keep_default_na=False`` (so "NA", "null" or CoLA's empty
mark column stay strings) and every column read as a string, so each text field equals the raw TSV
text. ``datasets`` caches the parsed Arrow file in ``~/.cache/huggingface/datasets`` (never in the
repo): the first read of SST-2 train costs ~0.2 s, later ones ~0.01 s.

Anything wrong with the data raises :class:`DataError` (a ``ValueError``) whose message names the
file, the row where it can, and what to do about it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.data.tsv import (  # noqa: F401
    HIDDEN_LABEL,
    DataError,
    TsvLayout,
    expected_columns,
    head_rows,
    normalize,
    read_tsv,
    root_message,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GLUE_DIR = REPO_ROOT.parent / "shared" / "data" / "glue"

GLUE_DIR_ENV = "EXITLENS_GLUE_DIR"
# Any of these set to a true value means "do not touch the network": auto loads local files only.
OFFLINE_ENVS = ("EXITLENS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {"dev": "validation", "val": "validation", "valid": "validation"}
SOURCES = ("auto", "hub", "local")


# ----------------------------------------------------------------------------- the registry

_STANDARD_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}
_STANDARD_HUB_SPLITS = {"train": "train", "validation": "validation", "test": "test"}


@dataclass(frozen=True)
class Task:
    """One GLUE task: where its data lives, how its files are laid out, what its labels mean.

    Args:
        name: registry key, e.g. "sst2" (Hugging Face glue's config name).
        folder: the task's folder in a local GLUE directory, e.g. "SST-2".
        hub: ``load_dataset`` arguments, e.g. ("glue", "sst2").
        text_columns: the hub's text column(s): one for single-sentence tasks, two for pairs.
        label_names: class names in Hugging Face glue's integer coding (index = label id).
        metric: the task's headline metric: "accuracy", "f1" (MRPC) or "mcc" (CoLA).
        labelled: layout of the local train/dev files.
        unlabelled: layout of the local test file (labels hidden).
        files: local file name per canonical split.
        hub_splits: the hub's split name per canonical split (MNLI's is "validation_matched").
        label_column: the hub's label column.
        strip_trailing_spaces: SST-2's train/dev sentences end in " " before the tab; drop it.
    """

    name: str
    folder: str
    hub: tuple[str, str]
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]
    metric: str
    labelled: TsvLayout
    unlabelled: TsvLayout
    files: Mapping[str, str] = field(default_factory=lambda: dict(_STANDARD_FILES), hash=False)
    hub_splits: Mapping[str, str] = field(default_factory=lambda: dict(_STANDARD_HUB_SPLITS), hash=False)
    label_column: str = "label"
    strip_trailing_spaces: bool = False

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def columns(self) -> tuple[str, ...]:
        """The normalized columns of every Dataset this module returns for the task."""
        return ("text", "text_b", "label", "idx") if self.is_pair else ("text", "label", "idx")

    def layout(self, split: str) -> TsvLayout:
        return self.unlabelled if split == "test" else self.labelled

    def local_path(self, split: str, data_dir: str | os.PathLike | None = None) -> Path | None:
        """Where the split's TSV would be in the local GLUE folder (None when there is no folder)."""
        folder = glue_dir(data_dir)
        return None if folder is None else folder / self.folder / self.files[canonical_split(split)]


def _single(name, folder, labels, metric, labelled, test, **kw) -> Task:
    return Task(name, folder, ("glue", name), ("sentence",), labels, metric, labelled, test, **kw)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        _single(
            "sst2", "SST-2", ("negative", "positive"), "accuracy",
            TsvLayout(("sentence",), label_column="label"),
            TsvLayout(("sentence",), index_column="index"),
            strip_trailing_spaces=True,
        ),
        Task(
            "mrpc", "MRPC", ("glue", "mrpc"), ("sentence1", "sentence2"),
            ("not_equivalent", "equivalent"), "f1",
            # train/dev start with a UTF-8 BOM (inherited from the MSR corpus file); test does not
            TsvLayout(("#1 String", "#2 String"), label_column="Quality", encoding="utf-8-sig"),
            TsvLayout(("#1 String", "#2 String"), index_column="index", encoding="utf-8-sig"),
        ),
        _single(
            "cola", "CoLA", ("unacceptable", "acceptable"), "mcc",
            TsvLayout(
                ("sentence",), label_column="label",
                headerless_columns=("source", "label", "original_mark", "sentence"),
            ),
            TsvLayout(("sentence",), index_column="index"),  # CoLA's test file *does* have a header
        ),
        Task(
            "rte", "RTE", ("glue", "rte"), ("sentence1", "sentence2"),
            ("entailment", "not_entailment"), "accuracy",
            TsvLayout(("sentence1", "sentence2"), label_column="label", index_column="index"),
            TsvLayout(("sentence1", "sentence2"), index_column="index"),
        ),
        Task(
            "qnli", "QNLI", ("glue", "qnli"), ("question", "sentence"),
            ("entailment", "not_entailment"), "accuracy",
            TsvLayout(("question", "sentence"), label_column="label", index_column="index"),
            TsvLayout(("question", "sentence"), index_column="index"),
        ),
        Task(
            "mnli", "MNLI", ("glue", "mnli"), ("premise", "hypothesis"),
            ("entailment", "neutral", "contradiction"), "accuracy",
            # the original TSVs carry parses too; gold_label is the adjudicated label
            TsvLayout(("sentence1", "sentence2"), label_column="gold_label", index_column="index"),
            TsvLayout(("sentence1", "sentence2"), index_column="index"),
            files={"train": "train.tsv", "validation": "dev_matched.tsv", "test": "test_matched.tsv"},
            hub_splits={"train": "train", "validation": "validation_matched", "test": "test_matched"},
        ),
        Task(
            "qqp", "QQP", ("glue", "qqp"), ("question1", "question2"),
            ("not_duplicate", "duplicate"), "accuracy",
            TsvLayout(("question1", "question2"), label_column="is_duplicate", index_column="id"),
            TsvLayout(("question1", "question2"), index_column="id"),
        ),
    )
}


def task_names() -> list[str]:
    return list(TASKS)


def _task_key(name: str) -> str:
    # "SST-2", "sst_2", "SST2" all mean sst2
    return name.strip().lower().replace("-", "").replace("_", "")


def get_task(name: str | Task) -> Task:
    """The registry entry for ``name`` (case and dashes ignored: "SST-2" works); DataError if unknown."""
    if isinstance(name, Task):
        return name
    task = TASKS.get(_task_key(str(name)))
    if task is None:
        raise DataError(f"unknown task {name!r}: known tasks are {', '.join(TASKS)}")
    return task


def canonical_split(split: str) -> str:
    """"train", "validation" or "test" ("dev", "val" and "valid" mean validation)."""
    key = str(split).strip().lower()
    key = SPLIT_ALIASES.get(key, key)
    if key not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)} (or 'dev')")
    return key


# ----------------------------------------------------------------------------- where data lives


def glue_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local GLUE folder: ``data_dir``, else ``$EXITLENS_GLUE_DIR``, else ../shared/data/glue if present."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(GLUE_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return DEFAULT_GLUE_DIR if DEFAULT_GLUE_DIR.is_dir() else None


def offline_reason() -> str | None:
    """Why the hub is off limits (e.g. "EXITLENS_OFFLINE=1"), or None when it may be tried."""
    for var in OFFLINE_ENVS:
        value = os.environ.get(var, "").strip()
        if value.lower() in ("1", "true", "yes", "on"):
            return f"{var}={value}"
    return None


def available_splits(name: str | Task, data_dir: str | os.PathLike | None = None) -> list[str]:
    """The splits whose file exists in the local GLUE folder, in train/validation/test order."""
    task = get_task(name)
    return [s for s in SPLITS if (p := task.local_path(s, data_dir)) is not None and p.is_file()]


def _describe_missing_local(task: Task, split: str, folder: Path | None) -> tuple[str, str]:
    """(what is missing, what to put where): which local file was expected, and what is there instead."""
    file = task.files[split]
    if folder is None:
        return (
            f"{task.folder} {split}: there is no local GLUE folder (pass data_dir or set "
            f"{GLUE_DIR_ENV}; the default {DEFAULT_GLUE_DIR} does not exist)",
            f"{task.folder}/{file} in such a folder",
        )
    if not folder.is_dir():
        return f"{task.folder} {split}: the GLUE folder {folder} does not exist", f"{task.folder}/{file} there"
    task_dir = folder / task.folder
    if not task_dir.is_dir():
        present = sorted(p.name for p in folder.iterdir() if p.is_dir())
        return (
            f"{task.folder} has no folder in {folder} (expected {task.folder}/{file}; "
            f"task folders there: {', '.join(present) or 'none'})",
            f"{task.folder}/{file} there",
        )
    present = sorted(p.name for p in task_dir.iterdir() if p.is_file())
    return (
        f"{task.folder} has no {split} split in {task_dir} (expected {file}; "
        f"files there: {', '.join(present) or 'none'})",
        f"{file} there",
    )


def _hub_unreachable() -> str | None:
    """A quick (≤3 s) reason why the hub cannot be reached, or None when it may be.

    Without this, ``load_dataset`` retries a dead network for ~25 s before giving up, which freezes
    the app's dataset picker. Behind a proxy a direct socket proves nothing, so we then just try.
    """
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError as err:
        return f"no connection to {host}: {err}"
    return None


# ----------------------------------------------------------------------------- loading


def load_task(
    name: str | Task,
    split: str,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
):
    """Load one split of a GLUE task as a normalized ``datasets.Dataset`` (text[, text_b], label, idx).

    Args:
        name: a task name ("sst2", "SST-2", "mrpc", ...), see :data:`TASKS`.
        split: "train", "validation" (or "dev") or "test"; test labels are -1 (hidden).
        source: "local" (the TSV folder), "hub" (``load_dataset("glue", ...)``) or "auto" (local if
            the file is there, else the hub unless offline).
        data_dir: the local GLUE folder; defaults to ``$EXITLENS_GLUE_DIR`` or ../shared/data/glue.
        limit: keep only the first ``limit`` rows (quick looks, tests).
    """
    task, split = get_task(name), canonical_split(split)
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}")
    if limit is not None and limit < 0:
        raise DataError(f"limit must be >= 0 or None, got {limit}")

    folder = glue_dir(data_dir)
    path = task.local_path(split, data_dir)
    local_ok = path is not None and path.is_file()
    offline = offline_reason()

    if source == "local" or (source == "auto" and local_ok):
        if not local_ok:
            missing, put = _describe_missing_local(task, split, folder)
            raise DataError(f"{missing}: put {put}, or load it from the hub with source='hub' (needs network)")
        return _load_local(task, split, path, limit)

    if offline:
        if source == "hub":
            raise DataError(
                f"source='hub' but the hub is off ({offline}): unset it to go online, "
                f"or use source='local' with the GLUE TSVs in a folder"
            )
        missing, put = _describe_missing_local(task, split, folder)
        raise DataError(f"{missing} and the hub is unreachable (offline: {offline}): put {put} or go online")
    try:
        return _load_hub(task, split, limit)
    except _HubError as err:
        if source == "hub":
            raise DataError(f"could not load {'/'.join(task.hub)} {split} from the hub: {err}") from err
        missing, put = _describe_missing_local(task, split, folder)
        raise DataError(f"{missing} and the hub is unreachable ({err}): put {put} or go online") from err


class _HubError(Exception):
    """The hub could not deliver (no network, unknown config, ...): the caller words the DataError."""


def _load_hub(task: Task, split: str, limit: int | None):
    from datasets import load_dataset  # imported lazily: `datasets` costs ~0.7 s to import

    unreachable = _hub_unreachable()
    if unreachable:
        raise _HubError(unreachable)
    try:
        ds = load_dataset(*task.hub, split=task.hub_splits[split])
    except Exception as err:  # connection errors, missing configs, ... all mean "hub did not work"
        raise _HubError(f"{type(err).__name__}: {root_message(err)}") from err
    if ds._indices is not None:  # a selected/shuffled view: materialize before reading the table
        ds = ds.flatten_indices()
    table = ds.data.table
    columns = task.text_columns + ((task.label_column,) if split != "test" else ()) + ("idx",)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise _HubError(f"the hub's {'/'.join(task.hub)} has no column(s) {missing} ({table.column_names})")
    layout = TsvLayout(
        task.text_columns, task.label_column if split != "test" else None, index_column="idx"
    )
    origin = f"hub {'/'.join(task.hub)} {split}"
    return normalize(head_rows(table, limit), task, layout, split, origin, first_line=None)


def _load_local(task: Task, split: str, path: Path, limit: int | None):
    layout = task.layout(split)
    table = read_tsv(path, layout, expected_columns(layout))
    if table.num_rows == 0:
        raise DataError(f"{path} has a header but no rows: re-download {task.folder}/{path.name}")
    return normalize(head_rows(table, limit), task, layout, split, str(path), layout.first_data_line)

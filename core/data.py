"""GLUE task registry and loading: the hub by name, or the original TSV files in a local folder.

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

import csv
import functools
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GLUE_DIR = REPO_ROOT.parent / "shared" / "data" / "glue"
PROBES_PATH = REPO_ROOT / "assets" / "probes.tsv"

GLUE_DIR_ENV = "EXITLENS_GLUE_DIR"
# Any of these set to a true value means "do not touch the network": auto loads local files only.
OFFLINE_ENVS = ("EXITLENS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {"dev": "validation", "val": "validation", "valid": "validation"}
SOURCES = ("auto", "hub", "local")
HIDDEN_LABEL = -1  # GLUE test labels are not public; HF glue uses -1 for them too

PROBE_CATEGORIES = ("negation", "contrast", "sarcasm", "long", "short", "intensifier")


class DataError(ValueError):
    """The data asked for is missing or malformed; the message says where and what to do."""


# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class TsvLayout:
    """How one kind of original GLUE TSV file is laid out (labelled train/dev, or unlabelled test).

    Args:
        text_columns: the column(s) holding the text, in order (text, then text_b).
        label_column: the gold label's column; None in test files.
        index_column: a column of row ids (``index``/``id``) to use as ``idx``; None → the row number.
        headerless_columns: names for a file without a header row (CoLA train/dev); None → has one.
        encoding: "utf-8-sig" where the file starts with a byte-order mark (MRPC train/dev).
    """

    text_columns: tuple[str, ...]
    label_column: str | None = None
    index_column: str | None = None
    headerless_columns: tuple[str, ...] | None = None
    encoding: str = "utf-8"

    @property
    def has_header(self) -> bool:
        return self.headerless_columns is None

    @property
    def first_data_line(self) -> int:
        """1-based line number of the first data row (to point error messages at the right line)."""
        return 2 if self.has_header else 1


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
        raise _HubError(f"{type(err).__name__}: {_root_message(err)}") from err
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
    return _normalize(_head(table, limit), task, layout, split, origin, first_line=None)


def _load_local(task: Task, split: str, path: Path, limit: int | None):
    layout = task.layout(split)
    table = _read_tsv(path, layout, _expected_columns(layout))
    if table.num_rows == 0:
        raise DataError(f"{path} has a header but no rows: re-download {task.folder}/{path.name}")
    return _normalize(_head(table, limit), task, layout, split, str(path), layout.first_data_line)


def _expected_columns(layout: TsvLayout) -> list[str]:
    cols = [layout.index_column, *layout.text_columns, layout.label_column]
    return [c for c in cols if c is not None]


def _head(table: pa.Table, limit: int | None) -> pa.Table:
    return table if limit is None else table.slice(0, limit)


def _read_tsv(path: Path, layout: TsvLayout, required: Sequence[str]) -> pa.Table:
    """Parse a TSV through ``datasets`` (cached as Arrow), every column as a string; check its shape first."""
    from datasets import Features, Value, load_dataset

    stat = path.stat()
    columns = _checked_columns(str(path), stat.st_mtime_ns, stat.st_size, layout, tuple(required))
    extra = {} if layout.has_header else {"header": None, "column_names": list(columns)}
    # Every column as a string, so "NA", "1.0" or a numeric-looking sentence stay exactly as written.
    features = Features({c: Value("string") for c in columns})
    try:
        ds = load_dataset(
            "csv", data_files={"data": str(path)}, split="data", delimiter="\t",
            quoting=csv.QUOTE_NONE, keep_default_na=False, encoding=layout.encoding,
            features=features, **extra,
        )
    except Exception as err:  # anything the shape check did not foresee, wrapped by datasets
        raise DataError(
            f"could not parse {path}: {_root_message(err)}. Check that it is the original tab-separated "
            f"GLUE file (each row with the same number of fields as the header, UTF-8)"
        ) from err
    return ds.data.table


@functools.lru_cache(maxsize=64)
def _checked_columns(
    path: str, mtime_ns: int, size: int, layout: TsvLayout, required: tuple[str, ...]
) -> tuple[str, ...]:
    """The file's columns, after checking its shape by hand: UTF-8, the needed columns, and every
    row with as many tab-separated fields as the header.

    pandas cannot be trusted with the row check: it fills a short row's missing fields with "" (with
    ``keep_default_na=False``), and with one field too many it silently makes the first field the
    index and shifts the rest. QUOTE_NONE means a field never holds a tab or a newline, so counting
    tabs per line is exact. Cached per file version (path, mtime, size): ~50 ms for SST-2 train once.
    """
    if size == 0:
        raise DataError(f"{path} is empty (0 bytes): re-download or re-create it")
    raw = Path(path).read_bytes()
    try:
        text = raw.decode(layout.encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8 text ({err.reason} on line {line}): re-save it as UTF-8"
        ) from err
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if layout.has_header:
        columns = tuple(lines[0].split("\t"))
        missing = [c for c in required if c not in columns]
        if missing:
            raise DataError(
                f"{path} has columns {list(columns)} but needs {list(required)} (missing {missing}): "
                f"is this the right file for this task? Use the original GLUE TSV"
            )
    else:
        columns = layout.headerless_columns
    first = 1 if layout.has_header else 0
    n_rows = 0
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():  # blank lines are skipped by the parser too
            continue
        n_rows += 1
        n = line.count("\t") + 1
        if n != len(columns):
            what = "no header row: " if not layout.has_header else ""
            raise DataError(
                f"{path} line {number} has {n} tab-separated fields, expected {len(columns)} "
                f"({what}{', '.join(columns)}): fix or remove that line, or use the original GLUE TSV"
            )
    if n_rows == 0:
        raise DataError(f"{path} has a header but no rows: re-download or re-create it")
    return columns


def _root_message(err: BaseException) -> str:
    """The innermost cause's message (datasets wraps pandas' useful 'Expected 2 fields in line 5')."""
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__
    return str(err).strip() or type(err).__name__


# ----------------------------------------------------------------------------- normalization


def _normalize(
    table: pa.Table, task: Task, layout: TsvLayout, split: str, origin: str,
    first_line: int | None, row_lines: Sequence[int] | None = None,
):
    """Raw columns → text[, text_b], label, idx with the task's features (pure Arrow: no per-row Python).

    ``first_line``/``row_lines`` only serve error messages: the line of row 0, or of every row.
    """
    from datasets import ClassLabel, Dataset, DatasetInfo, Features, NamedSplit, Value
    from datasets.table import InMemoryTable

    where = _RowPointer(origin, first_line, tuple(row_lines) if row_lines is not None else None)
    texts = []
    for col_name in layout.text_columns:
        col = _column_without_nulls(table, col_name, where)
        if task.strip_trailing_spaces:
            col = pc.utf8_rtrim(col, characters=" ")
        texts.append(col)
    if layout.label_column is None:
        labels = pa.array([HIDDEN_LABEL] * table.num_rows, pa.int64())
    else:
        labels = label_ids(_column_without_nulls(table, layout.label_column, where), task.label_names, where)
    idx = _row_ids(table, layout.index_column, where)

    names = ["text", "text_b"][: len(texts)] + ["label", "idx"]
    out = pa.table([*texts, labels, idx], names=names)
    features = Features(
        {
            **{n: Value("string") for n in names[: len(texts)]},
            "label": ClassLabel(names=list(task.label_names)),
            "idx": Value("int32"),
        }
    )
    out = out.cast(features.arrow_schema)
    info = DatasetInfo(features=features, dataset_name="glue", config_name=task.name, description=origin)
    return Dataset(InMemoryTable(out), info=info, split=NamedSplit(split))


@dataclass(frozen=True)
class _RowPointer:
    """Turns a 0-based row into words for an error message: 'data row 5 (line 6) of /x/dev.tsv'."""

    origin: str
    first_line: int | None  # 1-based line of row 0; None when rows have no lines (hub)
    row_lines: tuple[int, ...] | None = None  # each row's line, where rows may span lines (CSV)

    def __call__(self, row: int) -> str:
        if self.row_lines is not None:
            line = f" (line {self.row_lines[row]})"
        elif self.first_line is not None:
            line = f" (line {row + self.first_line})"
        else:
            line = ""
        return f"data row {row + 1}{line} of {self.origin}"


def _column_without_nulls(table: pa.Table, name: str, where: _RowPointer) -> pa.Array:
    col = table.column(name).combine_chunks()
    if col.null_count:
        row = pc.index(pc.is_null(col), True).as_py()
        raise DataError(
            f"{where(row)} has no {name!r} field (fewer tab-separated fields than the header): "
            f"fix or remove that row"
        )
    return col.cast(pa.string())


def label_ids(values: pa.Array, label_names: Sequence[str], where=None) -> pa.Array:
    """Label strings → int64 ids: a label name (any case) or its number "0".."K-1"; DataError otherwise."""
    values = pc.utf8_trim_whitespace(values.cast(pa.string()))
    by_name = pc.index_in(pc.utf8_lower(values), value_set=pa.array([n.lower() for n in label_names]))
    by_number = pc.index_in(values, value_set=pa.array([str(i) for i in range(len(label_names))]))
    ids = pc.coalesce(by_name, by_number)
    if ids.null_count:
        row = pc.index(pc.is_null(ids), True).as_py()
        place = where(row) if where is not None else f"row {row + 1}"
        raise DataError(
            f"{place} has label {values[row].as_py()!r}, which is not one of "
            f"{', '.join(label_names)} (or their numbers 0..{len(label_names) - 1}): fix that row, "
            f"or check that the file belongs to this task"
        )
    return ids.cast(pa.int64())


def _row_ids(table: pa.Table, index_column: str | None, where: _RowPointer) -> pa.Array:
    if index_column is None:
        return pa.array(range(table.num_rows), pa.int32())
    col = _column_without_nulls(table, index_column, where)
    try:
        return pc.cast(pc.utf8_trim_whitespace(col), pa.int32())
    except pa.ArrowInvalid as err:
        raise DataError(f"{where.origin}: the {index_column!r} column holds a non-integer ({err})") from err


# ----------------------------------------------------------------------------- user uploads and probes


def load_csv_upload(file_or_path: str | os.PathLike | IO[bytes] | IO[str], task: str | Task):
    """A user's labelled CSV → the same normalized Dataset as :func:`load_task`.

    The file needs a header with ``text`` and ``label`` columns (plus ``text_b`` for pair tasks; the
    task's GLUE column names, e.g. ``sentence`` or ``sentence1``/``sentence2``, work too). A label is
    a number 0..K-1 or a label name ("positive"). Comma-separated, or tab-separated for a ``.tsv``
    name. Accepts a path or a file object (Streamlit's UploadedFile).
    """
    task = get_task(task)
    raw, origin = _read_upload(file_or_path)
    if not raw.strip():
        raise DataError(f"{origin} is empty: upload a CSV with a header row and one row per example")
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.lstrip("\ufeff")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{origin} is not UTF-8 ({err.reason} on line {line}): re-save it as 'CSV UTF-8'"
        ) from err
    header, rows, lines = _parse_upload_rows(text, origin)
    columns = _pick_upload_columns(header, task, origin)
    if not rows:
        raise DataError(f"{origin} has a header but no rows: add one row per example")
    table = pa.table({name: pa.array([r[header.index(col)] for r in rows], pa.string())
                      for name, col in columns.items()})
    layout = TsvLayout(tuple(c for c in ("text", "text_b") if c in columns), label_column="label")
    return _normalize(table, task, layout, "validation", origin, first_line=2, row_lines=lines)


def _parse_upload_rows(text: str, origin: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows and each row's line of a user's CSV (TSV for a .tsv name), rows checked against
    the header.

    Python's csv module rather than pandas: pandas fills a short row's missing fields with "" and
    says nothing, while we want to point the user at the row.
    """
    delimiter = "\t" if origin.lower().endswith(".tsv") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = [(reader.line_num, row) for row in reader if row]  # skip blank lines
    except csv.Error as err:
        raise DataError(f"could not parse {origin} as CSV (line {reader.line_num}): {err}") from err
    if not records:
        raise DataError(f"{origin} is empty: upload a CSV with a header row and one row per example")
    header = [c.strip() for c in records[0][1]]
    for line, row in records[1:]:
        if len(row) != len(header):
            raise DataError(
                f"{origin} line {line} has {len(row)} fields but the header has {len(header)} "
                f"({', '.join(header)}): fix that row (quote text that contains a comma)"
            )
    return header, [row for _, row in records[1:]], [line for line, _ in records[1:]]


def _read_upload(file_or_path) -> tuple[bytes | str, str]:
    if isinstance(file_or_path, (str, os.PathLike)):
        path = Path(file_or_path)
        if not path.is_file():
            raise DataError(f"{path} does not exist")
        return path.read_bytes(), str(path)
    origin = str(getattr(file_or_path, "name", None) or "the uploaded file")
    if hasattr(file_or_path, "getvalue"):  # Streamlit UploadedFile, BytesIO, StringIO
        return file_or_path.getvalue(), origin
    return file_or_path.read(), origin


def _pick_upload_columns(found: list[str], task: Task, origin: str) -> dict[str, str]:
    """Map text/text_b/label to the upload's columns (case-insensitive; the task's GLUE names as aliases)."""
    lower = {c.lower(): c for c in found}
    wanted = ["text", "text_b", "label"] if task.is_pair else ["text", "label"]
    aliases = dict(zip(["text", "text_b"], task.text_columns))
    picked = {}
    for name in wanted:
        col = lower.get(name) or lower.get(aliases.get(name, "").lower())
        if col is not None:
            picked[name] = col
    if len(picked) < len(wanted):
        missing = [w for w in wanted if w not in picked]
        raise DataError(
            f"{origin} needs columns {', '.join(wanted)} but has {', '.join(found) or 'none'} "
            f"(missing {', '.join(missing)}). label is 0..{task.num_labels - 1} or one of "
            f"{', '.join(task.label_names)}"
        )
    return picked


def load_probes(path: str | os.PathLike = PROBES_PATH):
    """The team's own probe sentences (SST-2 style): text, label (0 negative / 1 positive), category, idx."""
    from datasets import Value

    path = Path(path)
    if not path.is_file():
        raise DataError(f"probe file {path} does not exist: restore assets/probes.tsv from the repo")
    layout = TsvLayout(("text",), label_column="label")
    table = _read_tsv(path, layout, ["text", "label", "category"])
    if table.num_rows == 0:
        raise DataError(f"{path} has a header but no rows")
    where = _RowPointer(str(path), layout.first_data_line)
    categories = pc.utf8_trim_whitespace(_column_without_nulls(table, "category", where))
    unknown = pc.invert(pc.is_in(categories, value_set=pa.array(PROBE_CATEGORIES)))
    if pc.any(unknown).as_py():
        row = pc.index(unknown, True).as_py()
        raise DataError(
            f"{where(row)} has category {categories[row].as_py()!r}: use one of {', '.join(PROBE_CATEGORIES)}"
        )
    ds = _normalize(table, TASKS["sst2"], layout, "validation", str(path), layout.first_data_line)
    return ds.add_column("category", categories.to_pylist(), feature=Value("string"))

"""Reading GLUE-style tables: TSV files through ``datasets`` (cached as Arrow), shape checks by hand, and
normalization of raw columns to the columns every loader returns (text[, text_b], label, idx).

Local files are read with ``load_dataset("csv", ...)`` as the data README prescribes:
``quoting=csv.QUOTE_NONE`` (GLUE fields contain bare ``"`` characters — RTE, MRPC, QNLI — that
default CSV quoting would eat or choke on), ``keep_default_na=False`` (so "NA", "null" or CoLA's empty
mark column stay strings) and every column read as a string, so each text field equals the raw TSV
text. Anything wrong raises :class:`DataError` whose message names the file, the row and what to do.
"""
from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

HIDDEN_LABEL = -1  # GLUE test labels are not public; HF glue uses -1 for them too


class Task(Protocol):
    """What normalization reads off a task (core.data.glue.Task; the registry imports this module, not back)."""

    name: str
    label_names: tuple[str, ...]
    strip_trailing_spaces: bool


class DataError(ValueError):
    """The data asked for is missing or malformed; the message says where and what to do."""


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



def expected_columns(layout: TsvLayout) -> list[str]:
    cols = [layout.index_column, *layout.text_columns, layout.label_column]
    return [c for c in cols if c is not None]


def head_rows(table: pa.Table, limit: int | None) -> pa.Table:
    return table if limit is None else table.slice(0, limit)


def read_tsv(path: Path, layout: TsvLayout, required: Sequence[str]) -> pa.Table:
    """Parse a TSV through ``datasets`` (cached as Arrow), every column as a string; check its shape first."""
    from datasets import Features, Value, load_dataset

    stat = path.stat()
    columns = checked_columns(str(path), stat.st_mtime_ns, stat.st_size, layout, tuple(required))
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
            f"could not parse {path}: {root_message(err)}. Check that it is the original tab-separated "
            f"GLUE file (each row with the same number of fields as the header, UTF-8)"
        ) from err
    return ds.data.table


@functools.lru_cache(maxsize=64)
def checked_columns(
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


def root_message(err: BaseException) -> str:
    """The innermost cause's message (datasets wraps pandas' useful 'Expected 2 fields in line 5')."""
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__
    return str(err).strip() or type(err).__name__


# ----------------------------------------------------------------------------- normalization


def normalize(
    table: pa.Table, task: Task, layout: TsvLayout, split: str, origin: str,
    first_line: int | None, row_lines: Sequence[int] | None = None,
):
    """Raw columns → text[, text_b], label, idx with the task's features (pure Arrow: no per-row Python).

    ``first_line``/``row_lines`` only serve error messages: the line of row 0, or of every row.
    """
    from datasets import ClassLabel, Dataset, DatasetInfo, Features, NamedSplit, Value
    from datasets.table import InMemoryTable

    where = RowPointer(origin, first_line, tuple(row_lines) if row_lines is not None else None)
    texts = []
    for col_name in layout.text_columns:
        col = column_without_nulls(table, col_name, where)
        if task.strip_trailing_spaces:
            col = pc.utf8_rtrim(col, characters=" ")
        texts.append(col)
    if layout.label_column is None:
        labels = pa.array([HIDDEN_LABEL] * table.num_rows, pa.int64())
    else:
        labels = label_ids(column_without_nulls(table, layout.label_column, where), task.label_names, where)
    idx = row_ids(table, layout.index_column, where)

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
class RowPointer:
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


def column_without_nulls(table: pa.Table, name: str, where: RowPointer) -> pa.Array:
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


def row_ids(table: pa.Table, index_column: str | None, where: RowPointer) -> pa.Array:
    if index_column is None:
        return pa.array(range(table.num_rows), pa.int32())
    col = column_without_nulls(table, index_column, where)
    try:
        return pc.cast(pc.utf8_trim_whitespace(col), pa.int32())
    except pa.ArrowInvalid as err:
        raise DataError(f"{where.origin}: the {index_column!r} column holds a non-integer ({err})") from err



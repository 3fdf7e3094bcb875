"""User data: a labelled CSV upload, and the team's own probe sentences (assets/probes.tsv).

Both come back as the same normalized ``datasets.Dataset`` as a GLUE split (core.data.glue.load_task):
text[, text_b], label, idx (and category for the probes). Bad files raise DataError with the line.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

from core.data.glue import REPO_ROOT, TASKS, Task, get_task
from core.data.tsv import DataError, RowPointer, TsvLayout, column_without_nulls, normalize, read_tsv

PROBES_PATH = REPO_ROOT / "assets" / "probes.tsv"
PROBE_CATEGORIES = ("negation", "contrast", "sarcasm", "long", "short", "intensifier")


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
    return normalize(table, task, layout, "validation", origin, first_line=2, row_lines=lines)


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
    table = read_tsv(path, layout, ["text", "label", "category"])
    if table.num_rows == 0:
        raise DataError(f"{path} has a header but no rows")
    where = RowPointer(str(path), layout.first_data_line)
    categories = pc.utf8_trim_whitespace(column_without_nulls(table, "category", where))
    unknown = pc.invert(pc.is_in(categories, value_set=pa.array(PROBE_CATEGORIES)))
    if pc.any(unknown).as_py():
        row = pc.index(unknown, True).as_py()
        raise DataError(
            f"{where(row)} has category {categories[row].as_py()!r}: use one of {', '.join(PROBE_CATEGORIES)}"
        )
    ds = normalize(table, TASKS["sst2"], layout, "validation", str(path), layout.first_data_line)
    return ds.add_column("category", categories.to_pylist(), feature=Value("string"))

"""Exit traces recorded elsewhere: a documented exchange format (Parquet or NPZ) read into a Trace.

Any multi-exit model — a vision SDN, a layer-skipping LLM, an early-exit BERT from another framework — can
be analysed by ExitLens from its per-exit outputs alone: write them in the format below and open the file
(``read_trace(path)``, ``python -m core.trace import FILE``, or the app's trace upload). Every dataset-level
analysis works on it (policies, sweeps, overthinking, comparison, certification); what needs the model
itself (live early exit, salience) does not.

Parquet: one row per sample (N rows)
    column       type                          required  meaning
    logits       list<list<float>>  L × K      yes       exit-head logits of every exit, first exit first
    label        int                           no        true class 0..K-1; null or -1 = unknown
    text         string                        no        the input (or an id); "#<row>" when absent
    text_b       string                        no        the second text of a pair task
    proto_dist   list<list<float>>  L × K      no        distance ≥ 0 to each class prototype per exit (DE³
                                                         EDR); without it the EDR policy is unavailable
    lte          list<float>        L          no        learn-to-exit score in [0, 1] per exit (BERxiT)
    pooled       list<list<float>>  L × D      no        the state each exit head reads (prototype maps)
  ``label``/``labels`` and ``text``/``texts`` are both accepted. Fixed-size lists work as well as lists.
  File-level facts go in the schema metadata under the key ``exitlens``, a JSON object (all optional):
    flops_per_block  [L numbers ≥ 0]   cost of block l plus its exit, per sample (FLOPs, or any unit: say
                                       which in cost_unit); absent = every block costs 1 (cost_unit "blocks")
    flops_embed      number ≥ 0        cost every sample pays before block 1
    cost_unit        string            e.g. "FLOPs", "ms", "blocks"
    label_names      [K strings]       class names, in class-index order
    metric           "accuracy" | "f1" | "mcc"      how the task is scored (default accuracy)
    task, model, distance, …           kept in Trace.meta as they are

    # a writer that knows nothing of ExitLens
    table = pa.table({"logits": [l.tolist() for l in logits], "label": labels, "text": texts})
    table = table.replace_schema_metadata({"exitlens": json.dumps({"flops_per_block": cost})})
    pq.write_table(table, "trace.parquet")

NPZ (``np.savez``; no pickled objects): arrays ``logits`` (N, L, K) and optionally ``labels`` (N,), ``texts``
and ``texts_b`` (N,) unicode, ``proto_dist`` (N, L, K), ``lte`` (N, L), ``pooled`` (N, L, D),
``prototypes`` (L, K, P), ``flops_per_block`` (L,), ``flops_embed`` (), and ``meta``: the metadata JSON
above as a 0-d string. A trace saved by ExitLens itself (``Trace.save``, format exitlens-trace/1) reads as is.

Bad input raises :class:`core.trace.base.TraceError` saying exactly what is wrong (missing column, ragged or
wrongly shaped rows, NaN, labels out of range, pickled arrays, …) and what the format expects.

CLI:  python -m core.trace import FILE [--out TRACE.npz]      (also: python -m core.trace import FILE)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.trace.base import TRACE_FORMAT, Trace, TraceError
from core.trace.checks import SEE
from core.trace.checks import build as _build
from core.trace.store import TraceStore

META_KEY = "exitlens"
PARQUET_MAGIC, NPZ_MAGIC = b"PAR1", b"PK\x03\x04"
ALIASES = {"label": ("label", "labels"), "text": ("text", "texts"), "text_b": ("text_b", "texts_b")}


# reading

def read_trace(source, name: str | None = None) -> Trace:
    """A Trace from a Parquet or NPZ file (a path, or an open binary file: an upload; ``name`` for messages), or
    from a trace store folder (``core.inference record --out``), read whole into memory."""
    if hasattr(source, "read"):
        data = source.read()
        name = name or getattr(source, "name", None) or "uploaded file"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "trace"
            path.write_bytes(data if isinstance(data, bytes) else bytes(data))
            try:
                return _read_path(path, name)
            except TraceError as e:          # a reader's own message may hold the temporary path: name the upload
                raise TraceError(str(e).replace(str(path), name).replace(str(tmp), "")) from None
    path = Path(source).expanduser()
    if path.is_dir():                     # a store written by `core.inference record --out` (core.trace.store)
        return TraceStore(path).to_trace()
    if not path.is_file():
        raise TraceError(f"no trace file at {path}: give the path of a .parquet or .npz trace, or of a store "
                         f"folder written by `python -m core.inference record --out` ({SEE})")
    return _read_path(path, name or str(path))


def _read_path(path: Path, name: str) -> Trace:
    with open(path, "rb") as f:
        head = f.read(4)
    if head == PARQUET_MAGIC:
        return _read_parquet(path, name)
    if head == NPZ_MAGIC:
        return _read_npz(path, name)
    raise TraceError(f"{name} is neither a Parquet nor an NPZ file (it starts with {head!r}): write the trace "
                     f"with pyarrow.parquet.write_table or numpy.savez ({SEE})")


def _read_parquet(path: Path, name: str) -> Trace:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:                      # truncated / damaged
        raise TraceError(f"{name} is not a readable Parquet file ({type(e).__name__}: {e}); write it again") from e
    if "logits" not in table.column_names:
        raise TraceError(f"{name} has no 'logits' column (columns: {table.column_names}): one row per sample with "
                         f"'logits' = L lists of K numbers ({SEE})")
    raw = (table.schema.metadata or {}).get(META_KEY.encode())
    meta = _meta_json(raw.decode("utf-8", "replace") if raw is not None else None, name)
    parts = {"logits": _nested(table, "logits", 2, name)}
    for col, depth in (("proto_dist", 2), ("lte", 1), ("pooled", 2)):
        if col in table.column_names:
            parts[col] = _nested(table, col, depth, name)
    for key, names in ALIASES.items():
        col = next((c for c in names if c in table.column_names), None)
        if col is not None:
            parts[key] = _labels(table, col, name) if key == "label" else _strings(table, col, name)
    return _build(parts, meta, name)


def _nested(table, col: str, depth: int, name: str) -> np.ndarray:
    """A list (depth 1) or list-of-lists (depth 2) column → (N, L) or (N, L, K) float64, every row the same
    shape; says which row (and block) breaks it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = table.column(col).combine_chunks()
    want = "a list of L numbers" if depth == 1 else "L lists of K numbers" if col != "pooled" else \
        "L lists of D numbers"
    counted = ("exits", "values" if col == "pooled" else "classes")
    shape = [len(arr)]
    for level in range(depth):
        if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)
                or pa.types.is_fixed_size_list(arr.type)):
            raise TraceError(f"{name}: column '{col}' must hold {want} per row, but its "
                             f"{'values' if level == 0 else 'inner values'} are {arr.type}")
        if arr.null_count:
            first = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
            raise TraceError(f"{name}: column '{col}' is null at {_where(first, shape)}; every row needs {want}")
        lens = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        if len(lens) and (lens != lens[0]).any():
            bad = int(np.flatnonzero(lens != lens[0])[0])
            raise TraceError(f"{name}: column '{col}' is ragged: {_where(bad, shape)} has {lens[bad]} "
                             f"{counted[level]} but {_where(0, shape)} has {lens[0]}; every row needs {want}")
        shape.append(int(lens[0]) if len(lens) else 0)
        arr = arr.flatten()
    if not (pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type)):
        raise TraceError(f"{name}: column '{col}' must hold numbers, found {arr.type}")
    values = arr.to_numpy(zero_copy_only=False).astype(np.float64)   # nulls become NaN (caught by _build)
    return values.reshape(shape)


def _where(flat: int, shape: list[int]) -> str:
    """'row 3' (depth 0) or 'row 3, block 1' (depth 1) for a flat index into the current level."""
    if len(shape) == 1:
        return f"row {flat}"
    row, block = divmod(flat, shape[1])
    return f"row {row}, block {block}"


def _labels(table, col: str, name: str) -> np.ndarray:
    import pyarrow as pa

    arr = table.column(col).combine_chunks()
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_null(arr.type)):
        raise TraceError(f"{name}: column '{col}' holds {arr.type}, not class indices: write 0..K-1 (null or -1 "
                         "= unknown) and put class names in the metadata's label_names")
    values = arr.to_numpy(zero_copy_only=False).astype(np.float64)
    return np.where(np.isnan(values), -1.0, values)


def _strings(table, col: str, name: str) -> list[str]:
    import pyarrow as pa

    arr = table.column(col).combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type)):
        raise TraceError(f"{name}: column '{col}' must hold strings, found {arr.type}")
    return ["" if v is None else v for v in arr.to_pylist()]


def _meta_json(raw: str | None, name: str) -> dict:
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise TraceError(f"{name}: the '{META_KEY}' metadata is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise TraceError(f"{name}: the '{META_KEY}' metadata must be a JSON object, got {type(meta).__name__}")
    return meta


def _read_npz(path: Path, name: str) -> Trace:
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:
        raise TraceError(f"{name} is not a readable NPZ file ({type(e).__name__}: {e}); write it again") from e
    with z:
        if "meta" in z.files:
            try:
                raw_meta = str(z["meta"])
            except ValueError as e:
                raise TraceError(f"{name}: array 'meta' is pickled; store the JSON as a string array") from e
            if _meta_json(raw_meta, name).get("format") == TRACE_FORMAT:
                return Trace.load(path)             # ExitLens's own trace file
        if "logits" not in z.files:
            raise TraceError(f"{name} has no 'logits' array (arrays: {sorted(z.files)}): save logits of shape "
                             f"(N, L, K) ({SEE})")
        parts, meta = {}, {}
        for key in z.files:
            try:
                a = z[key]
            except ValueError as e:                 # object arrays need pickle
                raise TraceError(f"{name}: array '{key}' is stored as Python objects (pickle), which ExitLens "
                                 "never loads: save strings with dtype=str and numbers as numeric arrays") from e
            if key == "meta":
                meta = _meta_json(str(a), name)
            elif key in ("texts", "texts_b"):
                parts[key[:-1] if key == "texts" else "text_b"] = [str(t) for t in a.reshape(-1)]
            elif key == "labels":
                parts["label"] = a
            else:
                parts[key] = a
    for key in ("flops_per_block", "flops_embed", "prototypes"):
        if key in parts:
            meta[key] = parts.pop(key)
    return _build(parts, meta, name)


# writing (ExitLens → the exchange format) and the CLI

def _lists(a: np.ndarray):
    """(N, L[, K]) numpy → a pyarrow (fixed-size) list column without a Python loop."""
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(a, dtype=np.float32).reshape(-1))
    for size in reversed(a.shape[1:]):
        flat = pa.FixedSizeListArray.from_arrays(flat, int(size))
    return flat


def write_parquet(trace: Trace, path: str | os.PathLike, pooled: bool = False) -> Path:
    """The trace in the exchange format (``pooled`` adds the (L × D) states: large); written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {"logits": _lists(trace.logits), "label": pa.array(trace.labels), "text": pa.array(trace.texts)}
    if trace.texts_b is not None:
        cols["text_b"] = pa.array(trace.texts_b)
    for key, a in (("proto_dist", trace.proto_dist), ("lte", trace.lte), ("pooled", trace.pooled if pooled else None)):
        if a is not None:
            cols[key] = _lists(a)
    meta = {k: v for k, v in trace.meta.items() if k not in ("source", "file")}
    meta.update(flops_per_block=trace.flops_per_block.tolist(), flops_embed=float(trace.flops_embed))
    if trace.prototypes is not None:
        meta["prototypes"] = np.asarray(trace.prototypes, dtype=np.float64).tolist()
    table = pa.table(cols).replace_schema_metadata({META_KEY: json.dumps(meta, default=float)})
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class TraceSummary:
    n: int
    n_blocks: int
    n_classes: int
    labelled: int                     # samples with a known label
    pairs: bool
    cost_unit: str
    has_proto_dist: bool
    has_lte: bool
    per_exit_accuracy: list[float]    # over the labelled samples ([] when none)

    def lines(self) -> list[str]:
        acc = " ".join(f"{v:.3f}" for v in self.per_exit_accuracy)
        return [f"{self.n} samples × {self.n_blocks} exits × {self.n_classes} classes"
                + (" (text pairs)" if self.pairs else ""),
                f"labels: {self.labelled} of {self.n} known" + (f"; accuracy per exit: {acc}" if acc else ""),
                (f"per-block cost in {self.cost_unit}; prototype distances: {'yes' if self.has_proto_dist else 'no'}"
                 f" (EDR policy {'available' if self.has_proto_dist else 'unavailable'}); learned-exit scores: "
                 f"{'yes' if self.has_lte else 'no'}")]


def summarize(trace: Trace) -> TraceSummary:
    known = trace.labels >= 0
    acc = (trace.preds[known] == trace.labels[known, None]).mean(0).tolist() if known.any() else []
    return TraceSummary(trace.n, trace.n_blocks, trace.n_classes, int(known.sum()), trace.texts_b is not None,
                        str(trace.meta.get("cost_unit", "FLOPs")), trace.proto_dist is not None,
                        trace.lte is not None, acc)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.trace", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    imp = sub.add_parser("import", help="validate a foreign trace (.parquet / .npz) and print a summary")
    imp.add_argument("file")
    imp.add_argument("--out", default=None, help="also save it as an ExitLens trace (.npz) here")
    a = ap.parse_args(argv)
    try:
        trace = read_trace(a.file)
    except TraceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{a.file}: valid trace")
    for line in summarize(trace).lines():
        print(f"  {line}")
    if a.out:
        print(f"wrote {trace.save(a.out)}")
    return 0


if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.trace.io", main))

"""Out-of-core Traces: a folder of Parquet files that is written batch by batch and read chunk by chunk.

A Trace of a million samples does not fit the app's memory once its (N, L, D) embeddings are in it (1M × 12
× 384 float16 is 9 GB); the policies only need the (N, L, K) logits and a few (N, L) signals. A store keeps
every per-block array on disk in Arrow's columnar layout (pyarrow / Parquet), in row groups ("chunks") of a
few tens of MB, so a sweep reads the small columns one chunk at a time and a projection reads one block of
embeddings for a sample of rows (core.analysis.chunked does the analyses; this file is the data only, no torch).

Layout of a store folder
    manifest.json          format exitlens-store/1, n, n_blocks, n_classes, widths, columns, parts, costs, meta
    prototypes.npy         (L, K, P) class prototypes, when the model has them
    part-00000.parquet …   one per writer (a rank of a distributed recording, core.run.distributed)
Columns of a part (one row per sample, in the order the writer got them; ``row`` says whose sample it is)
    row            int64                          the sample's index in the caller's order
    label          int64                          -1 = unknown
    text, text_b   string                         text_b only for pair tasks
    logits         fixed_size_list<float32>[L·K]  every exit's logits, block-major
    proto_dist     fixed_size_list<float32>[L·K]  optional (DE³ prototype distances)
    lte            fixed_size_list<float32>[L]    optional (BERxiT learn-to-exit scores)
    pooled.<b>     fixed_size_list<float16>[D]    one column per block b: a projection reads one block only
    proto_emb.<b>  fixed_size_list<float16>[P]    optional, per block as well
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.trace.base import Trace, TraceError
from core.util import write_atomic

STORE_FORMAT = "exitlens-store/1"
MANIFEST = "manifest.json"
CHUNK_BYTES = 32 << 20            # a row group holds about this much: small next to the app's memory
BLOCK_ROWS = 16384                # samples per analysis step (chunked analysis): its (N, L) arrays fit the CPU cache
OPTIONAL = ("proto_dist", "lte", "text_b", "pooled", "proto_emb")


def _fsl(a: np.ndarray):
    """(n, w) numpy → a pyarrow fixed_size_list<w> column, without a Python loop."""
    import pyarrow as pa

    a = np.ascontiguousarray(a)
    return pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), int(a.shape[1]))


def _np(col, width: int) -> np.ndarray:
    """A fixed_size_list column (one or more Arrow chunks) → (n, width) numpy."""
    arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    return arr.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)


class StoreWriter:
    """Writes one part file of a store, batch by batch (any rows, in any order); ``close()`` says what it
    wrote, for :func:`write_manifest`. Buffers up to ``chunk_rows`` samples (one row group), no more."""

    def __init__(self, folder: str | os.PathLike, part: str = "part-00000", chunk_rows: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.file = f"{part}.parquet"
        self._tmp = self.folder / f".{self.file}.tmp"
        self.chunk_rows, self.rows, self.labelled = chunk_rows, 0, True
        self._buf: dict[str, list] = {}
        self._buffered = 0
        self._writer = None
        self.shape: dict | None = None           # n_blocks, n_classes, hidden, proto_width, columns

    def write(self, rows, logits, labels, texts, texts_b=None, pooled=None, proto_emb=None, proto_dist=None,
              lte=None) -> None:
        """One batch: rows (b,), logits (b, L, K), labels (b,), texts [b], pooled (b, L, D), proto_emb
        (b, L, P), proto_dist (b, L, K), lte (b, L)."""
        logits = np.asarray(logits, np.float32)
        b, n_blocks, k = logits.shape
        parts = {"proto_dist": proto_dist, "lte": lte, "text_b": texts_b, "pooled": pooled, "proto_emb": proto_emb}
        shape = {"n_blocks": n_blocks, "n_classes": k,
                 "hidden": 0 if pooled is None else int(np.shape(pooled)[-1]),
                 "proto_width": 0 if proto_emb is None else int(np.shape(proto_emb)[-1]),
                 "columns": [c for c in OPTIONAL if parts[c] is not None and not (c == "pooled" and
                                                                                   np.shape(pooled)[-1] == 0)]}
        if self.shape is None:
            self.shape = shape
            row_bytes = 8 * n_blocks * k + 4 * n_blocks + 2 * n_blocks * (shape["hidden"] + shape["proto_width"]) + 96
            self.chunk_rows = self.chunk_rows or int(np.clip(CHUNK_BYTES // row_bytes, 1024, 65536))
        elif shape != self.shape:
            raise TraceError(f"a batch of shape {shape} does not match the part's first batch {self.shape}: one "
                             "store holds one model's outputs")
        labels = np.asarray(labels, np.int64).reshape(-1)
        self.labelled &= bool((labels >= 0).all())
        add = {"row": np.asarray(rows, np.int64).reshape(-1), "label": labels, "text": list(map(str, texts)),
               "logits": logits.reshape(b, -1)}
        if proto_dist is not None:
            add["proto_dist"] = np.asarray(proto_dist, np.float32).reshape(b, -1)
        if lte is not None:
            add["lte"] = np.asarray(lte, np.float32).reshape(b, -1)
        if texts_b is not None:
            add["text_b"] = list(map(str, texts_b))
        for name in ("pooled", "proto_emb"):
            if name in shape["columns"]:
                a = np.asarray(parts[name], np.float16)
                for i in range(n_blocks):
                    add[f"{name}.{i}"] = a[:, i]
        for key, v in add.items():
            self._buf.setdefault(key, []).append(v)
        self._buffered += b
        if self._buffered >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._buffered:
            return
        cols = {}
        for key, parts in self._buf.items():
            if key in ("text", "text_b"):
                cols[key] = pa.array([t for p in parts for t in p], pa.string())
            elif key in ("row", "label"):
                cols[key] = pa.array(np.concatenate(parts))
            else:
                cols[key] = _fsl(np.concatenate(parts))
        table = pa.table(cols)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema, compression="snappy", use_dictionary=False,
                                            write_statistics=["row", "label"])
        self._writer.write_table(table, row_group_size=len(table))      # one buffer = one row group = one chunk
        self.rows += self._buffered
        self._buf, self._buffered = {}, 0

    def close(self) -> dict:
        """Flush, move the part into place (atomically) and say what it holds."""
        self._flush()
        if self._writer is None:
            raise TraceError(f"{self.folder / self.file}: nothing was written (no samples)")
        self._writer.close()
        os.replace(self._tmp, self.folder / self.file)
        return {"file": self.file, "rows": self.rows, "labelled": self.labelled, **(self.shape or {})}

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


def write_manifest(folder: str | os.PathLike, parts: list[dict], flops_per_block, flops_embed: float,
                   meta: dict | None = None, prototypes: np.ndarray | None = None) -> TraceStore:
    """Join the parts that writers closed into one store (every sample exactly once) and open it."""
    folder = Path(folder)
    if not parts:
        raise TraceError(f"{folder}: no parts to join: record at least one batch")
    keys = ("n_blocks", "n_classes", "hidden", "proto_width", "columns")
    shapes = {json.dumps({k: p[k] for k in keys}) for p in parts}
    if len(shapes) != 1:
        raise TraceError(f"{folder}: the parts hold different shapes {sorted(shapes)}: they are not one recording")
    for p in parts:
        if not (folder / p["file"]).is_file():
            raise TraceError(f"{folder / p['file']} is missing: every rank must write into a folder that rank 0 "
                             "sees too (on several machines: a shared file system)")
    n = int(sum(p["rows"] for p in parts))
    manifest = {"format": STORE_FORMAT, "n": n, **{k: parts[0][k] for k in keys},
                "parts": [{"file": p["file"], "rows": int(p["rows"])} for p in parts],
                "labelled": bool(all(p["labelled"] for p in parts)) and n > 0,
                "flops_per_block": [float(x) for x in np.asarray(flops_per_block).reshape(-1)],
                "flops_embed": float(flops_embed), "meta": meta or {}}
    if prototypes is not None:
        write_atomic(folder / "prototypes.npy", lambda f: np.save(f, np.asarray(prototypes), allow_pickle=False))
    write_atomic(folder / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    for f in (folder / MANIFEST, folder / "prototypes.npy"):      # readable like the parts (mkstemp makes 0600)
        if f.is_file():
            f.chmod(0o644)
    store = TraceStore(folder)
    seen = np.bincount(store.row_ids(), minlength=n)
    if len(seen) != n or not (seen == 1).all():
        (folder / MANIFEST).unlink()
        raise TraceError(f"{folder}: the parts do not hold every sample 0..{n - 1} exactly once "
                         f"({int((seen == 0).sum())} missing, {int((seen > 1).sum())} repeated): record again")
    return store


@dataclass
class Chunk:
    """One row group of a store: ``trace`` holds its samples; ``rows`` (n,) says which caller rows they are."""

    rows: np.ndarray
    trace: Trace


class TraceStore:
    """A recorded Trace on disk (see the module docstring): its shape, costs and meta in memory, its arrays
    read one chunk at a time (``chunks``) or for chosen rows (``subset``, ``embeddings``)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        mf = self.path / MANIFEST
        if not mf.is_file():
            raise TraceError(f"no trace store at {self.path} (no {MANIFEST}): record one with "
                             "`python -m core.inference record --out FOLDER …`")
        try:
            m = json.loads(mf.read_text())
        except ValueError as e:
            raise TraceError(f"{mf} is damaged ({e}): record the store again") from e
        if m.get("format") != STORE_FORMAT:
            raise TraceError(f"{self.path} is not an ExitLens trace store ({STORE_FORMAT}); record it again")
        self.manifest = m
        self.n, self.n_blocks, self.n_classes = int(m["n"]), int(m["n_blocks"]), int(m["n_classes"])
        self.hidden, self.proto_width, self.columns = int(m["hidden"]), int(m["proto_width"]), tuple(m["columns"])
        self.flops_per_block = np.asarray(m["flops_per_block"], np.float64)
        self.flops_embed, self.meta, self.has_labels = float(m["flops_embed"]), dict(m["meta"]), bool(m["labelled"])
        p = self.path / "prototypes.npy"
        self.prototypes = np.load(p, allow_pickle=False) if p.is_file() else None    # (L, K, P)
        self._groups: list[tuple[Path, int, int]] | None = None
        self._pos: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n

    @property
    def flops_full(self) -> float:
        return float(self.flops_embed + self.flops_per_block.sum())

    @property
    def label_names(self) -> list[str]:
        return list(self.meta.get("label_names") or [str(k) for k in range(self.n_classes)])

    # What ``Policy.missing`` asks of a trace: is the column there (None: no). Its values are read by chunks.
    proto_dist = property(lambda self: "on disk" if "proto_dist" in self.columns else None)
    lte = property(lambda self: "on disk" if "lte" in self.columns else None)

    def groups(self) -> list[tuple[Path, int, int]]:
        """(part file, row group, rows) of every chunk, in storage order."""
        if self._groups is None:
            import pyarrow.parquet as pq

            self._groups = []
            for part in self.manifest["parts"]:
                f = self.path / part["file"]
                if not f.is_file():
                    raise TraceError(f"{f} is missing from the store: record it again")
                md = pq.ParquetFile(f).metadata
                self._groups += [(f, g, md.row_group(g).num_rows) for g in range(md.num_row_groups)]
        return self._groups

    def _read(self, file: Path, group: int, names: list[str]) -> dict:
        import pyarrow.parquet as pq

        t = pq.ParquetFile(file).read_row_group(group, columns=names)
        out = {}
        for name in names:
            col = t.column(name)
            if name in ("row", "label"):
                out[name] = col.to_numpy()
            elif name in ("text", "text_b"):
                out[name] = col.to_pylist()
            elif name in ("logits", "proto_dist"):
                out[name] = _np(col, self.n_blocks * self.n_classes).reshape(-1, self.n_blocks, self.n_classes)
            elif name == "lte":
                out[name] = _np(col, self.n_blocks)
            else:                                   # pooled.<b>, proto_emb.<b>
                out[name] = _np(col, self.hidden if name.startswith("pooled") else self.proto_width)
        return out

    def _names(self, texts: bool, embeddings: bool) -> list[str]:
        names = ["row", "label", "logits"] + [c for c in ("proto_dist", "lte") if c in self.columns]
        if texts:
            names += ["text"] + (["text_b"] if "text_b" in self.columns else [])
        if embeddings:
            for c in ("pooled", "proto_emb"):
                if c in self.columns:
                    names += [f"{c}.{i}" for i in range(self.n_blocks)]
        return names

    def _trace(self, d: dict) -> Trace:
        n = len(d["row"])
        emb = lambda c: (np.stack([d[f"{c}.{i}"] for i in range(self.n_blocks)], 1) if f"{c}.0" in d
                            else None if c == "proto_emb" else np.zeros((n, self.n_blocks, 0), np.float16))
        return Trace(logits=d["logits"], pooled=emb("pooled"), labels=d["label"],
                     texts=d.get("text", [""] * n), texts_b=d.get("text_b"), flops_per_block=self.flops_per_block,
                     flops_embed=self.flops_embed, proto_emb=emb("proto_emb"),
                     proto_dist=d.get("proto_dist"), prototypes=self.prototypes, lte=d.get("lte"), meta=dict(self.meta))

    def chunks(self, texts: bool = False, embeddings: bool = False, rows: int | None = None) -> Iterator[Chunk]:
        """Every stored sample once, as small Traces of at most ``rows`` (default BLOCK_ROWS) samples (logits,
        labels and the signals' columns; texts and embeddings only when asked), in storage order. A row group is
        read at once and handed out in slices of ``rows``: a slice's (N, L) arrays stay in the CPU cache through
        the many passes of a sweep (about 1.5× faster than whole row groups). Sums over samples ignore the order."""
        names, rows = self._names(texts, embeddings), rows or BLOCK_ROWS
        for file, g, _ in self.groups():
            d = self._read(file, g, names)
            for s in range(0, len(d["row"]), rows):
                part = {k: v[s:s + rows] for k, v in d.items()}
                yield Chunk(rows=part["row"], trace=self._trace(part))

    def row_ids(self) -> np.ndarray:
        """(N,) the caller row of every stored sample, in storage order."""
        parts = [self._read(f, g, ["row"])["row"] for f, g, _ in self.groups()]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def positions(self) -> np.ndarray:
        """(N,) where each caller row sits in storage order."""
        if self._pos is None:
            ids = self.row_ids()
            self._pos = np.empty(self.n, np.int64)
            self._pos[ids] = np.arange(len(ids))
        return self._pos

    def _take(self, rows, names: list[str]) -> dict:
        """The columns ``names`` of the caller rows ``rows``, in that order, reading only their row groups."""
        rows = np.asarray(rows, np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n):
            raise IndexError(f"rows must be in 0..{self.n - 1}, got {int(rows.min())}..{int(rows.max())}")
        pos = self.positions()[rows]
        starts = np.cumsum([0] + [r for _, _, r in self.groups()])
        which = np.searchsorted(starts, pos, side="right") - 1
        out: dict = {}
        for gi in np.unique(which):
            file, g, _ = self.groups()[gi]
            at = np.flatnonzero(which == gi)
            d = self._read(file, g, names)
            local = pos[at] - starts[gi]
            for k, v in d.items():
                out.setdefault(k, []).append((at, [v[i] for i in local] if isinstance(v, list) else v[local]))
        return {k: _placed(v, len(rows)) for k, v in out.items()}

    def subset(self, rows) -> Trace:
        """The in-memory Trace of the caller rows ``rows`` (everything, embeddings included), in that order."""
        rows = np.asarray(rows, np.int64).reshape(-1)
        names = self._names(True, True)
        if not rows.size:
            return self._trace({k: v[:0] for k, v in self._read(*self.groups()[0][:2], names).items()})
        return self._trace(self._take(rows, names))

    def to_trace(self) -> Trace:
        """The whole recording in memory, in the caller's order (equal to ``record``'s Trace): small N only."""
        return self.subset(np.arange(self.n))

    def embeddings(self, block: int, rows) -> tuple[np.ndarray, np.ndarray | None, str]:
        """(len(rows), ·) float32 embeddings at ``block`` (0-based) for the projection — DE³'s prototype space
        when recorded, with the prototypes, else the pooled state (as core.analysis.projection.embeddings_at) —
        reading that one block's column of the row groups that hold ``rows``."""
        if not 0 <= int(block) < self.n_blocks:
            raise IndexError(f"block must be in 0..{self.n_blocks - 1}, got {block}")
        if "proto_emb" in self.columns:
            x = self._take(rows, [f"proto_emb.{block}"])[f"proto_emb.{block}"]
            protos = None if self.prototypes is None else np.asarray(self.prototypes[block], np.float32)
            return np.asarray(x, np.float32), protos, "prototype space e_m"
        if "pooled" not in self.columns:
            raise TraceError(f"{self.path} holds no embeddings (recorded without pooled states): record it again")
        return np.asarray(self._take(rows, [f"pooled.{block}"])[f"pooled.{block}"], np.float32), None, \
            "pooled hidden state"


def _placed(pieces: list, n: int):
    """Pieces (positions, values) back into one array (or list) of n, each value at its position."""
    if isinstance(pieces[0][1], list):
        out = [None] * n
        for at, vals in pieces:
            for i, v in zip(at, vals):
                out[i] = v
        return out
    first = pieces[0][1]
    out = np.empty((n,) + first.shape[1:], first.dtype)
    for at, vals in pieces:
        out[at] = vals
    return out


def save_store(trace: Trace, folder: str | os.PathLike, chunk_rows: int | None = None,
               batch_rows: int = 4096) -> TraceStore:
    """An in-memory Trace written as a store (its rows in order, ``batch_rows`` at a time)."""
    w = StoreWriter(folder, chunk_rows=chunk_rows)
    try:
        for s in range(0, max(trace.n, 1), batch_rows):
            sl = slice(s, s + batch_rows)
            pick = lambda a, sl=sl: None if a is None else a[sl]
            w.write(np.arange(trace.n)[sl], trace.logits[sl], trace.labels[sl], trace.texts[sl],
                    None if trace.texts_b is None else trace.texts_b[sl], trace.pooled[sl], pick(trace.proto_emb),
                    pick(trace.proto_dist), pick(trace.lte))
        part = w.close()
    except BaseException:
        w.abort()
        raise
    return write_manifest(folder, [part], trace.flops_per_block, trace.flops_embed, trace.meta, trace.prototypes)

"""Bring your own: a Hugging Face classifier folder imported from the sidebar, or a trace recorded elsewhere
opened without any model (core.hf.cli, core.trace.io).

A trace alone carries every exit's outputs, so the dataset pages (Threshold debugger, Prototypes &
overthinking, Compare, certification) work on it; the pages that must run the model (Playground, Binarized
weights, the live Learn figures) say so plainly.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from types import SimpleNamespace

import streamlit as st

from app import widgets
from core.data import get_task, task_names
from core.run import ModelBundle, PathNotAllowed, cache_dir, card_task, check_allowed
from core.trace import MANIFEST, Trace, TraceError

NEEDS_A_MODEL = {"Playground": "type sentences and run them through the blocks",
                 "Binarized weights": "read the model's weights"}


def imported_dir(src: Path, fingerprint: str, exits: str) -> Path:
    """Where an import of ``src`` goes: the cache folder, keyed by the source's path, its fingerprint (config and
    weights: a folder overwritten with another model is imported again) and the exits (never assets/)."""
    where = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:8]
    return cache_dir() / "imported" / f"{src.name}-{where}-{fingerprint[:12]}-{exits}"


@st.cache_data(max_entries=16, show_spinner="Fingerprinting the model folder…")
def fingerprint(path: str, stamp: tuple) -> str:
    """core.hf.source_fingerprint, computed again when a file's size or time (``stamp``) changes."""
    from core.hf import source_fingerprint
    return source_fingerprint(path)


def _stamp(src: Path) -> tuple:
    return tuple(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in src.iterdir() if f.is_file()))


def import_tasks(k: int | None) -> list[str]:
    """The tasks an import can fit on: K classes (any, for a bare encoder) and a local training split (the fit
    split is cut from it; a task without local data is never offered, so no hub is asked)."""
    from core.data import available_splits
    return [t for t in task_names() if k in (None, get_task(t).num_labels) and "train" in available_splits(t)]


def _failed(e: Exception) -> None:
    """An import failure shown open in the sidebar: what went wrong and what to do."""
    what, todo = getattr(e, "what", str(e)), getattr(e, "todo", "")
    st.sidebar.error(f"**Import failed**: {what}." + (f"\n\n**What to do**: {todo}" if todo else ""),
                     icon=":material/warning:")


def import_panel(src: Path) -> Path | None:
    """The sidebar's import of a Hugging Face folder: its exits (own head or probes), a re-import, the task (or a
    CSV) to fit on; returns the imported directory of the chosen exits once it exists for this very source."""
    from core import hf

    sb = st.sidebar
    try:
        info = hf.inspect_source(str(src))
        fp = fingerprint(str(src), _stamp(src))
    except (ValueError, OSError) as e:
        _failed(e)
        return None
    with sb.container(border=True):
        st.markdown(f"**{src.name}** is a Hugging Face {info.model_type} "
                    + ("classifier" if info.has_classifier else "encoder without a classifier")
                    + f" ({info.n_layers} layers × {info.hidden}), fingerprint `{fp[:12]}`.")
        modes = ["own-head", "probe"] if info.has_classifier else ["probe"]
        exits = widgets.choice(st, "exits", modes, "byo_exits", info.default_exits, kind="radio", horizontal=True,
                               help="own-head: the model's own classifier on every layer (no training); probe: one "
                                    "linear head per layer fitted on the task's fit split with the backbone frozen")
        out = imported_dir(src, fp, exits)
        if (out / "config.json").is_file():
            if not st.button("re-import", key="byo_reimport", help="import this folder again, from scratch"):
                st.caption(f"Imported with {exits} exits; this folder has not changed since.")
                return out
            shutil.rmtree(out, ignore_errors=True)
        return _import_form(src, info, exits, out)


def _import_form(src: Path, info, exits: str, out: Path) -> Path | None:
    from core import hf

    tasks = import_tasks(info.num_labels)
    k = info.num_labels
    if tasks:
        task = widgets.choice(st, "task", tasks, "byo_task", tasks[0], format_func=lambda t: get_task(t).folder)
        rows = None
    else:
        st.warning(f"No task with {k} classes has local training data here "
                   f"({', '.join(t for t in task_names() if get_task(t).num_labels == k) or 'none'}): upload a "
                   f"labelled CSV (text, label 0..{k - 1}[, text_b]) to fit the exits on.",
                   icon=":material/description:")
        task = next((t for t in task_names() if get_task(t).num_labels == k), None)
        up = st.file_uploader("labelled CSV", type=["csv", "tsv"], key="byo_csv")
        if task is None or up is None:
            return None
        from core.data import load_csv_upload
        try:
            ds = load_csv_upload(up, task)
        except ValueError as e:
            _failed(e)
            return None
        rows = (list(ds["text"]), list(ds["text_b"]) if "text_b" in ds.column_names else None, list(ds["label"]))
    limit = int(widgets.number(st, "fit rows (0 = all)", "byo_limit", 2000, min_value=0, step=500,
                               help="probes and prototypes are fitted on this many rows of the fit split"))
    if not st.button("import", type="primary"):
        st.caption(f"It is written to {out} (never into assets/).")
        return None
    with st.status(f"Importing {src.name}…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(stage, done, total):
            bar.progress(min(done / max(total, 1), 1.0), text=f"{stage}: {done:,} / {total:,}")

        try:
            hf.import_model(str(src), task, out, exits=exits, limit=limit or None, progress=progress, rows=rows)
        except (ValueError, OSError) as e:
            status.update(label="Import failed: the reason is below", state="error", expanded=True)
            _failed(e)
            return None
        status.update(label=f"Imported {src.name}", state="complete", expanded=False)
    return out


@st.cache_data(max_entries=4, show_spinner="Reading the trace…")
def read_trace(data: bytes, name: str) -> Trace:
    import io

    from core.trace import read_trace as _read
    f = io.BytesIO(data)
    f.name = name
    return _read(f, name)


@st.cache_data(max_entries=2, show_spinner="Reading the trace store…")
def read_store(path: str, stamp: str) -> Trace:
    """A whole trace store in memory (``stamp``: its path and manifest time, so a re-recorded store is re-read);
    a path that is neither a file nor a store raises core's TraceError, which says what it accepts."""
    from core.trace import read_trace as _read
    return _read(path)


def trace_section(warns: list[str]) -> ModelBundle | None:
    """The sidebar when a trace is opened instead of a model: an upload or a path; returns a model-less bundle."""
    sb = st.sidebar
    up = sb.file_uploader("a recorded trace (.parquet or .npz)", type=["parquet", "npz"], key="byo_trace_upload",
                          help="per-exit logits of any early-exit model, in the format of core/trace/io.py")
    widgets.restore("byo_trace_path", "")
    sb.text_input("…or its path on the server", key="byo_trace_path", placeholder="/path/to/trace.parquet",
                  help="a .parquet or .npz file, or a store folder written by `core.inference record --out`")
    path = widgets.remember("byo_trace_path").strip()
    try:
        if up is not None:
            data, name = up.getvalue(), up.name
        elif path:
            p = check_allowed(path, "trace path")          # nothing outside the allowed folders is read
            if not p.is_file():            # a store folder (`core.inference record --out`), or core says why not
                mf = p / MANIFEST
                stamp = f"{p.resolve()}:{mf.stat().st_mtime_ns if mf.is_file() else 0}"
                return trace_bundle(read_store(str(p), stamp), p.name, hashlib.sha256(stamp.encode()).hexdigest()[:16])
            data, name = p.read_bytes(), p.name
        else:
            sb.info("Upload a trace recorded elsewhere, or type its path: every dataset page then works on it.")
            return None
        tr = read_trace(data, name)
    except PathNotAllowed as e:
        sb.error(f"{e}", icon=":material/lock:")
        return None
    except TraceError as e:
        sb.error(f"{e}", icon=":material/warning:")
        return None
    return trace_bundle(tr, name, hashlib.sha256(data).hexdigest()[:16])


def trace_bundle(tr: Trace, name: str, key: str) -> ModelBundle:
    """A bundle without a model: what the pages need to know, read off the trace."""
    meta = tr.meta or {}
    task = card_task({"task": meta.get("task")}, tr.n_classes) if meta.get("task") else None
    cfg = SimpleNamespace(n_blocks=tr.n_blocks, n_classes=tr.n_classes, hidden=tr.pooled.shape[-1], max_len=128,
                          proto_dim=1 if tr.proto_dist is not None else 0, lte=tr.lte is not None, binarize=(),
                          block="trace", to_dict=lambda: {})
    return ModelBundle(name=name, path=Path(name), key=key, model=None, tokenizer=None, cfg=cfg,
                       card={"task": meta.get("task")}, task=task, label_names=tr.label_names, trace=tr)

"""Streamlit caches around core calls, the current selection, and user-facing failure — nothing else.

* ``st.cache_resource`` holds model bundles (keyed by directory and weights digest), read-only;
* ``st.cache_data`` holds traces, sweeps and projections, bounded;
* loaders never let a raw traceback reach the page: core raises CheckpointError / DataError / TraceError /
  ValueError with a message that says what to do, and :func:`fail` shows it with ``st.error`` and stops.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from app.selection import DataChoice, Selection
from core.analysis import projection
from core.data import DataError, get_task, load_csv_upload, load_probes, task_names
from core.model import CheckpointError
from core.run import (  # noqa: F401 (the pages' names)
    RECORDER_VERSION,
    ModelBundle,
    check_allowed,
    default_model,
    list_models,
    model_key,
    models_dir,
    shipped_for,
    trace_for,
    trace_path,
)
from core.run import bundle as core_bundle
from core.trace import Trace, TraceError

USER_ERRORS = (CheckpointError, DataError, TraceError, ValueError, OSError)


# ── models ──────────────────────────────────────────────────────────────────────────────────────────

@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _load_bundle(path: str, key: str, name: str) -> ModelBundle:
    b = core_bundle.load_bundle(path, name)
    print(f"ExitLens: loaded model {b.name} from {path} (weights {key})", file=sys.stderr, flush=True)
    return b


def load_bundle(path: str | Path) -> ModelBundle:
    """The model in ``path`` (cached per directory and weights digest); CheckpointError if unusable,
    core.run.allowed.PathNotAllowed (nothing read) outside the folders the operator allows."""
    check_allowed(path, "checkpoint directory")
    p = core_bundle.check_dir(path)
    return _load_bundle(str(p.resolve()), model_key(p), p.name)


@st.cache_resource(max_entries=4, show_spinner=False)
def latent_model(path: str, key: str):
    """core.model.weights.latent_model, cached per weights digest."""
    from core.model import latent_model as _latent
    return _latent(path)


@st.cache_data(max_entries=8, show_spinner=False)
def weight_stats(_bundle: ModelBundle, model_id: str, latent: bool = False):
    """core.model.weights.layer_stats of the stored model, or of its latent weights (None when absent)."""
    from core.model import layer_stats
    if not latent:
        return layer_stats(_bundle.model)
    m = latent_model(str(_bundle.path), model_id)
    return None if m is None else layer_stats(m)


# ── the selection ───────────────────────────────────────────────────────────────────────────────────

def set_current(sel: Selection) -> None:
    st.session_state["_selection"] = sel


def current() -> Selection:
    sel = st.session_state.get("_selection")
    if sel is None:
        st.error("The sidebar has not chosen a model yet: open the app from its main page.")
        st.stop()
    return sel


def fail(err: BaseException, hint: str = "") -> None:
    """Show a user-facing error (no traceback) and stop this run."""
    msg = str(err) or type(err).__name__
    st.error(msg + (f"\n\n{hint}" if hint else ""), icon=":material/warning:")
    st.stop()


# ── traces ──────────────────────────────────────────────────────────────────────────────────────────

def _meta(bundle: ModelBundle, task_name: str | None, **extra) -> dict:
    task = get_task(task_name) if task_name else bundle.task
    names = list(task.label_names) if task is not None else bundle.label_names
    return {"model": bundle.name, "model_key": bundle.key, "label_names": names,
            "metric": task.metric if task is not None else "accuracy", **extra}


@st.cache_data(max_entries=256, show_spinner=False)
def sentence(_bundle: ModelBundle, model_id: str, text: str, text_b: str | None = None, label: int | None = None):
    """One sentence (or pair), tokenized once: its per-block Trace and its word pieces (core.run.recorder)."""
    from core.run import record_one
    with torch.inference_mode():                # the same numbers as no_grad, a little less bookkeeping
        return record_one(_bundle.model, _bundle.tokenizer, text, text_b, label, max_len=_bundle.max_len,
                          meta=_meta(_bundle, None))


@st.cache_data(max_entries=12, show_spinner=False)
def _glue_trace(model_path: str, model_id: str, task: str, split: str, limit: int | None) -> Trace:
    return trace_for(model_path, task, split, limit=limit, max_len=core_bundle.MAX_LEN)


@st.cache_data(max_entries=8, show_spinner=False)
def _recorded_trace(_bundle: ModelBundle, model_id: str, source: str, task: str | None, digest: str,
                    _data: tuple) -> Trace:
    from core.run import record
    texts, texts_b, labels, meta = _data
    return record(_bundle.model, _bundle.tokenizer, texts, texts_b, labels, max_len=_bundle.max_len,
                  meta=_meta(_bundle, task, **meta))


def trace_id(sel_or_bundle, data: DataChoice) -> str:
    """A stable name for a (model, data) trace: the key of every derived cache (sweeps, projections)."""
    b = sel_or_bundle.bundle if isinstance(sel_or_bundle, Selection) else sel_or_bundle
    return f"{b.name}-{b.key}-{data.source}-{data.task}-{data.split}-{data.limit or 'all'}-{data.digest}"


def is_recorded(bundle: ModelBundle, data: DataChoice) -> bool:
    """Nothing to record: not a GLUE split, or its trace is in the cache or shipped with the model."""
    if data.source != "glue":
        return True
    path = trace_path(bundle.path, data.task, data.split, data.limit)
    return path.is_file() or shipped_for(bundle.path, data.task, data.split, data.limit, RECORDER_VERSION) is not None


def dataset_trace(bundle: ModelBundle, data: DataChoice) -> Trace:
    """The Trace of the chosen data for ``bundle``: a GLUE split from core.run.cache (recorded once with a
    progress bar, then read from disk), the probe set or an upload (recorded, cached in memory).
    Shows a clear st.error and stops the run on bad data."""
    try:
        if bundle.trace is not None:                 # a recorded trace opened without its model
            return bundle.trace
        if data.source == "trace":                   # a model on the samples of an opened trace (Compare)
            t = data.trace
            packed = (list(t.texts), t.texts_b, list(t.labels), {"task": t.meta.get("task"), "split": "trace"})
            task = t.meta.get("task") if t.meta.get("task") in task_names() else None
            return _recorded_trace(bundle, bundle.key, "trace", task, data.digest, packed)
        if data.source == "glue":
            if not is_recorded(bundle, data):
                with st.status(f"Recording {bundle.name} on {data.label}…", expanded=True) as status:
                    bar = st.progress(0.0, text="running every block on every sample")

                    def cb(done, total):
                        bar.progress(done / max(total, 1), text=f"{done:,} / {total:,} samples")

                    trace_for(bundle.path, data.task, data.split, limit=data.limit, callback=cb,
                              max_len=core_bundle.MAX_LEN)
                    status.update(label=f"Recorded {bundle.name} on {data.label}", state="complete",
                                  expanded=False)
            return _glue_trace(str(bundle.path), bundle.key, data.task, data.split, data.limit)
        if data.source == "probes":
            if bundle.n_classes != 2 or bundle.is_pair:
                raise DataError("the probe sentences are single sentences labelled negative / positive "
                                f"(SST-2 style), but {bundle.name} is a {bundle.n_classes}-class "
                                f"{'sentence-pair ' if bundle.is_pair else ''}model: pick a GLUE split instead")
            ds = load_probes()
            packed = (list(ds["text"]), None, list(ds["label"]), {"task": "probes", "split": "probes",
                                                                 "categories": list(ds["category"])})
            return _recorded_trace(bundle, bundle.key, "probes", "sst2", "", packed)
        if data.source == "upload":
            if data.upload_bytes is None:
                st.info("No file uploaded yet: upload a CSV with text and label columns in the sidebar "
                        "(text_b too for a sentence-pair model).", icon=":material/description:")
                st.stop()
            f = io.BytesIO(data.upload_bytes)
            f.name = data.upload_name or "upload.csv"
            ds = load_csv_upload(f, data.task)
            texts_b = list(ds["text_b"]) if "text_b" in ds.column_names else None
            packed = (list(ds["text"]), texts_b, list(ds["label"]), {"task": data.task, "split": "upload"})
            return _recorded_trace(bundle, bundle.key, "upload", data.task, data.digest, packed)
        raise DataError(f"unknown data source {data.source!r}")
    except USER_ERRORS as e:
        fail(e, "Pick another split, task or file in the sidebar.")
        raise  # unreachable: fail() stops the run


def unlabelled_gate(bundle: ModelBundle, data: DataChoice, works: str) -> None:
    """Before recording GLUE's test split (no public labels): say so, say what still works, and record only
    when asked — instead of saying it after minutes of recording."""
    if data.source != "glue" or data.split != "test" or is_recorded(bundle, data):
        return
    st.warning("GLUE's test split has no public labels, so accuracy, the Pareto chart, tuning, certification and "
               f"the overthinking cohorts cannot be computed on it. What works without labels: {works}. Pick the "
               "validation split in the sidebar for the rest.", icon=":material/label:")
    if not st.button("record the test split anyway"):
        st.stop()


def require_labels(trace: Trace, what: str) -> None:
    if not trace.has_labels:
        st.warning(f"{what} needs labels, and this data has none (GLUE test labels are hidden): "
                   "pick the validation split or a labelled upload in the sidebar.")
        st.stop()


# ── derived results, cached per trace id ────────────────────────────────────────────────────────────

@st.cache_data(max_entries=16, show_spinner="Sweeping every policy…")
def sweep_all(_trace: Trace, tid: str, params_key: str, _params: dict):
    from core.analysis import sweep_all as _sweep_all
    return _sweep_all(_trace, include_oracle=_trace.has_labels, params=_params)


@st.cache_data(max_entries=16, show_spinner=False)
def same_decisions(_trace: Trace, tid: str, params_key: str, _params: dict) -> dict[str, str]:
    """core.analysis.equivalent.groups of the swept threshold policies (with the sweep's parameters)."""
    from core.analysis import groups
    from core.policies import POLICIES, ThresholdPolicy, make_policy
    pols = []
    for name, params in _params.items():
        cls = POLICIES[name]
        if issubclass(cls, ThresholdPolicy) and cls.missing(_trace) is None:
            pols.append(make_policy(name, threshold=cls.threshold_spec(_trace).default, **params))
    return groups(_trace, pols)


@st.cache_data(max_entries=64, show_spinner=False)
def project(_trace: Trace, tid: str, block: int, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """core.analysis.projection.project, in memory as well as on disk."""
    return projection.project(_trace, tid, block, method)


@st.cache_data(max_entries=4, show_spinner="Reading the pretrained MiniLM-L6 weights…")
def against_pretrained(_bundle: ModelBundle, model_id: str):
    """core.model.weights.against_reference of the model and the pretrained weights it started from (None when it
    has no such starting point), cached per weights digest."""
    from core.model import against_reference, pretrained_block_weights
    ref = pretrained_block_weights(_bundle.model)
    return None if ref is None else against_reference(_bundle.model, ref)

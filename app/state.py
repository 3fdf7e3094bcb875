"""Cached loaders and the shared selection (model, data, exit policy) the sidebar hands to every page.

* ``st.cache_resource`` holds models (keyed by the model directory and its weights' digest), read-only;
* ``st.cache_data`` holds traces (model key + task + split + limit), sweeps and projections, bounded;
* the query-parameter helpers are pure functions in :mod:`app.params` (re-exported here).

Loaders never let a raw traceback reach the page: core raises CheckpointError / DataError / TraceError /
ValueError with a message that says what to do, and :func:`fail` shows it with ``st.error`` and stops.
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from app.params import *  # noqa: F401,F403  (the pure query-parameter helpers, re-exported)
from app.params import policy_params
from core import checkpoint
from core.atomic import save_npz_atomic
from core.cache import cache_dir, model_key, trace_for, trace_path
from core.checkpoint import CheckpointError
from core.config import ModelConfig
from core.data import DataError, Task, get_task
from core.policies import Policy, make_policy
from core.trace import Trace, TraceError

torch.set_num_threads(1)     # small ops on a busy 2-core machine are many times faster single-threaded


def _single_threaded_blas() -> None:
    """numpy's OpenBLAS too: under load a multi-threaded 5,000×64 SVD took 2–6 s here, single-threaded 20 ms."""
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    except Exception:       # threadpoolctl missing or a BLAS it does not know: keep the defaults
        pass


_single_threaded_blas()

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_LEN = 128                # tokens per sentence (the dev-set traces of core.cache use the same)
USER_ERRORS = (CheckpointError, DataError, TraceError, ValueError, OSError)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Where models are

def models_dir() -> Path:
    """``$EXITLENS_MODELS_DIR`` (relative paths from the repo root), default assets/models."""
    raw = os.environ.get("EXITLENS_MODELS_DIR", "").strip() or "assets/models"
    p = Path(raw).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def list_models(folder: Path | None = None) -> list[str]:
    """Names of the model directories (those with a config.json) in the models folder, sorted."""
    folder = folder or models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file())


def default_model(names: list[str]) -> str | None:
    """``$EXITLENS_MODEL`` if it is there, else minilm-ee-sst2, else the first."""
    want = os.environ.get("EXITLENS_MODEL", "").strip()
    for cand in (want, "minilm-ee-sst2"):
        if cand and cand in names:
            return cand
    return names[0] if names else None


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Models

@dataclass
class ModelBundle:
    """A loaded model and what the pages need to know about it (shared, never mutated)."""

    name: str
    path: Path
    key: str                    # digest of the weights file (core.cache.model_key)
    model: torch.nn.Module
    tokenizer: object
    cfg: ModelConfig
    card: dict
    task: Task | None           # the task the model was trained on (from card.json), if known
    label_names: list[str] = field(default_factory=list)

    @property
    def is_pair(self) -> bool:
        return bool(self.task is not None and self.task.is_pair)

    @property
    def n_blocks(self) -> int:
        return self.cfg.n_blocks

    @property
    def n_classes(self) -> int:
        return self.cfg.n_classes

    @property
    def binarized(self) -> bool:
        return bool(self.cfg.binarize)

    @property
    def max_len(self) -> int:
        return min(MAX_LEN, self.cfg.max_len)


def freeze_binarized(model: torch.nn.Module) -> int:
    """Binarize every binary layer's weight once, for inference, instead of on every forward pass.

    core.binary.BinaryLinear computes α·sign(W) from the latent W in each forward (what training needs);
    for a loaded model that is most of a sentence's time (beex-sst2: ~40 ms of ~45). Here each binary
    module's ``forward`` is replaced by the same F.linear / F.embedding on the α·sign(W) tensor computed once
    by core's own ``binarize_weight`` — the same numbers, bit for bit. The weights themselves are not touched,
    so core.weights still reads them. Returns how many layers were frozen. (A candidate for core: cache the
    binarized weight while a BinaryLinear is in eval mode.)"""
    import types

    import torch.nn.functional as F

    from core.binary import BinaryEmbedding, BinaryLinear, binarize_weight

    n = 0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BinaryLinear):
                wb = binarize_weight(m.weight).detach()
                m.forward = types.MethodType(lambda self, x, _w=wb: F.linear(x, _w, self.bias), m)
                n += 1
            elif isinstance(m, BinaryEmbedding):
                wb = binarize_weight(m.weight).detach()
                m.forward = types.MethodType(lambda self, ids, _w=wb: F.embedding(ids, _w, self.padding_idx), m)
                n += 1
    return n


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _load_bundle(path: str, key: str, name: str) -> ModelBundle:
    p = Path(path)
    model = checkpoint.load(p)
    freeze_binarized(model)                     # inference only: the app never trains the model
    tok = checkpoint.load_tokenizer(p)
    card = checkpoint.load_card(p)
    task = None
    if card.get("task"):
        try:
            task = get_task(card["task"])
        except DataError:
            task = None
    if task is not None and task.num_labels != model.cfg.n_classes:
        task = None
    names = list(task.label_names) if task is not None else [f"class {k}" for k in range(model.cfg.n_classes)]
    print(f"ExitLens: loaded model {name} from {p} (weights {key})", file=sys.stderr, flush=True)   # server log
    return ModelBundle(name, p, key, model, tok, model.cfg, card, task, names)


def load_bundle(path: str | Path) -> ModelBundle:
    """The model in ``path`` (cached per directory and weights digest); CheckpointError if unusable."""
    p = Path(path).expanduser()
    checkpoint.read_config(p)                   # a clear CheckpointError for a wrong directory, fast
    if not (p / "model.safetensors").is_file():
        raise CheckpointError(f"cannot load the model in {p}: model.safetensors is missing. "
                              "Copy the weights file back, or re-train")
    return _load_bundle(str(p.resolve()), model_key(p), p.name)


@st.cache_resource(max_entries=4, show_spinner=False)
def latent_model(path: str, key: str):
    """The model with its latent (pre-binarization) weights from train_state/, or None (see derive)."""
    from app.derive import load_latent_state
    from core.model import MultiExitEncoder
    state = load_latent_state(path)
    if state is None:
        return None
    m = MultiExitEncoder(checkpoint.read_config(path))
    try:
        m.load_state_dict(state)
    except (RuntimeError, KeyError):
        return None
    return m.eval()


def stored_dtype_bytes(path: str | Path) -> int:
    """Bytes per value of the non-binarized tensors as model.safetensors stores them (its "dtype" tag;
    core.checkpoint.save writes float32 or float16), for core.weights.size_report(dtype_bytes=…)."""
    from safetensors import safe_open
    try:
        with safe_open(str(Path(path) / "model.safetensors"), framework="numpy") as f:
            dtype = (f.metadata() or {}).get("dtype", "float32")
    except Exception:
        return 4
    return 2 if dtype == "float16" else 4


@st.cache_data(max_entries=8, show_spinner=False)
def weight_stats(_bundle: ModelBundle, model_id: str, latent: bool = False):
    """core.weights.layer_stats of the stored model, or of its latent weights (None when absent)."""
    from core.weights import layer_stats
    if not latent:
        return layer_stats(_bundle.model)
    m = latent_model(str(_bundle.path), model_id)
    return None if m is None else layer_stats(m)


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# The selection every page reads

@dataclass
class DataChoice:
    source: str                  # "glue" | "probes" | "upload"
    task: str | None = None      # GLUE task (for "glue" and "upload")
    split: str = "validation"
    limit: int | None = None
    upload_name: str | None = None
    upload_bytes: bytes | None = None

    @property
    def label(self) -> str:
        if self.source == "glue":
            return f"{self.task} {self.split}" + (f" (≤ {self.limit:,} samples)" if self.limit else "")
        if self.source == "probes":
            return "probe sentences (assets/probes.tsv)"
        return f"uploaded {self.upload_name}"

    @property
    def digest(self) -> str:
        if self.source == "upload":
            return hashlib.sha256(self.upload_bytes or b"").hexdigest()[:12]
        return ""


@dataclass
class Selection:
    bundle: ModelBundle
    data: DataChoice
    policy_name: str
    threshold: float | None
    lam: float = 1.0
    direction: str = "below"
    reference: str = "previous"
    earliest: int = 1            # 1-based earliest exit block
    models: list[str] = field(default_factory=list)

    @property
    def params(self) -> dict:
        return policy_params(self.policy_name, self.threshold, self.lam, self.direction, self.reference,
                             self.earliest)

    def policy(self) -> Policy:
        return make_policy(self.policy_name, **self.params)


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
    st.error(msg + (f"\n\n{hint}" if hint else ""), icon=":material/error:")
    st.stop()


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Traces

def _meta(bundle: ModelBundle, task_info: Task | None, **extra) -> dict:
    names = list(task_info.label_names) if task_info is not None else bundle.label_names
    return {"model": bundle.name, "model_key": bundle.key, "label_names": names,
            "metric": task_info.metric if task_info is not None else "accuracy", **extra}


@st.cache_data(max_entries=256, show_spinner=False)
def sentence_trace(_bundle: ModelBundle, model_id: str, text: str, text_b: str | None = None,
                   label: int | None = None) -> Trace:
    """The full per-block Trace of one sentence (or pair): core.inference.record on a batch of one."""
    from core.inference import record
    with torch.inference_mode():                # the same numbers as no_grad, a little less bookkeeping
        return record(_bundle.model, _bundle.tokenizer, [text], None if text_b is None else [text_b],
                      None if label is None else [label], batch_size=1, max_len=_bundle.max_len,
                      meta=_meta(_bundle, _bundle.task))


def token_count(bundle: ModelBundle, text: str, text_b: str | None = None) -> int:
    """Tokens in the text before truncation (special tokens included)."""
    n = len(bundle.tokenizer.encode(text, add_special_tokens=False).ids)
    if text_b is not None:
        n += len(bundle.tokenizer.encode(text_b, add_special_tokens=False).ids)
    return n + bundle.tokenizer.num_special_tokens_to_add(text_b is not None)


@st.cache_data(max_entries=12, show_spinner=False)
def _glue_trace(model_path: str, model_id: str, task: str, split: str, limit: int | None) -> Trace:
    return trace_for(model_path, task, split, limit=limit, max_len=MAX_LEN)


@st.cache_data(max_entries=8, show_spinner=False)
def _recorded_trace(_bundle: ModelBundle, model_id: str, source: str, task: str | None, digest: str,
                    _data: tuple) -> Trace:
    from core.inference import record
    texts, texts_b, labels, meta = _data
    return record(_bundle.model, _bundle.tokenizer, texts, texts_b, labels, max_len=_bundle.max_len,
                  meta=_meta(_bundle, get_task(task) if task else None, **meta))


def trace_id(sel_or_bundle, data: DataChoice) -> str:
    """A stable name for a (model, data) trace: the key of every derived cache (sweeps, projections)."""
    b = sel_or_bundle.bundle if isinstance(sel_or_bundle, Selection) else sel_or_bundle
    return f"{b.name}-{b.key}-{data.source}-{data.task}-{data.split}-{data.limit or 'all'}-{data.digest}"


def dataset_trace(bundle: ModelBundle, data: DataChoice) -> Trace:
    """The Trace of the chosen data for ``bundle``: a GLUE split from core.cache (recorded once with a
    progress bar, then read from disk), the probe set or an upload (recorded, cached in memory).

    Shows a clear st.error and stops the run on bad data."""
    try:
        if data.source == "glue":
            if not trace_path(bundle.path, data.task, data.split, data.limit).is_file():
                with st.status(f"Recording {bundle.name} on {data.label}…", expanded=True) as status:
                    bar = st.progress(0.0, text="running every block on every sample")

                    def cb(done, total):
                        bar.progress(done / max(total, 1), text=f"{done:,} / {total:,} samples")

                    trace_for(bundle.path, data.task, data.split, limit=data.limit, callback=cb, max_len=MAX_LEN)
                    status.update(label=f"Recorded {bundle.name} on {data.label}", state="complete",
                                  expanded=False)
            return _glue_trace(str(bundle.path), bundle.key, data.task, data.split, data.limit)
        if data.source == "probes":
            from core.data import load_probes
            ds = load_probes()
            if bundle.n_classes != 2 or bundle.is_pair:
                raise DataError("the probe sentences are single sentences labelled negative / positive "
                                f"(SST-2 style), but {bundle.name} is a {bundle.n_classes}-class "
                                f"{'sentence-pair ' if bundle.is_pair else ''}model: pick a GLUE split instead")
            packed = (list(ds["text"]), None, list(ds["label"]), {"task": "probes", "split": "probes",
                                                                 "categories": list(ds["category"])})
            return _recorded_trace(bundle, bundle.key, "probes", "sst2", "", packed)
        if data.source == "upload":
            from core.data import load_csv_upload
            if data.upload_bytes is None:
                raise DataError("no file uploaded yet: upload a CSV with text and label columns in the sidebar")
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


def require_labels(trace: Trace, what: str) -> None:
    if not trace.has_labels:
        st.warning(f"{what} needs labels, and this data has none (GLUE test labels are hidden): "
                   "pick the validation split or a labelled upload in the sidebar.")
        st.stop()


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Derived results, cached per trace id

@st.cache_data(max_entries=16, show_spinner="Sweeping every policy…")
def sweep_all(_trace: Trace, tid: str, params_key: str, _params: dict, n: int):
    from core.analysis import sweep_all as _sweep_all
    return _sweep_all(_trace, n=n, include_oracle=_trace.has_labels, params=_params)


def projection_path(tid: str, block: int, method: str, n: int) -> Path:
    safe = hashlib.sha256(tid.encode()).hexdigest()[:20]
    return cache_dir() / "projections" / f"{safe}-b{block}-{method}-{n}.npz"


def umap_2d(x: np.ndarray, extra: np.ndarray | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """UMAP of the samples and the prototypes fitted together (so the stars sit in the same map)."""
    import warnings

    import umap
    from sklearn.neighbors import NearestNeighbors

    pts = np.asarray(x if extra is None else np.vstack([x, extra]), dtype=np.float32)
    if len(pts) < 5:                             # too few points for a neighbour graph: PCA says it all
        from app.derive import pca_2d
        return pca_2d(x, extra)
    n_neighbors = int(min(15, max(2, len(pts) - 1)))
    # The k-nearest-neighbour graph from scikit-learn (exact, ~0.2 s for 5,000 points) instead of
    # pynndescent's: that skips pynndescent's numba compilation, most of a first UMAP's ~30 s here.
    dist, idx = NearestNeighbors(n_neighbors=n_neighbors).fit(pts).kneighbors(pts)
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=0.1, random_state=seed,
                        init="spectral" if len(pts) > n_neighbors + 2 else "random", n_jobs=1,
                        n_epochs=200 if len(pts) > 2000 else None,      # UMAP's own choice for large sets
                        precomputed_knn=(idx, dist, None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "no search index: transform() unavailable" — not used
        emb = reducer.fit_transform(pts).astype(np.float32)
    return (emb, None) if extra is None else (emb[: len(x)], emb[len(x):])


def project(trace: Trace, tid: str, block: int, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """2-D coordinates of the samples (and prototypes) at ``block`` (0-based): in memory (st.cache_data)
    and on disk under core.cache.cache_dir()/projections, written atomically."""
    return _project_cached(trace, tid, block, method)


@st.cache_data(max_entries=64, show_spinner=False)
def _project_cached(_trace: Trace, tid: str, block: int, method: str):
    from app.derive import embeddings_at, pca_2d
    path = projection_path(tid, block, method, _trace.n)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return z["xy"], (z["proto"] if "proto" in z.files else None)
        except Exception:
            path.unlink(missing_ok=True)
    x, protos, _ = embeddings_at(_trace, block)
    xy, pxy = (pca_2d if method == "PCA" else umap_2d)(x, protos)
    arrays = {"xy": xy} if pxy is None else {"xy": xy, "proto": pxy}
    try:
        save_npz_atomic(path, **arrays)
    except OSError as e:            # the disk copy is only a cache: the map is drawn without it
        print(f"ExitLens: could not cache the projection at {path}: {e}", file=sys.stderr)
    return xy, pxy


def projection_cached(tid: str, block: int, method: str, n: int) -> bool:
    return projection_path(tid, block, method, n).is_file()


_UMAP_WARM: dict = {"thread": None}


def warm_umap() -> None:
    """Compile UMAP's numba code once per server process, in a background thread, while the Prototypes page
    shows PCA — so the user's first UMAP pays the fit only (the compilation is ~5–20 s here, more under load)."""
    import threading
    if _UMAP_WARM["thread"] is not None or not umap_enabled():
        return

    def run():
        try:
            umap_2d(np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32), None)
        except Exception:     # UMAP will report its own problem when it is really asked for
            pass

    _UMAP_WARM["thread"] = threading.Thread(target=run, name="exitlens-umap-warmup", daemon=True)
    _UMAP_WARM["thread"].start()


def umap_enabled() -> bool:
    """``EXITLENS_PROJECTION=pca`` turns UMAP off (tests, machines without numba)."""
    return os.environ.get("EXITLENS_PROJECTION", "").strip().lower() != "pca"

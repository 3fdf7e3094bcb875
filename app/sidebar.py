"""The sidebar every page shares: model, data, exit policy — three sections, mirrored in the URL.

On a session's first run the widgets start from ``st.query_params`` (sanitised by app.params, with a
st.warning for every value that had to be changed); afterwards the widgets rule and the URL follows them,
so a copied URL reproduces the view. The policy's widgets are built from the policy's own description
(threshold spec and extra parameters, core.policies.base). A page that wants to change the policy (a click
on the Pareto chart, "apply this threshold") calls :func:`request_policy`; it is applied here, before the
widgets are drawn.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import byo, model_refs, state, widgets
from app import params as P
from app.selection import DataChoice, Selection
from core.data import SPLITS, available_splits, get_task, task_names
from core.policies import POLICIES, Shape, ThresholdPolicy
from core.run import ModelBundle, PathNotAllowed, check_allowed, is_allowed

PENDING = "_pending_policy"
# the URL keys each page owns (page title → keys); a page's keys leave the URL when another page shows
PAGE_PARAMS = {"Playground": ("text", "text_b", "label"),
               "Threshold debugger": ("x", "cert_eps", "cert_conf", "cert_risk", "cert_method", "cert_cal"),
               "Prototypes & overthinking": ("block", "method", "color"), "Binarized weights": ("layer", "other"),
               "Compare": ("model_b", "ckpt_b"), "Learn": ("topic",)}


def request_policy(policy: str, threshold: float | None) -> None:
    """Ask the sidebar to switch to ``policy`` at ``threshold`` on the next run (then rerun the app)."""
    st.session_state[PENDING] = {"policy": policy, "threshold": threshold}
    st.rerun()


def thr_key(policy: str) -> str:
    return f"sb_thr_{policy}"


def render(page: str | None = None) -> Selection:
    """Draw the sidebar for ``page`` (its title) and return the selection every page reads."""
    warns: list[str] = []
    names = state.list_models()
    bundle, ckpt = model_section(names, warns)
    data = data_section(bundle, warns)
    policy = policy_section(bundle, warns)
    sel = Selection(bundle=bundle, data=data, policy=policy, models=names)
    for m in warns:
        st.sidebar.warning(m, icon=":material/link:")
    _write_url(sel, ckpt, page)
    state.set_current(sel)
    return sel


# ── model ───────────────────────────────────────────────────────────────────────────────────────────

def model_section(names: list[str], warns: list[str]) -> tuple[ModelBundle, str]:
    sb = st.sidebar
    default = state.default_model(names)
    sb.subheader("Model")
    what = widgets.choice(sb, "open", ["model", "trace"], "sb_open", "model", kind="radio", horizontal=True,
                          format_func={"model": "a model", "trace": "a recorded trace"}.get,
                          help="a trace: per-exit outputs recorded elsewhere (no model needed; core/trace/io.py)")
    if what == "trace":
        bundle = byo.trace_section(warns)
        if bundle is None:
            st.info("Open a recorded trace in the sidebar (upload or path), or switch back to a model.",
                    icon=":material/folder_open:")
            st.stop()
        sb.caption(f"{bundle.n_blocks} exits · {bundle.n_classes} classes · {bundle.trace.n:,} samples"
                   + (f" · {bundle.task.folder}" if bundle.task else ""))
        return bundle, ""
    if names:
        widgets.from_url("sb_model", P.QP_MODEL, lambda raw: P.parse_choice(raw, names, default, "model"), warns)
        widgets.choice(sb, "model", names, "sb_model", default, help=f"the models in {state.models_dir()}")
    else:
        sb.info(f"No models in {state.models_dir()} yet. Train one with `python -m core.train … --out "
                f"{state.models_dir()}/<name>` or type a checkpoint directory below.")
    widgets.from_url("sb_ckpt", P.QP_CKPT, model_refs.resolve_ref, warns)
    widgets.restore("sb_ckpt", "")
    sb.text_input("…or a checkpoint directory", key="sb_ckpt", placeholder="/path/to/model",
                  help="a directory with config.json, model.safetensors and tokenizer.json (core.model.checkpoint)")
    ckpt = widgets.remember("sb_ckpt").strip()
    bundle = None
    if ckpt and not is_allowed(ckpt):               # read nothing outside the operator's folders (core.run.allowed)
        try:
            check_allowed(ckpt, "checkpoint directory")
        except PathNotAllowed as e:
            sb.error(f"{e}", icon=":material/lock:")
        ckpt = ""
    if ckpt and _is_hf(ckpt):                       # a Hugging Face folder: offer the import, then load it
        imported = byo.import_panel(Path(ckpt).expanduser())
        if imported is not None:
            sb.caption(f"imported from the Hugging Face folder {ckpt} into {imported}")
        ckpt = str(imported) if imported is not None else ""
    if ckpt:
        try:
            bundle = state.load_bundle(ckpt)
        except state.USER_ERRORS as e:
            sb.error(f"{e}", icon=":material/warning:")
            if names:
                sb.caption(f"Using {st.session_state['sb_model']} instead.")
    if bundle is None:
        if not names:
            st.error("No model to show: put a model directory into "
                     f"{state.models_dir()} (or set EXITLENS_MODELS_DIR), or type a valid checkpoint directory "
                     "in the sidebar.", icon=":material/warning:")
            st.stop()
        try:
            bundle = state.load_bundle(state.models_dir() / st.session_state["sb_model"])
        except state.USER_ERRORS as e:
            state.fail(e, "Pick another model in the sidebar.")
    sb.caption(_model_caption(bundle))
    own = ckpt and bundle.path == Path(ckpt).expanduser().resolve()
    return bundle, ckpt if own else ""


def _is_hf(path: str) -> bool:
    from core.hf import is_hf_model_dir
    try:
        return is_hf_model_dir(Path(path).expanduser())
    except (OSError, ValueError):
        return False


def _model_caption(b: ModelBundle) -> str:
    c = b.cfg
    binarize = getattr(c, "binarize", ())
    kind = "binarized " + "+".join(binarize) if binarize else "full precision"
    task = b.task.folder if b.task is not None else "unknown task"
    block = str(getattr(c, "block", getattr(c, "model_type", ""))).upper()
    return (f"{c.n_blocks} blocks × {c.hidden} wide ({block}), {kind}, "
            f"{b.model.n_params():,} parameters · {task}, {c.n_classes} classes")


# ── data ────────────────────────────────────────────────────────────────────────────────────────────

def data_section(bundle: ModelBundle, warns: list[str]) -> DataChoice:
    sb = st.sidebar
    sb.subheader("Data")
    if bundle.trace is not None:
        sb.caption(f"the trace's own {bundle.trace.n:,} samples")
        return DataChoice(source="trace", task=bundle.task.name if bundle.task else None, split="trace",
                          trace=bundle.trace)
    tasks = [t for t in task_names() if get_task(t).num_labels == bundle.n_classes]
    own = bundle.task.name if bundle.task is not None else (tasks[0] if tasks else "sst2")
    tasks = sorted(tasks, key=lambda t: t != own)
    widgets.from_url("sb_data", P.QP_DATA, lambda raw: P.parse_choice(raw, list(P.DATA_SOURCES), "glue",
                                                                      "data source"), warns)
    source = widgets.choice(sb, "data", list(P.DATA_SOURCES), "sb_data", "glue", kind="radio",
                            format_func=P.DATA_SOURCES.get, horizontal=True,
                            help="what the dataset pages (thresholds, prototypes, compare) analyse")
    data = DataChoice(source=source)
    if source in ("glue", "upload"):
        data.task = task_choice(bundle, tasks, own, warns)
    if source == "glue":
        splits = available_splits(data.task) or list(SPLITS)
        dflt = "validation" if "validation" in splits else splits[0]
        widgets.from_url("sb_split", P.QP_SPLIT, lambda raw: P.parse_choice(raw, splits, dflt, "split"), warns)
        widgets.from_url("sb_limit", P.QP_LIMIT, lambda raw: P.parse_int(raw, 0, P.MAX_LIMIT, P.DEFAULT_LIMIT,
                                                                         "limit"), warns)
        c1, c2 = sb.columns(2)
        data.split = widgets.choice(c1, "split", splits, "sb_split", dflt)
        data.limit = int(widgets.number(c2, "limit (0 = all)", "sb_limit", P.DEFAULT_LIMIT, min_value=0,
                                        max_value=P.MAX_LIMIT, step=100,
                                        help="the first N samples of the split")) or None
        if data.split == "test":
            sb.caption("⚠ GLUE test labels are hidden: accuracy, tuning and the cohorts that need labels cannot "
                       "be computed on it; exit histograms and agreement with the final exit still work.")
    elif source == "probes":
        data.task, data.split = "sst2", "probes"
        if bundle.n_classes != 2 or bundle.is_pair:
            sb.caption("⚠ the probe sentences are SST-2-style single sentences")
    else:
        up = sb.file_uploader("labelled CSV (text, label[, text_b])", type=["csv", "tsv"], key="sb_upload")
        if up is not None:
            data.upload_name, data.upload_bytes = up.name, up.getvalue()
        else:
            sb.caption("Upload a CSV with a header: text, label (and text_b for a pair task).")
        data.split = "upload"
    return data


def task_choice(bundle: ModelBundle, tasks: list[str], own: str, warns: list[str]) -> str:
    """The task follows the model; another task with the same labels only when chosen on purpose."""
    sb = st.sidebar
    if bundle.task is None:
        widgets.from_url("sb_task", P.QP_TASK, lambda raw: P.parse_choice(raw, tasks, own, "task"), warns)
        return widgets.choice(sb, "task", tasks, "sb_task", own, format_func=lambda t: get_task(t).folder)
    same = [t for t in tasks if list(get_task(t).label_names) == list(bundle.task.label_names)
            and get_task(t).is_pair == bundle.task.is_pair]
    other = [t for t in same if t != own]
    widgets.from_url("sb_task", P.QP_TASK, lambda raw: _task_from_url(raw, same, own), warns)
    pick = widgets.restore("sb_task", own, lambda v: v in same)
    if not other:
        sb.caption(f"task: **{bundle.task.folder}** (the model's own)")
        widgets.set_value("sb_task", own)
        return own
    if pick == own:
        if sb.toggle("analyse on another task with the same labels", key="sb_other_task"):
            return widgets.choice(sb, "task", other, "sb_task", other[0], format_func=lambda t: get_task(t).folder)
        sb.caption(f"task: **{bundle.task.folder}** (the model's own)")
        return own
    pick = widgets.choice(sb, "task", same, "sb_task", own, format_func=lambda t: get_task(t).folder
                          + (" (the model's task)" if t == own else ""))
    if pick != own:
        sb.warning(f"{bundle.name} was trained on {bundle.task.folder}: its numbers on {get_task(pick).folder} "
                   "measure transfer, not the model on its own task.", icon=":material/warning:")
    return pick


def _task_from_url(raw, same: list[str], own: str):
    value, warn = P.parse_choice(raw, same, own, "task")
    if warn:
        warn += " A model is only scored on a task with its own labels."
    return value, warn


# ── exit policy ─────────────────────────────────────────────────────────────────────────────────────

def policy_section(bundle: ModelBundle, warns: list[str]):
    sb, ss = st.sidebar, st.session_state
    sb.subheader("Exit policy")
    policies = P.supported_policies(bundle.has_prototypes, bundle.has_lte)
    shape = Shape(bundle.n_blocks, bundle.n_classes)
    if "_sb_policy_url" not in ss:            # the session's first run: everything from the URL, once
        ss["_sb_policy_url"] = True
        vals, ws = P.parse_policy(st.query_params, policies, "entropy", shape)
        warns += ws
        widgets.set_value("sb_policy", vals["policy"])
        if "threshold" in vals:
            widgets.set_value(thr_key(vals["policy"]), vals["threshold"])
        for p in POLICIES[vals["policy"]].extra:
            widgets.set_value(f"sb_{p.name}", vals[p.name])
        widgets.set_value("sb_earliest", vals["earliest"])
    pending = ss.pop(PENDING, None)
    if pending and pending.get("policy") in policies:
        widgets.set_value("sb_policy", pending["policy"])
        if pending.get("threshold") is not None:
            widgets.set_value(thr_key(pending["policy"]), float(pending["threshold"]))
    name = widgets.choice(sb, "policy", policies, "sb_policy", "entropy" if "entropy" in policies else policies[0],
                          format_func=lambda n: POLICIES[n].title, help="every exit rule this model can run")
    cls = POLICIES[name]
    threshold = None
    if issubclass(cls, ThresholdPolicy):
        threshold = widgets.threshold(sb, cls.threshold_spec(shape), thr_key(name), help=cls.formula)
    else:
        sb.caption(cls.formula)
    extra = {p.name: param_widget(sb, p) for p in cls.extra}
    earliest = 1
    if bundle.n_blocks > 1:
        widgets.restore("sb_earliest", 1, lambda v: isinstance(v, int) and 1 <= v <= bundle.n_blocks)
        sb.slider("earliest exit block", 1, bundle.n_blocks, key="sb_earliest", help="no exit before this block")
        earliest = int(widgets.remember("sb_earliest"))
    try:
        return P.build_policy(name, threshold, earliest, extra)
    except ValueError as e:
        state.fail(e, "Change the policy settings in the sidebar.")


def param_widget(container, p):
    key = f"sb_{p.name}"
    if p.kind == "choice":
        return widgets.choice(container, p.label, p.options, key, p.default, kind="radio", horizontal=True,
                              help=p.help)
    widgets.restore(key, p.default, lambda v: isinstance(v, (int, float)) and p.lo <= v <= p.hi)
    container.slider(p.label, float(p.lo), float(p.hi), step=p.step, key=key, help=p.help)
    return float(widgets.remember(key))


# ── the URL ─────────────────────────────────────────────────────────────────────────────────────────

def _write_url(sel: Selection, ckpt: str, page: str | None) -> None:
    qp = st.query_params
    if page is not None:
        for other, keys in PAGE_PARAMS.items():
            if other != page:
                for k in keys:
                    if k in qp:
                        del qp[k]
    glue = sel.data.source == "glue"
    trace = sel.bundle.trace is not None
    wanted = {P.QP_MODEL: None if ckpt or trace else st.session_state.get("sb_model"),
              P.QP_CKPT: model_refs.url_ref(ckpt) if ckpt else None,
              P.QP_DATA: sel.data.source, P.QP_TASK: sel.data.task,
              P.QP_SPLIT: sel.data.split if glue else None, P.QP_LIMIT: (sel.data.limit or 0) if glue else None,
              **P.policy_url(sel.policy, P.extra_keys())}
    write_params(wanted)


def write_params(values: dict) -> None:
    """Mirror values into the URL (None removes the key)."""
    qp = st.query_params
    for k, v in values.items():
        if v is None and k in qp:
            del qp[k]
    upd = P.changed(qp.to_dict(), values)
    if upd:
        qp.update(upd)


def page_param(key: str, qp_name: str, parse, default) -> None:
    """Start a page widget (``key``) from the URL's ``qp_name`` once per session, else from its remembered
    value or ``default``; a URL warning is shown on the page."""
    warns: list[str] = []
    widgets.from_url(key, qp_name, parse, warns)
    for w in warns:
        st.warning(w, icon=":material/link:")
    widgets.restore(key, default)

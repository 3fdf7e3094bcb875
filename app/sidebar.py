"""The sidebar every page shares: model, data, exit policy and its threshold — mirrored in the URL.

On a session's first run the widgets start from ``st.query_params`` (sanitised by app.params, with a
st.warning for every value that had to be changed); afterwards the widgets rule and the URL follows them,
so a copied URL reproduces the view. A page that wants to change the policy (a click on the Pareto chart,
"apply this threshold") calls :func:`request_policy` — it is applied here, before the widgets are drawn.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import params as P
from app import state
from core.data import SPLITS, available_splits, get_task, task_names
from core.policies import POLICIES

PENDING = "_pending_policy"
# the URL keys each page owns (page title → keys); a page's keys leave the URL when another page shows
PAGE_PARAMS = {"Playground": ("text", "text_b", "label"), "Threshold debugger": ("x",),
               "Prototypes & overthinking": ("block", "method", "color"), "Binarized weights": ("layer", "other"),
               "Compare": ("model_b", "ckpt_b"), "Learn": ("topic",)}


def request_policy(policy: str, threshold: float | None) -> None:
    """Ask the sidebar to switch to ``policy`` at ``threshold`` on the next run (then rerun the app)."""
    st.session_state[PENDING] = {"policy": policy, "threshold": threshold}
    st.rerun()


def _init(key: str, value) -> None:
    """Give a widget its starting value through session state (never also through ``value=``)."""
    if key not in st.session_state:
        st.session_state[key] = value


def _keep_in(key: str, options: list, default) -> None:
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def _warn(msgs: list[str]) -> None:
    for m in msgs:
        st.sidebar.warning(m, icon=":material/link:")


def render(page: str | None = None) -> state.Selection:
    """Draw the sidebar for ``page`` (its title) and return the selection every page reads."""
    ss = st.session_state
    qp = st.query_params
    first = "_sb_loaded" not in ss
    ss["_sb_loaded"] = True
    warns: list[str] = []
    names = state.list_models()
    default = state.default_model(names)

    # ── model ───────────────────────────────────────────────────────────────────────────────────────
    if first:
        if names:
            m, w = P.parse_choice(qp.get(P.QP_MODEL), names, default, "model")
            ss["sb_model"] = m
            warns += [w] if w else []
        ss["sb_ckpt"] = P.first(qp.get(P.QP_CKPT)) or ""
    sb = st.sidebar
    sb.subheader("Model")
    if names:
        _keep_in("sb_model", names, default)
        sb.selectbox("model", names, key="sb_model", help=f"the models in {state.models_dir()}")
    else:
        sb.info(f"No models in {state.models_dir()} yet. Train one with `python -m core.train … --out "
                f"{state.models_dir()}/<name>` or type a checkpoint directory below.")
    sb.text_input("…or a checkpoint directory", key="sb_ckpt", placeholder="/path/to/model",
                  help="a directory with config.json, model.safetensors and tokenizer.json (core.checkpoint)")
    bundle = None
    ckpt = ss["sb_ckpt"].strip()
    if ckpt:
        try:
            bundle = state.load_bundle(ckpt)
        except state.USER_ERRORS as e:
            sb.error(f"{e}", icon=":material/error:")
            if names:
                sb.caption(f"Using {ss['sb_model']} instead.")
    if bundle is None:
        if not names:
            st.error("No model to show: put a model directory into "
                     f"{state.models_dir()} (or set EXITLENS_MODELS_DIR), or type a valid checkpoint directory "
                     "in the sidebar.", icon=":material/error:")
            st.stop()
        try:
            bundle = state.load_bundle(state.models_dir() / ss["sb_model"])
        except state.USER_ERRORS as e:
            state.fail(e, "Pick another model in the sidebar.")
    sb.caption(_model_caption(bundle))

    # ── data ────────────────────────────────────────────────────────────────────────────────────────
    sb.subheader("Data")
    tasks = [t for t in task_names() if get_task(t).num_labels == bundle.n_classes]
    own = bundle.task.name if bundle.task is not None else (tasks[0] if tasks else "sst2")
    tasks = sorted(tasks, key=lambda t: t != own)
    if first:
        for key, qk, opts, dflt, what in (("sb_data", P.QP_DATA, list(P.DATA_SOURCES), "glue", "data source"),
                                          ("sb_task", P.QP_TASK, tasks, own, "task")):
            v, w = P.parse_choice(qp.get(qk), opts, dflt, what)
            ss[key] = v
            warns += [w] if w else []
        lim, w = P.parse_int(qp.get(P.QP_LIMIT), 0, P.MAX_LIMIT, 1000, "limit")
        ss["sb_limit"] = lim
        warns += [w] if w else []
    _keep_in("sb_data", list(P.DATA_SOURCES), "glue")
    sb.radio("data", list(P.DATA_SOURCES), key="sb_data", format_func=P.DATA_SOURCES.get, horizontal=True,
             help="what the dataset pages (thresholds, prototypes, compare) analyse")
    source = ss["sb_data"]
    data = state.DataChoice(source=source)
    if source in ("glue", "upload"):
        _keep_in("sb_task", tasks, own)
        sb.selectbox("task", tasks, key="sb_task", format_func=lambda t: f"{get_task(t).folder}"
                     + (" (the model's task)" if t == own else ""))
        data.task = ss["sb_task"]
        if data.task != own and bundle.task is not None:
            sb.caption(f"⚠ {bundle.name} was trained on {bundle.task.folder}.")
    if source == "glue":
        splits = available_splits(data.task) or list(SPLITS)
        dflt = "validation" if "validation" in splits else splits[0]
        if first:
            v, w = P.parse_choice(qp.get(P.QP_SPLIT), splits, dflt, "split")
            ss["sb_split"] = v
            warns += [w] if w else []
        _keep_in("sb_split", splits, dflt)
        c1, c2 = sb.columns(2)
        c1.selectbox("split", splits, key="sb_split")
        c2.number_input("limit (0 = all)", min_value=0, max_value=P.MAX_LIMIT, step=100, key="sb_limit",
                        help="the first N samples of the split")
        data.split = ss["sb_split"]
        data.limit = int(ss["sb_limit"]) or None
        if data.split == "test":
            sb.caption("⚠ GLUE test labels are hidden: metrics need the validation split.")
    elif source == "probes":
        data.task, data.split = "sst2", "probes"
        if bundle.n_classes != 2 or bundle.is_pair:
            sb.caption("⚠ the probe sentences are SST-2-style single sentences")
    else:
        up = sb.file_uploader("labelled CSV (text, label[, text_b])", type=["csv", "tsv"], key="sb_upload")
        if up is not None:
            data.upload_name, data.upload_bytes = up.name, up.getvalue()
        data.split = "upload"

    # ── exit policy ─────────────────────────────────────────────────────────────────────────────────
    sb.subheader("Exit policy")
    policies = P.supported_policies(bool(bundle.cfg.proto_dim), bool(bundle.cfg.lte))
    L, K = bundle.n_blocks, bundle.n_classes
    if first:
        vals, ws = P.parse_policy(qp, policies, "entropy", L, K)
        warns += ws
        ss["sb_policy"] = vals["policy"]
        if "threshold" in vals:
            ss[f"sb_thr_{vals['policy']}"] = vals["threshold"]
        ss["sb_lam"], ss["sb_direction"], ss["sb_reference"] = vals["lam"], vals["direction"], vals["reference"]
        ss["sb_earliest"] = vals["earliest"]
    pending = ss.pop(PENDING, None)
    if pending and pending.get("policy") in policies:
        ss["sb_policy"] = pending["policy"]
        if pending.get("threshold") is not None:
            ss[f"sb_thr_{pending['policy']}"] = float(pending["threshold"])
    _keep_in("sb_policy", policies, "entropy" if "entropy" in policies else policies[0])
    sb.selectbox("policy", policies, key="sb_policy", format_func=lambda n: POLICIES[n].title,
                 help="every exit rule in core.policies this model can run")
    policy = ss["sb_policy"]
    spec = P.slider_spec(policy, L, K)
    threshold = None
    if spec is not None:
        key = f"sb_thr_{policy}"
        _init(key, spec.default)
        ss[key] = spec.clamp(ss[key])
        if spec.integer:
            ss[key] = int(ss[key])
            sb.slider(spec.label, int(spec.lo), int(spec.hi), step=1, key=key,
                      help=POLICIES[policy].__doc__.split("\n")[0])
        else:
            sb.slider(spec.label, spec.lo, spec.hi, step=spec.step, key=key, format=spec.fmt,
                      help=POLICIES[policy].__doc__.split("\n")[0])
        threshold = float(ss[key])
    else:
        sb.caption("The oracle exits at the first block whose prediction is right (an upper bound; needs labels).")
    _init("sb_lam", 1.0)
    _init("sb_direction", "below")
    _init("sb_reference", "previous")
    _init("sb_earliest", 1)
    ss["sb_earliest"] = int(min(max(int(ss["sb_earliest"]), 1), L))
    if policy == "edr":
        sb.slider("λ (weight of DR against the entropy)", 0.0, P.MAX_LAMBDA, step=0.1, key="sb_lam",
                  help="DE³-BERT: EDR = (λ+1)/(λ/DR + 1/H̃); λ = 0 is the normalized entropy alone")
    if policy == "frac_reduction":
        c1, c2 = sb.columns(2)
        c1.radio("exit when ΔH is", ["below", "above"], key="sb_direction",
                 help="below: the block stopped sharpening (diminishing returns); above: it sharpened by ≥ δ")
        c2.radio("reference", ["previous", "first"], key="sb_reference",
                 help="ΔH against the previous block's entropy, or against block 1's (cumulative)")
    if L > 1:
        sb.slider("earliest exit block", 1, L, key="sb_earliest", help="no exit before this block (min_block)")

    sel = state.Selection(bundle=bundle, data=data, policy_name=policy, threshold=threshold,
                          lam=float(ss["sb_lam"]), direction=ss["sb_direction"], reference=ss["sb_reference"],
                          earliest=int(ss["sb_earliest"]), models=names)
    _warn(warns)
    _write_url(sel, ckpt if ckpt and bundle.path == Path(ckpt).expanduser().resolve() else "", page)
    state.set_current(sel)
    return sel


def _model_caption(b: state.ModelBundle) -> str:
    c = b.cfg
    kind = "binarized " + "+".join(c.binarize) if c.binarize else "full precision"
    task = b.task.folder if b.task is not None else "unknown task"
    return (f"{c.n_blocks} blocks × {c.hidden} wide ({c.block.upper()}), {kind}, "
            f"{b.model.n_params():,} parameters · {task}, {c.n_classes} classes")


def _write_url(sel: state.Selection, ckpt: str, page: str | None) -> None:
    qp = st.query_params
    if page is not None:
        for other, keys in PAGE_PARAMS.items():
            if other != page:
                for k in keys:
                    if k in qp:
                        del qp[k]
    wanted = {P.QP_MODEL: None if ckpt else st.session_state.get("sb_model"), P.QP_CKPT: ckpt or None,
              P.QP_DATA: sel.data.source, P.QP_TASK: sel.data.task,
              P.QP_SPLIT: sel.data.split if sel.data.source == "glue" else None,
              P.QP_LIMIT: (sel.data.limit or 0) if sel.data.source == "glue" else None,
              P.QP_POLICY: sel.policy_name, P.QP_THRESHOLD: sel.threshold,
              P.QP_LAM: sel.lam if sel.policy_name == "edr" else None,
              P.QP_DIRECTION: sel.direction if sel.policy_name == "frac_reduction" else None,
              P.QP_REFERENCE: sel.reference if sel.policy_name == "frac_reduction" else None,
              P.QP_EARLIEST: sel.earliest if sel.earliest > 1 else None}
    for k, v in wanted.items():
        if v is None and k in qp:
            del qp[k]
    upd = P.changed(qp.to_dict(), wanted)
    if upd:
        qp.update(upd)


def page_param(key: str, qp_name: str, parse, default) -> None:
    """Start a page widget (``key``) from the URL's ``qp_name`` once per session: ``parse(raw) → (value,
    warning)``; a warning is shown on the page."""
    ss = st.session_state
    flag = f"_qp_{key}"
    if key in ss:
        return
    raw = st.query_params.get(qp_name) if flag not in ss else None
    ss[flag] = True
    value, warn = parse(raw) if raw is not None else (default, None)
    if warn:
        st.warning(warn, icon=":material/link:")
    ss[key] = value


def write_params(values: dict) -> None:
    """Mirror page-specific values into the URL (None removes the key)."""
    qp = st.query_params
    for k, v in values.items():
        if v is None and k in qp:
            del qp[k]
    upd = P.changed(qp.to_dict(), values)
    if upd:
        qp.update(upd)

"""Bad input through the app (streamlit.testing AppTest): every case ends in a message that says what is
wrong and what to do — st.error / st.warning / st.info, or the truncation caption — and never in a
traceback on the page.

* Playground text: blank, 100,000 characters, control / zero-width / right-to-left / emoji / CJK text,
  HTML and <script> (shown as text, never as HTML), a pair model with one sentence missing;
* the sidebar's checkpoint directory: missing, truncated or empty weights, a Hugging Face directory,
  foreign weights, a pickled file, no tokenizer, a corrupt config — each made in tmp_path from a copy of a
  fixture model and then damaged;
* uploaded CSVs, through the sidebar's own file_uploader (AppTest can upload: no need to call
  core.data.load_csv_upload behind the page's back);
* query parameters: NaN / infinite / negative / huge thresholds, unknown policy, task, model, split,
  data source and label, and each page's own keys;
* the caches the app writes (recorded traces, UMAP/PCA projections): a writer that fails half-way leaves
  no partial file behind.

The app bugs these tests found (invisible-only text, a 0-byte upload, a one-row upload, a projection cache
that cannot be written) are fixed; their tests now guard the fixes.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.model import checkpoint
from tests.conftest import core_run, metric_value, submit_sentence

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app" / "streamlit_app.py")
MODEL = "tiny-sst2"                      # the fixture models' default (EXITLENS_MODEL in conftest.app_env)
RUN_HINT = "press **Run**"               # what the Playground's "type a sentence" message tells the user to do


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Helpers

def _open(page: str | None = None, **query) -> AppTest:
    """The app with these query parameters (set before the first run, as a URL would), run once."""
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = str(v)
    if page is not None:
        at.switch_page(f"views/{page}.py")
    return at.run(timeout=60)


def _upload(page: str, name: str, data: bytes, **query) -> AppTest:
    at = _open(page, data="upload", **query)
    at.sidebar.file_uploader(key="sb_upload").upload(name, data, "text/csv")
    return at.run(timeout=60)


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def _no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _core_exit(models: Path, text: str, policy: str = "entropy", text_b: str | None = None, name: str = MODEL,
               **params) -> tuple[str, str]:
    """(exit block as the page writes it, predicted class name) from core on the same model and text."""
    ex, tr = core_run(models, name, text, policy, text_b, **params)
    return f"{int(ex.exit_block[0]) + 1} of {tr.n_blocks}", tr.label_names[int(ex.pred[0])]


def _damaged_copy(models: Path, tmp_path: Path, how: str) -> Path:
    """A copy of the fixture model, damaged in one way (or a directory that is not there)."""
    d = tmp_path / f"ckpt-{how}"
    if how == "missing":
        return d
    if how == "hf-config":                      # what a Hugging Face download looks like
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"],
                                                   "model_type": "bert", "hidden_size": 384,
                                                   "num_hidden_layers": 6, "vocab_size": 30522}))
        from safetensors.numpy import save_file
        save_file({"bert.embeddings.word_embeddings.weight": np.zeros((8, 4), np.float32)},
                  str(d / "model.safetensors"))
        return d
    shutil.copytree(models / MODEL, d, ignore=shutil.ignore_patterns("train_state"))
    w = d / "model.safetensors"
    if how == "truncated":
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    elif how == "empty-weights":
        w.write_bytes(b"")
    elif how == "foreign-weights":              # valid safetensors, not written by ExitLens
        from safetensors.numpy import save_file
        save_file({"bert.embeddings.word_embeddings.weight": np.zeros((8, 4), np.float32)}, str(w))
    elif how == "pickled":
        (d / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")      # a pickle: never opened
    elif how == "no-tokenizer":
        (d / "tokenizer.json").unlink()
    elif how == "corrupt-config":
        (d / "config.json").write_text('{"n_blocks": 4,')
    else:
        raise ValueError(how)
    return d


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Playground: the sentence

@pytest.mark.parametrize("text", ["", "   \n\t  ", "\u3000\u00a0 \u2003"],
                         ids=["empty", "whitespace", "unicode-spaces"])
def test_blank_text_asks_for_a_sentence(app_env, text):
    at = submit_sentence(_open(), text)
    _no_traceback(at)
    infos = _texts(at.info)
    assert any("Type a sentence" in m and RUN_HINT in m for m in infos), infos
    assert not at.metric and not at.error


@pytest.mark.parametrize("text", ["\u200b\u200c\u200d\ufeff", "\x00\x01\x02\x7f", "\u202e\u2066"],
                         ids=["zero-width-only", "control-only", "bidi-controls-only"])
def test_invisible_only_text_asks_for_a_sentence(app_env, text):
    at = submit_sentence(_open(), text)
    _no_traceback(at)
    assert any(RUN_HINT in m for m in _texts(at.info)), _texts(at.info)
    assert not at.metric


def test_100k_characters_are_truncated_with_a_caption(app_env):
    text = ("an oddly long and winding review of a film that keeps going " * 2000)[:100_000]
    assert len(text) == 100_000
    at = submit_sentence(_open(), text)
    _no_traceback(at)
    assert not at.error
    caps = [c for c in _texts(at.caption) if "truncated" in c]
    assert caps, _texts(at.caption)
    max_len = min(128, checkpoint.read_config(app_env / MODEL).max_len)        # app.state.MAX_LEN caps it
    assert "100,000 characters" in caps[0] and f"the model reads the first {max_len} tokens" in caps[0], caps[0]
    assert "The URL keeps the first 500 characters" in caps[0]
    assert at.query_params["text"] == text[:500]
    exit_block, pred = _core_exit(app_env, text, threshold=0.25)        # core truncates the same way
    assert metric_value(at, "exit block") == exit_block
    assert metric_value(at, "prediction").startswith(pred)
    shown = _texts(at.text)
    assert shown and shown[0].endswith(text[:300] + "…")                # the echo is cut, not the page


ODD_TEXTS = {
    "control-chars": "good\x00film\x01\x1b[31m red\x7f ending",
    "zero-width-mixed": "gr\u200beat\u200c mo\u200dvie\ufeff",
    "rtl-arabic": "هذا فيلم رائع جدا",
    "rtl-override": "\u202enoitseuq a si siht film",
    "hebrew-mixed": "סרט great מצוין",
    "emoji": "🎬🍿👍 loved it 😍",
    "cjk": "这部电影很好看",
    "combining-zalgo": "Z̷̢a̸l̴g̵o̶ movie",
}


@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_odd_characters_run_like_core_and_are_echoed_verbatim(app_env, name):
    text = ODD_TEXTS[name]
    at = submit_sentence(_open(), text)
    _no_traceback(at)
    assert not at.error
    from core.model import encode_one
    _, info = encode_one(checkpoint.load_tokenizer(app_env / MODEL), text, max_len=64)
    unknown = [w for w in _texts(at.warning) if "unknown to this model" in w]
    assert bool(unknown) == (info.n_text > 0 and info.unknown_share >= 0.5), (unknown, info.pieces)
    assert len(_texts(at.warning)) == len(unknown)                  # no other warning
    exit_block, pred = _core_exit(app_env, text, threshold=0.25)
    assert metric_value(at, "exit block") == exit_block
    assert metric_value(at, "prediction").startswith(pred)
    assert any(t.endswith(f": {text}") for t in _texts(at.text)), _texts(at.text)   # kept exactly as typed
    assert at.query_params["text"] == text                                          # and in the shared URL


def test_html_and_script_are_shown_as_text_never_as_html(app_env):
    payload = "<script>alert('x')</script><img src=x onerror=alert(1)> <b>bold</b> film"
    at = submit_sentence(_open(), payload)
    _no_traceback(at)
    assert not at.error
    # shown, as plain text (st.text is a <pre>, never parsed as markdown or HTML)
    assert any(payload in t for t in _texts(at.text)), _texts(at.text)
    # and never inside an element that renders HTML or markdown
    assert not [h.value for h in at.html if "<script" in h.value or "onerror" in h.value]
    risky = [m.value for m in list(at.markdown) + list(at.caption) if "<script" in m.value or "<img" in m.value]
    assert not risky, risky
    assert not [m for m in at.metric if "<script" in str(m.value) or "<script" in m.label]
    # HTML is only drawn where the app escaped the user's text first (the salience highlight): the payload's
    # characters appear there as entities, never as tags
    html_md = [m.value for m in list(at.markdown) + list(at.caption) if m.proto.allow_html]
    assert all("<script" not in h and "<img" not in h and "<b>" not in h for h in html_md), html_md


@pytest.mark.parametrize("a, b", [("The company said profits rose .", "  "), ("", "Profits went up ."),
                                  ("\t", "\n")], ids=["second-missing", "first-missing", "both-blank"])
def test_pair_model_with_a_sentence_missing_asks_for_both(app_env, a, b):
    at = _open(model="tiny-mrpc")
    _no_traceback(at)
    at = submit_sentence(at, a, b)
    _no_traceback(at)
    infos = _texts(at.info)
    assert any("sentence pair (both sentences)" in m and RUN_HINT in m for m in infos), infos
    assert not at.metric and not at.error


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Sidebar: a checkpoint directory typed by the user

BAD_CKPTS = {   # how it is damaged → words the sidebar's st.error must contain
    "missing": ["no such directory", "Pick a shipped model"],
    "truncated": ["model.safetensors is truncated or corrupt", "Copy the file again or re-train"],
    "empty-weights": ["model.safetensors is truncated or corrupt"],
    "foreign-weights": ["not written by ExitLens", "Import foreign weights"],
    "pickled": ["pickled files ['pytorch_model.bin']", "never loads", "Convert the weights to safetensors"],
    "no-tokenizer": ["tokenizer.json is missing"],
    "corrupt-config": ["config.json is not a valid ExitLens config", "Restore config.json"],
}


@pytest.mark.parametrize("how", sorted(BAD_CKPTS))
def test_bad_checkpoint_directory_says_what_is_wrong_and_keeps_the_listed_model(app_env, tmp_path, how):
    d = _damaged_copy(app_env, tmp_path, how)
    at = _open()
    at.sidebar.text_input(key="sb_ckpt").input(str(d)).run(timeout=60)
    _no_traceback(at)
    errs = _texts(at.sidebar.error)
    assert len(errs) == 1 and str(d) in errs[0], errs
    for words in BAD_CKPTS[how]:
        assert words in errs[0], (words, errs[0])
    assert f"Using {MODEL} instead." in _texts(at.sidebar.caption)
    assert metric_value(at, "exit block")                  # the page still works, with the listed model
    assert "ckpt" not in at.query_params and at.query_params["model"] == MODEL   # a bad path is not shared


def test_a_hugging_face_folder_with_weights_of_another_model_is_refused_at_import(app_env, tmp_path, monkeypatch):
    """A config.json from the Hugging Face hub next to weights that do not fit it: the import panel is offered
    (the config reads fine); pressing import says the weights do not fit, never starts a random model,
    and the listed model keeps the page working."""
    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "cache"))
    d = _damaged_copy(app_env, tmp_path, "hf-config")
    at = _open()
    at.sidebar.text_input(key="sb_ckpt").input(str(d)).run(timeout=60)
    _no_traceback(at)
    assert any("Hugging Face bert classifier" in m.value for m in at.sidebar.markdown)
    next(b for b in at.sidebar.button if b.label == "import").click().run(timeout=60)
    _no_traceback(at)
    errs = _texts(at.sidebar.error)
    assert len(errs) == 1 and f"cannot load {d}" in errs[0] and "config.json describes" in errs[0], errs
    assert not (tmp_path / "cache" / "imported").exists() or not any((tmp_path / "cache" / "imported").iterdir())
    assert metric_value(at, "exit block")
    assert at.query_params["model"] == MODEL


def test_bad_checkpoint_in_the_url_is_reported_and_dropped(app_env, tmp_path):
    from app.model_refs import url_ref
    d = _damaged_copy(app_env, tmp_path, "truncated")
    at = _open(ckpt=url_ref(d))                   # a link to a directory once opened on this server
    _no_traceback(at)
    assert any("truncated or corrupt" in e for e in _texts(at.sidebar.error))
    assert "ckpt" not in at.query_params
    assert metric_value(at, "exit block")
    at = _open(ckpt=str(d))                       # a server path in a link is never read
    _no_traceback(at)
    assert any("never a path on the server" in w for w in _texts(at.sidebar.warning))
    assert not _texts(at.sidebar.error) and "ckpt" not in at.query_params
    assert metric_value(at, "exit block")


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Uploaded CSVs (through the sidebar's file_uploader on the Threshold debugger)

BAD_CSVS = {    # name → (bytes, words the page's st.error must contain)
    "field-count": (b"text,label\nhello, world,1\n", ["line 2 has 3 fields", "quote text that contains a comma"]),
    "wrong-columns": (b"sentence_x,y\nhello,1\n", ["needs columns text, label", "missing text, label"]),
    "header-only": (b"text,label\n", ["has a header but no rows", "add one row per example"]),
    "blank-lines": (b"\n\n  \n", ["is empty", "upload a CSV with a header row"]),
    "latin-1": ("text,label\ncafé crème,1\n".encode("latin-1"), ["is not UTF-8", "re-save it as 'CSV UTF-8'"]),
    "binary": (bytes(range(256)) * 8, ["is not UTF-8"]),
    "bad-label": (b"text,label\ngood,maybe\nbad,0\n", ["has label 'maybe'", "not one of negative, positive"]),
    "label-out-of-range": (b"text,label\ngood,7\nbad,0\n", ["has label '7'", "0..1"]),
    "nan-label": (b"text,label\ngood,nan\nbad,0\n", ["has label 'nan'"]),
    "unterminated-quote": (b'text,label\n"never closed,1\nbad,0\n', ["fields but the header has 2"]),
    "tsv-named-csv": (b"text\tlabel\ngood\t1\n", ["needs columns text, label"]),
}


@pytest.mark.parametrize("name", sorted(BAD_CSVS))
def test_bad_csv_upload_shows_the_data_error(app_env, name):
    data, words = BAD_CSVS[name]
    at = _upload("thresholds", f"{name}.csv", data)
    _no_traceback(at)
    errs = _texts(at.error)
    assert len(errs) == 1, errs
    for w in words:
        assert w in errs[0], (w, errs[0])
    assert "Pick another split, task or file in the sidebar" in errs[0]
    assert not at.metric                                    # nothing half-computed on a bad file


def test_pair_task_upload_without_the_second_sentence(app_env):
    at = _upload("thresholds", "pairs.csv", b"text,label\nthe company said profits rose,1\n", model="tiny-mrpc")
    _no_traceback(at)
    errs = _texts(at.error)
    assert any("needs columns text, text_b, label" in e and "missing text_b" in e for e in errs), errs


def test_empty_upload_says_the_file_is_empty(app_env):
    at = _upload("thresholds", "empty.csv", b"")
    _no_traceback(at)
    errs = _texts(at.error)
    assert any("empty.csv is empty" in e for e in errs), errs


def test_single_row_upload_explains_that_tuning_needs_two_rows(app_env):
    at = _upload("thresholds", "one.csv", b"text,label\na wonderful film,1\n")
    _no_traceback(at)
    errs = _texts(at.error)
    assert not any("unknown labels" in e for e in errs), errs
    assert any("at least 2" in m for m in _texts(at.info) + _texts(at.warning) + errs)
    assert at.get("download_button"), "the sweep export is still offered"


def test_script_in_an_uploaded_row_is_shown_as_text(app_env):
    payload = "<script>alert(1)</script> <img src=x onerror=alert(2)>"
    rows = "".join(f"\"{payload} {i}\",{i % 2}\n" for i in range(6))
    at = _upload("prototypes", "xss.csv", f"text,label\n{rows}".encode())
    _no_traceback(at)
    assert not at.error
    pick = at.selectbox(key="pt_list")          # list a cohort that has rows: correct and wrong split them all
    pick.set_value("correct" if "cohort: correct (0)" not in pick.options else "wrong").run(timeout=60)
    _no_traceback(at)
    tables = [df.value for df in at.dataframe]
    cells = [str(v) for t in tables for v in t.to_numpy().ravel()]
    shown = cells + _texts(at.text)
    assert any(payload in s for s in shown), shown[:10]                   # there, as plain text / table cells
    assert not [m.value for m in list(at.markdown) + list(at.caption) if "<script" in m.value and m.proto.allow_html]
    assert not [h.value for h in at.html if "<script" in h.value]


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# Query parameters (a shared or hand-edited URL)

BAD_THRESHOLDS = {   # raw → (threshold used, words of the warning)
    "nan": (0.25, "is not a finite number: using 0.25"),
    "inf": (0.25, "is not a finite number"),
    "-inf": (0.25, "is not a finite number"),
    "-3": (0.0, "outside [0, 0.693147]: clamped to 0"),
    "1e6": (float(np.log(2)), "outside [0, 0.693147]: clamped to 0.693147"),
    "1e400": (0.25, "is not a finite number"),
    "0x1p-2": (0.25, "is not a number"),
    "abc": (0.25, "is not a number: using 0.25"),
}


@pytest.mark.parametrize("raw", list(BAD_THRESHOLDS))
def test_bad_threshold_in_the_url_is_fixed_with_a_warning(app_env, raw):
    used, words = BAD_THRESHOLDS[raw]
    at = _open(policy="entropy", threshold=raw)
    _no_traceback(at)
    warns = _texts(at.sidebar.warning)
    assert any(words in w and "in the URL" in w for w in warns), warns
    assert at.sidebar.slider(key="sb_thr_entropy").value == pytest.approx(used)
    assert float(at.query_params["threshold"]) == pytest.approx(used, abs=1e-6)   # the URL is repaired
    text = at.text_area(key="pg_text").value
    exit_block, _ = _core_exit(app_env, text, threshold=at.sidebar.slider(key="sb_thr_entropy").value)
    assert metric_value(at, "exit block") == exit_block                           # and the page uses it
    assert not at.error


BAD_NAMES = {   # query → (widget key, value used, words of the warning)
    "policy": ({"policy": "no-such-policy", "threshold": "0.5"}, "sb_policy", "entropy",
               "Unknown exit policy 'no-such-policy'"),
    "policy-html": ({"policy": "<script>alert(1)</script>"}, "sb_policy", "entropy", "Unknown exit policy"),
    "task": ({"task": "imdb"}, "sb_task", "sst2", "Unknown task 'imdb'"),
    "model": ({"model": "no-such-model"}, "sb_model", MODEL, "Unknown model 'no-such-model'"),
    "model-path": ({"model": "../../etc/passwd"}, "sb_model", MODEL, "Unknown model '../../etc/passwd'"),
    "split": ({"split": "dev_matched"}, "sb_split", "validation", "Unknown split 'dev_matched'"),
    "data": ({"data": "ftp"}, "sb_data", "glue", "Unknown data source 'ftp'"),
    "direction": ({"policy": "frac_reduction", "direction": "sideways"}, "sb_direction", "below",
                  "Unknown direction 'sideways'"),
    "limit": ({"limit": "-7"}, "sb_limit", 0, "clamped to 0"),
    "earliest": ({"earliest": "nan"}, "sb_earliest", 1, "not a finite number: using 1"),
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_unknown_names_in_the_url_fall_back_with_a_warning(app_env, case):
    query, key, want, words = BAD_NAMES[case]
    at = _open(**query)
    _no_traceback(at)
    warns = _texts(at.sidebar.warning)
    assert any(words in w for w in warns), warns
    if case == "task":       # the task follows the model: no task box for a model whose task has no twin
        assert at.session_state["_v_sb_task"] == want
    else:
        widget = next(w for kind in ("selectbox", "radio", "number_input", "slider")
                      for w in getattr(at.sidebar, kind) if w.key == key)
        assert widget.value == want
    assert metric_value(at, "exit block") and not at.error
    qk = next(iter(query)) if case != "direction" else "direction"
    if case not in ("earliest",):                          # earliest = 1 is the default, so it leaves the URL
        assert at.query_params[qk] == str(want)


def test_unknown_label_in_the_url_falls_back_to_unknown(app_env):
    at = _open(text="a fine film", label="maybe")
    _no_traceback(at)
    assert any("Unknown label 'maybe'" in w for w in _texts(at.warning)), _texts(at.warning)
    assert at.selectbox(key="pg_label").value == "unknown"
    assert "✓" not in metric_value(at, "prediction") and "✗" not in metric_value(at, "prediction")


PAGE_PARAMS = {   # page, query → words of the warning on that page
    "prototypes-block": ("prototypes", {"block": "999"}, "The block 999 in the URL is outside [1, 4]: clamped to 4"),
    "prototypes-block-nan": ("prototypes", {"block": "nan"}, "The block 'nan' in the URL is not a finite number"),
    "prototypes-method": ("prototypes", {"method": "tsne"}, "Unknown projection 'tsne'"),
    "prototypes-color": ("prototypes", {"color": "zzz"}, "Unknown colour 'zzz'"),
    "thresholds-x": ("thresholds", {"x": "latency"}, "Unknown x-axis 'latency'"),
    "learn-topic": ("learn", {"topic": "quantum"}, "Unknown topic 'quantum'"),
    "compare-model-b": ("compare", {"model_b": "nope"}, "Unknown model B 'nope'"),
    "weights-layer": ("weights", {"model": "tiny-sst2-bin", "layer": "blocks.9.nothing"},
                      "Unknown layer 'blocks.9.nothing'"),
    "weights-other": ("weights", {"model": "tiny-sst2-bin", "other": "nope"}, "Unknown second model 'nope'"),
}


@pytest.mark.parametrize("case", list(PAGE_PARAMS))
def test_bad_page_keys_in_the_url_fall_back_with_a_warning(app_env, case):
    page, query, words = PAGE_PARAMS[case]
    at = _open(page, limit=120, **query)
    _no_traceback(at)
    warns = _texts(at.warning)
    assert any(words in w for w in warns), warns
    assert not at.error
    assert at.metric                                       # the page drew its numbers with the fallback


# ──────────────────────────────────────────────────────────────────────────────────────────────────
# The files the app writes: the trace cache and the projection cache are written atomically

def _half_written(f, *args, **kwargs):
    """A writer that dies half-way: some bytes are in the file when the disk fills up."""
    f.write(b"PK\x03\x04 half of an npz")
    raise OSError(28, "No space left on device")


def _cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_trace_cache_write_failure_leaves_no_partial_file(app_env, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EXITLENS_CACHE", str(cache))
    monkeypatch.setattr(np, "savez_compressed", _half_written)      # core.trace.base.Trace.save's writer
    at = _open("thresholds", limit=41)                               # a fresh cache: the split is recorded
    _no_traceback(at)
    assert not at.error, _texts(at.error)                            # the disk copy is only a cache
    assert any(c.key for c in at.get("plotly_chart")), "the sweep is drawn without its cache"
    assert _cache_files(cache) == [], _cache_files(cache)            # no .npz, no .tmp-* left behind


def test_projection_cache_write_failure_leaves_no_partial_file(app_env, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EXITLENS_CACHE", str(cache))
    monkeypatch.setattr(np, "savez", _half_written)                  # app.state._save_atomic's writer
    at = _open("prototypes", limit=43)
    written = _cache_files(cache)
    assert not [f for f in written if f.startswith("projections/")], written   # nothing half-written
    assert [f for f in written if f.startswith("traces/")], written           # (the trace itself was saved)
    assert not any(Path(f).name.startswith(".tmp-") for f in written), written
    del at


def test_projection_cache_write_failure_keeps_the_page(app_env, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EXITLENS_CACHE", str(cache))
    monkeypatch.setattr(np, "savez", _half_written)
    at = _open("prototypes", limit=47)
    _no_traceback(at)
    assert not at.error
    assert any(c.key == "pt_scatter" for c in at.get("plotly_chart")), "the map is drawn without its cache"

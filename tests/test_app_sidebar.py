"""The shared sidebar through AppTest: URL state in and out, sanitising, bad checkpoints, data sources."""
import pytest

from core.policies import POLICIES


def _warnings(at):
    return [w.value for w in at.warning] + [w.value for w in at.sidebar.warning]


def test_url_state_round_trips(make_app):
    at = make_app(model="tiny-sst2", policy="maxprob", threshold="0.85", earliest="2", limit="300")
    sb = at.sidebar
    assert sb.selectbox(key="sb_policy").value == "maxprob"
    assert sb.slider(key="sb_thr_maxprob").value == pytest.approx(0.85)
    assert sb.slider(key="sb_earliest").value == 2
    assert sb.number_input(key="sb_limit").value == 300
    assert not _warnings(at)
    # the widgets rule afterwards, and the URL follows them
    sb.selectbox(key="sb_policy").set_value("patience").run()
    assert at.query_params["policy"] == "patience" and at.query_params["threshold"] == "2"
    at.sidebar.slider(key="sb_earliest").set_value(1).run()
    assert "earliest" not in at.query_params


@pytest.mark.parametrize("qp, key, want, words", [
    ({"policy": "entropy", "threshold": "nan"}, "sb_thr_entropy", POLICIES["entropy"].default_threshold,
     "not a finite"),
    ({"policy": "entropy", "threshold": "-3"}, "sb_thr_entropy", 0.0, "clamped"),
    ({"policy": "maxprob", "threshold": "1e308"}, "sb_thr_maxprob", 1.0, "clamped"),
    ({"policy": "patience", "threshold": "2.5"}, "sb_thr_patience", 2, "whole number"),
    ({"policy": "no-such-policy"}, "sb_policy", "entropy", "Unknown exit policy"),
    ({"model": "../../etc"}, "sb_model", "tiny-sst2", "Unknown model"),
    ({"earliest": "99"}, "sb_earliest", 4, "clamped"),
    ({"limit": "-7"}, "sb_limit", 0, "clamped"),
])
def test_bad_url_values_are_fixed_with_a_warning(make_app, qp, key, want, words):
    at = make_app(**qp)
    widget = next(w for w in (at.sidebar.slider, at.sidebar.selectbox, at.sidebar.number_input)
                  if any(x.key == key for x in w))
    value = next(x for x in widget if x.key == key).value
    assert value == (pytest.approx(want) if isinstance(want, float) else want)
    assert any(words in w for w in _warnings(at)), _warnings(at)
    assert not at.error


def test_bad_checkpoint_directory_shows_the_core_message(make_app, tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"not really")
    at = make_app()
    at.sidebar.text_input(key="sb_ckpt").input(str(tmp_path)).run()
    assert not at.exception
    errs = [e.value for e in at.sidebar.error]
    assert any("pickled" in e and "never loads" in e for e in errs), errs
    assert any(m.label == "exit block" for m in at.metric)       # the page still works with the listed model
    at.sidebar.text_input(key="sb_ckpt").input(str(tmp_path / "missing")).run()
    assert any("no such directory" in e.value for e in at.sidebar.error)


def test_checkpoint_directory_is_loaded(make_app, app_env):
    at = make_app()
    at.sidebar.text_input(key="sb_ckpt").input(str(app_env / "tiny-mrpc")).run()
    assert not at.exception and not at.sidebar.error
    ref = at.query_params["ckpt"]                  # the URL names it by fingerprint, never by its server path
    assert ref.startswith("dir:") and "/" not in ref and "model" not in at.query_params
    assert [t.key for t in at.text_area] == ["pg_text", "pg_text_b"]   # a pair model: two text boxes


def test_no_models_at_all(make_app, monkeypatch, tmp_path):
    monkeypatch.setenv("EXITLENS_MODELS_DIR", str(tmp_path))
    at = make_app()
    assert not at.exception
    assert any("No model to show" in e.value for e in at.error)


def test_pending_policy_from_a_page_is_applied(make_app):
    """What a click on the Pareto chart or 'apply this threshold' does: the sidebar takes it on the next run."""
    at = make_app(policy="entropy")
    at.session_state["_pending_policy"] = {"policy": "maxprob", "threshold": 0.75}
    at.run()
    assert at.sidebar.selectbox(key="sb_policy").value == "maxprob"
    assert at.sidebar.slider(key="sb_thr_maxprob").value == pytest.approx(0.75)
    assert at.query_params["policy"] == "maxprob" and at.query_params["threshold"] == "0.75"


def test_state_survives_page_switches(make_app):
    at = make_app(policy="norm_entropy", threshold="0.3")
    for page in ("thresholds", "weights", "learn"):
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception
        assert at.sidebar.selectbox(key="sb_policy").value == "norm_entropy"
        assert at.query_params["threshold"] == "0.3"
    assert "text" not in at.query_params                 # the Playground's own keys left with it


def test_uploaded_csv_is_analysed(make_app):
    at = make_app(page="thresholds")
    at.sidebar.radio(key="sb_data").set_value("upload").run()
    assert any("No file uploaded yet" in i.value for i in at.info) and not at.error      # a normal state, no error
    shown = [c.value for c in at.caption] + [m.value for m in at.markdown] + [i.value for i in at.info]
    assert not any("None" in v for v in shown), [v for v in shown if "None" in v]        # not "uploaded None"
    rows = "\n".join(f"{t},{y}" for t, y in [("a wonderful film", 1), ("dull and lifeless", 0),
                                             ("\"great, great fun\"", "positive"), ("awful", "negative")] * 5)
    at.sidebar.file_uploader(key="sb_upload").upload("mine.csv", f"text,label\n{rows}\n".encode(), "text/csv")
    at.run()
    assert not at.exception and not at.error
    assert next(m.value for m in at.metric if m.label == "samples") == "20"


def test_bad_upload_shows_the_data_error(make_app):
    at = make_app(page="thresholds")
    at.sidebar.radio(key="sb_data").set_value("upload").run()
    at.sidebar.file_uploader(key="sb_upload").upload("bad.csv", b"sentence_x,y\nhello,1\n", "text/csv")
    at.run()
    assert not at.exception
    assert any("needs columns text, label" in e.value for e in at.error)


def test_probe_set_as_data(make_app):
    at = make_app(page="thresholds", data="probes")
    assert not at.exception and not at.error
    n = next(m.value for m in at.metric if m.label == "samples")
    assert int(n) == 42
    at = make_app(page="thresholds", data="probes", model="tiny-mrpc")
    assert any("probe sentences are single sentences" in e.value for e in at.error)


@pytest.mark.parametrize("page", ["thresholds", "prototypes"])
def test_test_split_without_labels_says_so_before_recording(make_app, app_env, page):
    from core.run import trace_path
    path = trace_path(app_env / "tiny-sst2", "sst2", "test", 50)
    path.unlink(missing_ok=True)
    at = make_app(page=page, split="test", limit="50")
    assert not at.exception
    assert any("no public labels" in w for w in _warnings(at)) and not at.metric
    assert not path.is_file()                                       # nothing was recorded yet
    next(b for b in at.button if b.label.startswith("record the test split anyway")).click().run()
    assert not at.exception and path.is_file()
    labels = [m.label for m in at.metric]
    if page == "thresholds":
        assert "agrees with the final exit" in labels and "accuracy" not in labels
    else:
        assert "oracle accuracy" not in labels and at.get("plotly_chart")       # the map, without cohorts


def test_the_task_follows_the_model(make_app):
    at = make_app(page="thresholds", model="tiny-mrpc")
    assert at.query_params["task"] == "mrpc"                        # not the SST-2 the session started with
    assert next(m.value for m in at.metric if m.label == "samples") != ""
    at = make_app(model="tiny-sst2", task="mrpc")                   # another task with other labels: refused
    assert at.query_params["task"] == "sst2"
    assert any("Unknown task" in w and "its own labels" in w for w in _warnings(at))


def test_broken_model_in_the_folder_shows_an_error(make_app, app_env, monkeypatch, tmp_path):
    (tmp_path / "good").symlink_to(app_env / "tiny-sst2")
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    (bad / "model.safetensors").write_bytes(b"\0" * 16)
    monkeypatch.setenv("EXITLENS_MODELS_DIR", str(tmp_path))
    at = make_app(model="broken")
    assert not at.exception
    assert any("config.json is not a valid ExitLens config" in e.value for e in at.error)
    at.sidebar.selectbox(key="sb_model").set_value("good").run()
    assert not at.exception and not at.error
    assert any(m.label == "exit block" for m in at.metric)


def _shown(widget):
    """What the browser draws for a widget: the value the server sends (set_value), else the widget's default."""
    p = widget.proto
    if type(widget).__name__ == "Selectbox":
        return p.raw_value if p.set_value else p.options[p.default]
    return p.value if p.set_value else p.default


@pytest.mark.parametrize("detour", ["upload", "trace"])
def test_hidden_widgets_come_back_showing_their_values(make_app, detour):
    """After a run in which the split, limit, ε and 1 − δ were not drawn (a CSV upload, or a trace opened), the
    browser must be sent their values again: it draws a re-mounted widget from its default (split 'train',
    limit 0, ε 0.001, confidence 0.5), and the next click would send that back as the user's choice."""
    at = make_app(page="thresholds", limit=300)
    at.sidebar.number_input(key="sb_limit").set_value(400).run()
    at.number_input(key="thr_eps").set_value(0.02).run()
    if detour == "upload":
        at.sidebar.radio(key="sb_data").set_value("upload").run()
        at.sidebar.radio(key="sb_data").set_value("glue").run()
    else:
        at.sidebar.radio(key="sb_open").set_value("trace").run()
        at.sidebar.radio(key="sb_open").set_value("model").run()
    assert not at.exception, [e.value for e in at.exception]
    assert _shown(at.sidebar.selectbox(key="sb_split")) == "validation"
    assert _shown(at.sidebar.number_input(key="sb_limit")) == 400
    assert _shown(at.number_input(key="thr_eps")) == pytest.approx(0.02)
    assert _shown(at.number_input(key="thr_conf")) == pytest.approx(0.95)

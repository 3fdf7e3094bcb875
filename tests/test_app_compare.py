"""The Compare page through AppTest: agreement and exit differences are computed from core's exits."""
import numpy as np

from core.analysis import metric
from core.policies import decide, make_policy
from core.run import trace_for
from tests.conftest import metric_value


def test_two_models_on_the_same_data(make_app, app_env):
    at = make_app(page="compare", model="tiny-sst2", model_b="tiny-sst2-bin", policy="maxprob", threshold="0.6")
    ta = trace_for(app_env / "tiny-sst2", "sst2", "validation", limit=1000)
    tb = trace_for(app_env / "tiny-sst2-bin", "sst2", "validation", limit=1000)
    pol = make_policy("maxprob", threshold=0.6)
    ea, eb = decide(pol, ta), decide(pol, tb)
    assert metric_value(at, "answers agree") == f"{(ea.pred == eb.pred).mean():.1%}"
    assert metric_value(at, "B: accuracy") == f"{metric('accuracy', tb.labels, eb.pred):.4f}"
    diffs = next(d.value for d in at.dataframe if "B − A" in d.value.columns)
    d = eb.exit_block - ea.exit_block
    assert diffs["B − A"].abs().max() == np.abs(d).max()
    assert diffs["B − A"].tolist() == (eb.exit_block - ea.exit_block)[diffs["sample"]].tolist()
    agree = next(d.value for d in at.dataframe if "both right" in d.value.columns).iloc[0]
    ra, rb = ea.pred == ta.labels, eb.pred == tb.labels
    assert agree["only A right"] == int((ra & ~rb).sum()) and agree["both wrong"] == int((~ra & ~rb).sum())


def test_model_b_with_its_own_policy(make_app):
    at = make_app(page="compare", model_b="tiny-sst2-bin-b")
    assert at.selectbox(key="cp_model_b").value == "tiny-sst2-bin-b"
    at.toggle(key="cp_same").set_value(False).run()
    at.selectbox(key="cp_policy_b").set_value("patience").run()
    at.slider(key="cp_thr_patience").set_value(1).run()
    assert not at.exception
    assert at.query_params["model_b"] == "tiny-sst2-bin-b"


def test_unknown_model_b_in_url_falls_back(make_app):
    at = make_app(page="compare", model_b="nope")
    assert any("Unknown model B" in w.value for w in at.warning)
    assert at.selectbox(key="cp_model_b").value in ("tiny-sst2-bin", "tiny-sst2-bin-b")


def test_a_model_of_another_task_is_not_offered_and_the_page_says_why(make_app):
    at = make_app(page="compare", model="tiny-mrpc")
    assert not at.exception
    assert any("No other model" in i.value and "MRPC" in i.value for i in at.info)   # 2 classes, but other labels
    assert any("tiny-sst2 was trained on SST-2 and tiny-mrpc on MRPC" in c.value for c in at.caption)


def test_no_second_model(make_app, app_env, monkeypatch, tmp_path):
    (tmp_path / "only").symlink_to(app_env / "tiny-sst2")
    monkeypatch.setenv("EXITLENS_MODELS_DIR", str(tmp_path))
    at = make_app(page="compare")
    assert not at.exception
    assert any("No other model" in i.value for i in at.info)


def test_model_b_from_a_checkpoint_directory(make_app, app_env, tmp_path):
    at = make_app(page="compare")
    at.text_input(key="cp_ckpt_b").input(str(tmp_path / "nothing")).run()
    assert not at.exception
    missing = [e.value for e in at.error if "no such directory" in e.value]
    assert missing and "Model B cannot be opened" in missing[0]
    assert "cannot be compared" not in missing[0]              # not a model at all: nothing to compare (item 14)
    at.text_input(key="cp_ckpt_b").input(str(app_env / "tiny-sst2-bin-b")).run()
    assert not at.exception and not at.error
    ref = at.query_params["ckpt_b"]                             # a fingerprint, never the server path (item 5)
    assert ref.startswith("dir:") and str(app_env) not in ref and "model_b" not in at.query_params
    assert any("B** = tiny-sst2-bin-b" in c.value for c in at.caption)
    at.text_input(key="cp_ckpt_b").input(str(app_env / "tiny-mrpc")).run()     # 2 classes, another task: refused
    assert any("trained on MRPC" in e.value and "cannot be compared" in e.value for e in at.error)


def test_a_refused_model_b_compares_nothing_in_its_place(make_app, app_env):
    """A checkpoint B of another task is refused, and the page does not go on to compare A with some other B."""
    at = make_app(page="compare")
    at.text_input(key="cp_ckpt_b").input(str(app_env / "tiny-mrpc")).run()
    assert not at.exception
    assert any("cannot be compared" in e.value and "Clear the checkpoint field" in e.value for e in at.error)
    assert not any("**B** =" in c.value for c in at.caption) and not at.metric
    assert "model_b" not in at.query_params


def test_a_refused_model_b_in_the_url_says_why_not_unknown(make_app):
    at = make_app(page="compare", model_b="tiny-mrpc")
    assert not at.exception
    warn = next(w.value for w in at.warning if "tiny-mrpc" in w.value)
    assert "is not offered" in warn and "trained on MRPC" in warn and "Unknown" not in warn


def test_the_model_slenderized_from_a_is_offered_first(app_models, tmp_path):
    """COST-EFF's pair: a model whose card says it was slenderized from A (its --init) is model B's default,
    before models that sort earlier by name; a model of another task is refused with the reason."""
    import json
    import shutil

    from core.data import get_task
    from core.run import partners

    folder = tmp_path / "models"
    for name in ("tiny-sst2", "tiny-sst2-bin", "tiny-mrpc"):
        shutil.copytree(app_models / name, folder / name)
    slim = folder / "tiny-sst2-zslim"                      # sorts last by name
    shutil.copytree(app_models / "tiny-sst2", slim)
    card = json.loads((slim / "card.json").read_text())
    card["train"]["config"].update(init=str(folder / "tiny-sst2"), slim_heads=1)
    card["slenderized"] = {"from": "tiny-sst2"}
    (slim / "card.json").write_text(json.dumps(card))
    names = sorted(p.name for p in folder.iterdir())
    ok, refused = partners(folder, "tiny-sst2", get_task("sst2"), 2, names)
    assert ok == ["tiny-sst2-zslim", "tiny-sst2-bin"]
    assert [n for n, _ in refused] == ["tiny-mrpc"] and "labels do not mean the same" in refused[0][1]
    ok, _ = partners(folder, "tiny-sst2-zslim", get_task("sst2"), 2, names)
    assert ok[0] == "tiny-sst2"                             # and from the slim model, its full-width parent first

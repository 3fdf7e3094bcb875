"""A server reads typed paths only inside the folders its operator allows (issue 20, item 6): a trace path or a
checkpoint directory elsewhere gets a clear refusal and nothing of the file."""
import tomllib
from pathlib import Path

import pytest

from core.run import PathNotAllowed, allowed_roots, check_allowed

SECRET = "root:x:0:0:the-secret-line"


@pytest.fixture
def secret(tmp_path_factory, monkeypatch):
    """A file outside every allowed folder (the tests' temporary root is allowed by app_env: not this one)."""
    d = Path("/tmp") / f"exitlens-not-allowed-{tmp_path_factory.getbasetemp().name}"
    d.mkdir(exist_ok=True)
    f = d / "passwd"
    f.write_text(SECRET + "\n")
    (d / "config.json").write_text('{"n_blocks": 2}')
    yield f
    f.unlink()
    (d / "config.json").unlink()
    d.rmdir()


def _everything(at) -> str:
    parts = [e.value for e in list(at.error) + list(at.warning) + list(at.info) + list(at.caption) + list(at.markdown)]
    parts += [e.value for e in list(at.sidebar.error) + list(at.sidebar.caption) + list(at.sidebar.markdown)]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("path", ["/etc/passwd", "secret"])
def test_a_trace_path_outside_the_allowed_folders_is_refused(make_app, secret, path):
    path = str(secret) if path == "secret" else path
    at = make_app()
    at.sidebar.radio(key="sb_open").set_value("trace").run()
    at.sidebar.text_input(key="byo_trace_path").input(path).run()
    assert not at.exception
    errs = [e.value for e in at.sidebar.error]
    assert len(errs) == 1 and "outside the folders this server reads from" in errs[0] and "nothing was read" in errs[0]
    shown = _everything(at)
    assert "root" not in shown.replace(path, "") and "b'" not in shown        # not one byte of the file


def test_a_checkpoint_directory_outside_the_allowed_folders_is_refused(make_app, secret):
    at = make_app()
    at.sidebar.text_input(key="sb_ckpt").input(str(secret.parent)).run()
    assert not at.exception
    errs = [e.value for e in at.sidebar.error]
    assert len(errs) == 1 and "outside the folders this server reads from" in errs[0]
    assert "ckpt" not in at.query_params and at.query_params["model"] == "tiny-sst2"   # the listed model goes on
    assert any(m.label == "exit block" for m in at.metric)


def test_the_operator_allows_a_folder_by_environment(make_app, secret, monkeypatch, app_env):
    with pytest.raises(PathNotAllowed):
        check_allowed(secret)
    with pytest.raises(PathNotAllowed):                  # a link inside an allowed folder to a file outside it
        link = app_env.parent / "link-to-secret"
        link.unlink(missing_ok=True)
        link.symlink_to(secret)
        check_allowed(link)
    monkeypatch.setenv("EXITLENS_ALLOWED_DIRS", f"/nonexistent-a:{secret.parent}")
    assert check_allowed(secret) == secret.resolve()
    assert secret.parent.resolve() in allowed_roots() and app_env.resolve() in allowed_roots()


def test_the_shipped_config_serves_this_machine_only():
    cfg = tomllib.loads((Path(__file__).resolve().parents[1] / "streamlit_config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"
    assert "0.0.0.0" not in (Path(__file__).resolve().parents[1] / "streamlit_config.toml").read_text()

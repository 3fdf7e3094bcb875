"""A checkpoint in a shared URL is named by the import's fingerprint or a fingerprint of an opened directory, never
by a server path (issue 20, item 5)."""
from app.model_refs import resolve_ref, url_ref


def test_an_import_is_named_by_its_folder_and_comes_back(app_env, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EXITLENS_CACHE", str(cache))
    imported = cache / "imported" / "hf-bert-0123456789"
    imported.mkdir(parents=True)
    (imported / "config.json").write_text("{}")
    ref = url_ref(str(imported))
    assert ref == "imported:hf-bert-0123456789" and str(tmp_path) not in ref
    assert resolve_ref(ref) == (str(imported.resolve()), None)
    path, warn = resolve_ref("imported:gone-123")
    assert path == "" and "not on this server" in warn
    path, warn = resolve_ref("imported:../../etc")                  # no way out of the imports folder
    assert path == "" and warn


def test_an_opened_directory_is_named_by_a_fingerprint(app_env):
    ref = url_ref(str(app_env / "tiny-mrpc"))
    assert ref.startswith("dir:") and "/" not in ref and len(ref) == 16
    assert resolve_ref(ref) == (str((app_env / "tiny-mrpc").resolve()), None)
    assert resolve_ref("dir:000000000000")[0] == ""


def test_a_path_in_a_url_is_never_read(app_env):
    for raw in (str(app_env / "tiny-mrpc"), "/etc", "~/models/x"):
        path, warn = resolve_ref(raw)
        assert path == "" and "never a path on the server" in warn

"""core.data on the real GLUE files in ../shared/data/glue, on malformed tmp files, uploads and probes.

No test touches the network: an autouse fixture sets EXITLENS_OFFLINE=1, and the hub is exercised
through a stand-in ``datasets.load_dataset``.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from core import data
from core.data import DataError, glue, load_csv_upload, load_task
from core.data import tsv as tables

GLUE = Path(__file__).resolve().parents[1].parent / "shared/data/glue"
needs_glue = pytest.mark.skipif(not GLUE.is_dir(), reason=f"the GLUE TSVs are not at {GLUE}")

# (task, split) → rows, from the table in shared/data/glue/README.md
ROWS = {
    ("sst2", "train"): 67_349, ("sst2", "validation"): 872, ("sst2", "test"): 1_821,
    ("mrpc", "train"): 3_668, ("mrpc", "validation"): 408, ("mrpc", "test"): 1_725,
    ("cola", "train"): 8_551, ("cola", "validation"): 1_043, ("cola", "test"): 1_063,
    ("rte", "train"): 2_490, ("rte", "validation"): 277, ("rte", "test"): 3_000,
    ("qnli", "validation"): 5_463, ("qnli", "test"): 5_463,
}
# (task, split) → count per label id, from the same table
BALANCE = {
    ("sst2", "validation"): [428, 444], ("mrpc", "validation"): [129, 279],
    ("cola", "validation"): [322, 721], ("rte", "validation"): [146, 131],
    ("qnli", "validation"): [2_702, 2_761],
    ("sst2", "train"): [29_780, 37_569], ("mrpc", "train"): [1_194, 2_474],
    ("cola", "train"): [2_528, 6_023], ("rte", "train"): [1_249, 1_241],
}
# (task, split) → (raw TSV field index of text, of text_b or None, of the row id or None, has header)
RAW_LAYOUT = {
    "sst2": {"labelled": (0, None, None, True), "test": (1, None, 0, True)},
    "mrpc": {"labelled": (3, 4, None, True), "test": (3, 4, 0, True)},
    "cola": {"labelled": (3, None, None, False), "test": (1, None, 0, True)},
    "rte": {"labelled": (1, 2, 0, True), "test": (1, 2, 0, True)},
    "qnli": {"labelled": (1, 2, 0, True), "test": (1, 2, 0, True)},
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Never reach for the network, and start from a clean environment."""
    for var in (data.GLUE_DIR_ENV, *data.OFFLINE_ENVS):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EXITLENS_OFFLINE", "1")


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _raw_rows(task: str, split: str) -> list[list[str]]:
    """The file split on tabs by hand: the ground truth that loading must reproduce."""
    t = data.get_task(task)
    raw = (GLUE / t.folder / t.files[split]).read_text(encoding="utf-8-sig")
    rows = [line.split("\t") for line in raw.split("\n") if line != ""]
    has_header = RAW_LAYOUT[task]["test" if split == "test" else "labelled"][3]
    return rows[1:] if has_header else rows


# ----------------------------------------------------------------------------- the registry


def test_registry_knows_seven_tasks_with_hf_label_coding():
    assert list(data.TASKS) == ["sst2", "mrpc", "cola", "rte", "qnli", "mnli", "qqp"]
    names = {n: t.label_names for n, t in data.TASKS.items()}
    assert names["sst2"] == ("negative", "positive")
    assert names["mrpc"] == ("not_equivalent", "equivalent")
    assert names["cola"] == ("unacceptable", "acceptable")
    assert names["rte"] == names["qnli"] == ("entailment", "not_entailment")
    assert names["mnli"] == ("entailment", "neutral", "contradiction")
    assert names["qqp"] == ("not_duplicate", "duplicate")
    metrics = {n: t.metric for n, t in data.TASKS.items()}
    assert metrics == {"sst2": "accuracy", "mrpc": "f1", "cola": "mcc", "rte": "accuracy",
                       "qnli": "accuracy", "mnli": "accuracy", "qqp": "accuracy"}
    assert all(t.hub == ("glue", n) for n, t in data.TASKS.items())
    assert [n for n, t in data.TASKS.items() if t.is_pair] == ["mrpc", "rte", "qnli", "mnli", "qqp"]


def test_task_and_split_names_are_forgiving_and_unknown_ones_list_the_choices():
    assert data.get_task("SST-2") is data.get_task("sst2") is data.get_task("Sst_2")
    assert data.canonical_split("dev") == data.canonical_split("Validation") == "validation"
    with pytest.raises(DataError, match="known tasks are sst2, mrpc, cola, rte, qnli, mnli, qqp"):
        data.get_task("imdb")
    with pytest.raises(DataError, match="use one of train, validation, test"):
        load_task("sst2", "holdout")
    with pytest.raises(DataError, match="unknown source"):
        load_task("sst2", "dev", source="ftp")
    assert issubclass(DataError, ValueError)


# ----------------------------------------------------------------------------- the real GLUE files


@needs_glue
@pytest.mark.parametrize("task,split", list(ROWS))
def test_every_file_has_the_readme_row_count_and_every_text_equals_the_raw_tsv(task, split):
    ds = load_task(task, split, source="local", data_dir=GLUE)
    assert len(ds) == ROWS[task, split]
    t = data.get_task(task)
    assert ds.column_names == list(t.columns)
    assert ds.features["label"].names == list(t.label_names)

    text_at, text_b_at, id_at, _ = RAW_LAYOUT[task]["test" if split == "test" else "labelled"]
    raw = _raw_rows(task, split)
    expect = [r[text_at] for r in raw]
    if t.strip_trailing_spaces:
        expect = [s.rstrip(" ") for s in expect]
    assert ds["text"] == expect  # QUOTE_NONE: leading quotes, "NA"-like strings all survive
    if text_b_at is not None:
        assert ds["text_b"] == [r[text_b_at] for r in raw]
    ids = [int(r[id_at]) for r in raw] if id_at is not None else list(range(len(raw)))
    assert ds["idx"] == ids
    if split == "test":
        assert set(ds["label"]) == {-1}  # GLUE test labels are hidden


@needs_glue
@pytest.mark.parametrize("task,split", list(BALANCE))
def test_label_balance_matches_the_readme(task, split):
    labels = load_task(task, split, source="local", data_dir=GLUE)["label"]
    assert [labels.count(i) for i in range(data.get_task(task).num_labels)] == BALANCE[task, split]


@needs_glue
def test_specific_rows_keep_their_raw_text():
    sst2 = load_task("sst2", "dev", data_dir=GLUE)
    assert sst2[0] == {"text": "it 's a charming and often affecting journey .", "label": 1, "idx": 0}

    rte_train = load_task("rte", "train", data_dir=GLUE)
    # the 2018 file's one quirk: this row starts with a space before its quote (README)
    assert rte_train[2164]["text"].startswith(' "That film wasn\'t too successful')
    assert sum(t.startswith('"') for t in rte_train["text"]) == 55
    rte_dev = load_task("rte", "dev", data_dir=GLUE)
    assert [i for i, t in enumerate(rte_dev["text"]) if t.startswith('"')] == [137, 182, 207]
    assert rte_dev[0]["label"] == 1  # not_entailment → 1 in HF coding

    mrpc = load_task("mrpc", "dev", data_dir=GLUE)
    assert mrpc[0]["text_b"] == '"The foodservice pie business does not fit our long-term growth strategy.'
    assert mrpc[0]["label"] == 1

    cola = load_task("cola", "dev", data_dir=GLUE)
    assert cola[0] == {"text": "The sailors rode the breeze clear of the rocks.", "label": 1, "idx": 0}

    qnli = load_task("qnli", "dev", data_dir=GLUE)
    assert qnli[0]["label"] == 0 and qnli[1]["label"] == 1
    assert qnli[60]["text_b"].count("\ufeff") == 3  # zero-width no-break spaces inside the text are kept


@needs_glue
def test_limit_and_split_aliases():
    ds = load_task("SST-2", "dev", data_dir=GLUE, limit=5)
    assert len(ds) == 5 and ds["idx"] == [0, 1, 2, 3, 4]
    assert len(load_task("rte", "validation", data_dir=GLUE, limit=0)) == 0


@needs_glue
def test_available_splits():
    assert data.available_splits("sst2", GLUE) == ["train", "validation", "test"]
    assert data.available_splits("qnli", GLUE) == ["validation", "test"]
    assert data.available_splits("mnli", GLUE) == []
    assert data.available_splits("qqp", GLUE) == []


@needs_glue
def test_sst2_reload_reuses_the_checked_and_parsed_file():
    """A second load neither re-checks the file's shape by hand nor re-parses it (datasets' Arrow cache);
    how fast that is lives in bench/, not here."""
    first = load_task("sst2", "train", data_dir=GLUE)
    hits = tables.checked_columns.cache_info().hits
    again = load_task("sst2", "train", data_dir=GLUE)
    assert tables.checked_columns.cache_info().hits == hits + 1
    assert again["text"][:5] == first["text"][:5] and len(again) == len(first) == 67349


# ----------------------------------------------------------------------------- missing data


@needs_glue
def test_missing_split_says_which_file_was_expected_where():
    with pytest.raises(DataError) as err:
        load_task("qnli", "train", source="local", data_dir=GLUE)
    msg = str(err.value)
    assert f"QNLI has no train split in {GLUE / 'QNLI'}" in msg
    assert "expected train.tsv" in msg and "files there: dev.tsv, test.tsv" in msg
    assert "source='hub'" in msg


@needs_glue
def test_missing_split_offline_names_both_sources():
    with pytest.raises(DataError) as err:
        load_task("qnli", "train", data_dir=GLUE)  # auto, with EXITLENS_OFFLINE=1
    msg = str(err.value)
    assert "QNLI has no train split" in msg and "files there: dev.tsv, test.tsv" in msg
    assert "hub is unreachable (offline: EXITLENS_OFFLINE=1)" in msg
    assert "put train.tsv there or go online" in msg


@needs_glue
@pytest.mark.parametrize("task,file", [("mnli", "MNLI/dev_matched.tsv"), ("qqp", "QQP/dev.tsv")])
def test_missing_task_names_its_folder_and_what_is_there(task, file):
    with pytest.raises(DataError) as err:
        load_task(task, "dev", data_dir=GLUE)
    msg = str(err.value)
    assert f"has no folder in {GLUE}" in msg and f"expected {file}" in msg
    assert "task folders there: CoLA, MRPC, QNLI, RTE, SST-2" in msg
    assert f"put {file} there or go online" in msg


@needs_glue
def test_missing_split_with_dead_network_names_both_sources(monkeypatch):
    monkeypatch.delenv("EXITLENS_OFFLINE")
    monkeypatch.setattr(glue, "_hub_unreachable", lambda: "no connection to huggingface.co: test")
    with pytest.raises(DataError) as err:
        load_task("qnli", "train", data_dir=GLUE)
    msg = str(err.value)
    assert "QNLI has no train split" in msg
    assert "hub is unreachable (no connection to huggingface.co: test)" in msg
    with pytest.raises(DataError, match="could not load glue/qnli train from the hub"):
        load_task("qnli", "train", source="hub")


def test_hub_source_refuses_when_offline(monkeypatch):
    monkeypatch.delenv("EXITLENS_OFFLINE")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match=r"hub is off \(HF_DATASETS_OFFLINE=1\)"):
        load_task("sst2", "dev", source="hub")


def test_no_local_folder_at_all(monkeypatch, tmp_path):
    with pytest.raises(DataError, match="the GLUE folder .* does not exist"):
        load_task("sst2", "dev", data_dir=tmp_path / "nowhere")


# ----------------------------------------------------------------------------- the hub, stood in for


def test_hub_rows_are_normalized_like_local_ones(monkeypatch):
    from datasets import Dataset

    calls = []

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return Dataset.from_dict({
            "premise": ["a man sleeps", "two dogs run"], "hypothesis": ["a man rests", "cats fly"],
            "label": [0, 2] if kwargs["split"] != "test_matched" else [-1, -1], "idx": [0, 1],
        })

    monkeypatch.delenv("EXITLENS_OFFLINE")
    monkeypatch.setattr(glue, "_hub_unreachable", lambda: None)
    monkeypatch.setattr("datasets.load_dataset", fake_load_dataset)
    ds = load_task("mnli", "dev", source="hub")
    assert calls[0] == (("glue", "mnli"), {"split": "validation_matched"})
    assert ds.column_names == ["text", "text_b", "label", "idx"]
    assert ds[1] == {"text": "two dogs run", "text_b": "cats fly", "label": 2, "idx": 1}
    assert load_task("mnli", "test", source="auto")["label"] == [-1, -1]  # no local MNLI → hub


# ----------------------------------------------------------------------------- where the folder is


def _tiny_sst2(root: Path, sentence: str = "a tiny test sentence ") -> Path:
    _write(root / "SST-2" / "dev.tsv", f"sentence\tlabel\n{sentence}\t1\nanother one \t0\n")
    return root


def test_glue_folder_from_argument_env_var_or_sibling_default(monkeypatch, tmp_path):
    env_dir, arg_dir = _tiny_sst2(tmp_path / "env"), _tiny_sst2(tmp_path / "arg", "from the argument ")
    assert data.glue_dir() == (data.DEFAULT_GLUE_DIR if data.DEFAULT_GLUE_DIR.is_dir() else None)
    assert data.DEFAULT_GLUE_DIR == GLUE
    monkeypatch.setenv("EXITLENS_GLUE_DIR", str(env_dir))
    assert data.glue_dir() == env_dir
    assert load_task("sst2", "dev")["text"] == ["a tiny test sentence", "another one"]
    assert load_task("sst2", "dev", data_dir=arg_dir)[0]["text"] == "from the argument"
    assert data.available_splits("sst2") == ["validation"]


def test_offline_env_vars(monkeypatch):
    assert data.offline_reason() == "EXITLENS_OFFLINE=1"
    monkeypatch.setenv("EXITLENS_OFFLINE", "0")
    assert data.offline_reason() is None
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "true")
    assert data.offline_reason() == "HF_DATASETS_OFFLINE=true"


# ----------------------------------------------------------------------------- malformed files


@pytest.mark.parametrize(
    "folder,file,content,expected",
    [
        ("SST-2", "dev.tsv", "", r"is empty \(0 bytes\)"),
        ("SST-2", "dev.tsv", "sentence\tlabel\n", "has a header but no rows"),
        ("SST-2", "dev.tsv", "text\tstars\ngood .\t5\n", r"needs \['sentence', 'label'\] \(missing"),
        ("SST-2", "dev.tsv", "sentence\tlabel\ngood .\t1\nbad .\t7\n", r"data row 2 \(line 3\).* label '7'"),
        ("SST-2", "dev.tsv", "sentence\tlabel\ngood .\t1\nno label here\n",
         r"line 3 has 1 tab-separated fields, expected 2 \(sentence, label\)"),
        ("SST-2", "dev.tsv", "sentence\tlabel\ngood .\t1\tbonus\n", "line 2 has 3 tab-separated fields"),
        ("SST-2", "dev.tsv", b"sentence\tlabel\nfine\t1\ncaf\xe9 .\t1\n", r"is not UTF-8 text .* on line 3"),
        ("SST-2", "dev.tsv", b"sent\xe9nce\tlabel\n", "is not UTF-8"),
        ("RTE", "dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n",
         r"line 2\).* label 'maybe', which is not one of entailment, not_entailment"),
        ("RTE", "dev.tsv", "index\tsentence1\tsentence2\tlabel\nx\ta\tb\tentailment\n", "non-integer"),
        ("CoLA", "dev.tsv", "sentence\tlabel\nfine .\t1\n",
         r"line 1 has 2 tab-separated fields, expected 4 \(no header row: source, label"),
        ("CoLA", "dev.tsv", "src\t1\t\tOk.\nsrc\tyes\t\tNo.\n", r"data row 2 \(line 2\).* label 'yes'"),
    ],
    ids=["empty", "header-only", "wrong-columns", "label-out-of-set", "short-row", "extra-field",
         "latin1-body", "latin1-header", "unknown-label-name", "bad-index", "cola-with-header",
         "cola-bad-label"],
)
def test_malformed_files_raise_data_error_naming_the_file(tmp_path, folder, file, content, expected):
    path = _write(tmp_path / folder / file, content)
    task = {"SST-2": "sst2", "RTE": "rte", "CoLA": "cola"}[folder]
    with pytest.raises(DataError, match=expected) as err:
        load_task(task, "dev", data_dir=tmp_path)
    assert str(path) in str(err.value)


def test_string_labels_map_to_hf_ids(tmp_path):
    _write(tmp_path / "RTE" / "dev.tsv",
           "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tnot_entailment\n1\tc\td\tentailment\n")
    assert load_task("rte", "dev", data_dir=tmp_path)["label"] == [1, 0]


# ----------------------------------------------------------------------------- uploads


def test_upload_happy_path_single(tmp_path):
    path = _write(tmp_path / "mine.csv",
                  'Text,Label,note\nloved it,positive,x\n"hated it, truly",0,y\nmeh,1,z\n')
    ds = load_csv_upload(path, "sst2")
    assert ds.column_names == ["text", "label", "idx"]
    assert ds["text"] == ["loved it", "hated it, truly", "meh"]
    assert ds["label"] == [1, 0, 1]


def test_upload_happy_path_pair_from_a_file_object_with_bom_and_glue_column_names():
    upload = io.BytesIO("\ufeffsentence1,sentence2,label\nA man sleeps.,A man rests.,entailment\n".encode())
    upload.name = "pairs.csv"
    ds = load_csv_upload(upload, "rte")
    assert ds[0] == {"text": "A man sleeps.", "text_b": "A man rests.", "label": 0, "idx": 0}


@pytest.mark.parametrize(
    "task,content,expected",
    [
        ("sst2", "sentence_text,label\nhi,1\n", r"needs columns text, label but has sentence_text, label"),
        ("mrpc", "text,label\nhi,1\n", r"needs columns text, text_b, label .*missing text_b"),
        ("sst2", "text,label\nfine,1\nodd,meh\n", r"data row 2 \(line 3\).* label 'meh'"),
        ("sst2", "text,label\nfine,1\nmissing\n", "line 3 has 1 fields but the header has 2"),
        ("sst2", 'text,label\nfine,1\n"two\nlines",good\n', r"data row 2 \(line 4\).* label 'good'"),
        ("sst2", "", "is empty"),
        ("sst2", "text,label\n", "has a header but no rows"),
        ("sst2", "text,label\ncaf\xe9,1\n".encode("cp1252"), r"is not UTF-8 .*'CSV UTF-8'"),
    ],
    ids=["no-text-column", "pair-without-text_b", "bad-label", "short-row", "multi-line-row", "empty",
         "header-only", "cp1252"],
)
def test_upload_errors_say_what_is_needed(tmp_path, task, content, expected):
    path = _write(tmp_path / "upload.csv", content)
    with pytest.raises(DataError, match=expected):
        load_csv_upload(path, task)


# ----------------------------------------------------------------------------- probes


def test_probes_are_ours_and_cover_every_category():
    probes = data.load_probes()
    assert 36 <= len(probes) <= 60
    assert set(probes["category"]) == set(data.PROBE_CATEGORIES)
    assert set(probes["label"]) == {0, 1}
    assert all(t == t.lower() and t.strip() == t and "\t" not in t for t in probes["text"])
    assert probes.features["label"].names == ["negative", "positive"]
    if GLUE.is_dir():  # written by the team, not copied from SST-2
        sst2 = set()
        for split in ("train", "validation", "test"):
            sst2 |= set(load_task("sst2", split, data_dir=GLUE)["text"])
        assert not sst2 & set(probes["text"])


def test_probes_with_an_unknown_category_fail(tmp_path):
    path = _write(tmp_path / "p.tsv", "text\tlabel\tcategory\nfine .\t1\tshort\nso so .\t0\tirony\n")
    with pytest.raises(DataError, match="category 'irony': use one of negation"):
        data.load_probes(path)

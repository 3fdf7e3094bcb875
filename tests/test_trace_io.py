"""Foreign exit traces: a Parquet file written by a script that knows nothing of ExitLens opens as a Trace that
the policies and analyses run on; ExitLens's own traces round-trip; every malformed file gets its exact message."""
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.analysis import per_exit_metric
from core.policies import decide, make_policy
from core.trace import Trace, TraceError, main, read_trace, summarize, write_parquet
from tests.conftest import random_trace

REPO = Path(__file__).resolve().parents[1]

# An early-exit classifier from "another framework": a numpy SDN whose exits see ever more of the signal.
FOREIGN_WRITER = textwrap.dedent('''
    import json, sys
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    n, n_exits, k = 300, 4, 3
    labels = rng.integers(0, k, n)
    signal = np.eye(k)[labels] * 2.0
    logits = np.stack([signal * (e + 1) / n_exits + rng.normal(size=(n, k)) for e in range(n_exits)], 1)
    centers = rng.normal(size=(n_exits, k, 8))
    feats = centers[:, labels].transpose(1, 0, 2) + rng.normal(size=(n, n_exits, 8))
    dist = ((feats[:, :, None, :] - centers[None]) ** 2).sum(-1)          # (n, exits, k)
    labels_out = [int(y) if i % 10 else None for i, y in enumerate(labels)]  # every 10th unknown
    table = pa.table({
        "logits": [row.tolist() for row in logits],
        "label": pa.array(labels_out, pa.int64()),
        "text": [f"image_{i:04d}.png" for i in range(n)],
        "proto_dist": [row.tolist() for row in dist],
    })
    meta = {"flops_per_block": [2.0e8, 2.0e8, 3.0e8, 4.0e8], "flops_embed": 1.0e7, "cost_unit": "FLOPs",
            "label_names": ["cat", "dog", "bird"], "model": "numpy-sdn", "metric": "accuracy"}
    pq.write_table(table.replace_schema_metadata({"exitlens": json.dumps(meta)}), sys.argv[1])
    known = np.array([y is not None for y in labels_out])
    acc = (logits.argmax(-1)[known] == labels[known, None]).mean(0)
    json.dump({"accuracy": acc.tolist(), "known": int(known.sum())}, open(sys.argv[2], "w"))
''')


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    d = tmp_path_factory.mktemp("foreign")
    script = d / "writer.py"
    script.write_text(FOREIGN_WRITER)
    assert "core" not in FOREIGN_WRITER.replace("score", "")          # it knows nothing of ExitLens
    subprocess.run([sys.executable, str(script), str(d / "sdn.parquet"), str(d / "expected.json")], check=True,
                   cwd=d)
    return d / "sdn.parquet", json.loads((d / "expected.json").read_text())


def test_foreign_parquet_opens_and_analyses(foreign):
    path, expected = foreign
    tr = read_trace(path)
    assert (tr.n, tr.n_blocks, tr.n_classes) == (300, 4, 3)
    assert (tr.labels >= 0).sum() == expected["known"] and tr.labels[0] == -1 and tr.labels[1] >= 0
    assert tr.texts[5] == "image_0005.png" and tr.label_names == ["cat", "dog", "bird"]
    assert tr.flops_per_block.tolist() == [2e8, 2e8, 3e8, 4e8] and tr.flops_embed == 1e7
    assert tr.meta["model"] == "numpy-sdn" and tr.meta["cost_unit"] == "FLOPs"
    labelled = tr.subset(tr.labels >= 0)
    assert np.allclose(per_exit_metric(labelled).value, expected["accuracy"])
    ex = decide(make_policy("edr", threshold=0.3, lam=1.0), labelled)      # the prototype distances are used
    assert ex.exit_block.min() >= 0 and ex.exit_block.max() <= 3
    s = summarize(tr)
    assert s.labelled == expected["known"] and np.allclose(s.per_exit_accuracy, expected["accuracy"])


def test_upload_and_cli(foreign, tmp_path, capsys):
    path, _ = foreign
    up = io.BytesIO(path.read_bytes())
    up.name = "sdn.parquet"
    assert np.array_equal(read_trace(up).logits, read_trace(path).logits)
    assert main(["import", str(path), "--out", str(tmp_path / "t.npz")]) == 0
    out = capsys.readouterr().out
    assert "valid trace" in out and "300 samples × 4 exits × 3 classes" in out and "270 of 300 known" in out
    back = Trace.load(tmp_path / "t.npz")
    assert np.array_equal(back.logits, read_trace(path).logits) and back.meta["label_names"] == ["cat", "dog", "bird"]
    run = subprocess.run([sys.executable, "-m", "core.trace", "import", str(path)], check=False, cwd=REPO,
                         capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0 and "EDR policy available" in run.stdout, run.stderr
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"label": [0]}), bad)
    assert main(["import", str(bad)]) == 2
    assert "has no 'logits' column" in capsys.readouterr().err


def _trace(n=20, l=3, k=2, seed=0, **kw):
    return random_trace(n, l, k, seed, flops=[1.0, 2.0, 3.0][:l], scale=1.0, embed_dim=4, pooled_dim=4,
                        flops_embed=0.5, texts=[f"t{i}" for i in range(n)],
                        meta={"label_names": ["neg", "pos"], "task": "sst2"}, **kw)


def test_exitlens_traces_round_trip(tmp_path):
    tr = _trace(texts_b=[f"b{i}" for i in range(20)])
    for back in (read_trace(write_parquet(tr, tmp_path / "t.parquet", pooled=True)),
                 read_trace(tr.save(tmp_path / "t.npz"))):
        assert np.allclose(back.logits, tr.logits) and np.array_equal(back.labels, tr.labels)
        assert back.texts == tr.texts and back.texts_b == tr.texts_b
        assert np.allclose(back.proto_dist, tr.proto_dist) and np.allclose(back.lte, tr.lte)
        assert np.allclose(back.pooled, tr.pooled) and np.allclose(back.prototypes, tr.prototypes)
        assert back.flops_per_block.tolist() == [1.0, 2.0, 3.0] and back.flops_embed == 0.5
        assert back.meta["label_names"] == ["neg", "pos"] and back.meta["task"] == "sst2"


def test_foreign_npz_without_costs(tmp_path):
    g = np.random.default_rng(1)
    np.savez(tmp_path / "f.npz", logits=g.normal(size=(6, 2, 2)), labels=np.array([0, 1, 1, 0, -1, 1]),
             texts=np.array(["a", "b", "c", "d", "e", "f"]))
    tr = read_trace(tmp_path / "f.npz")
    assert tr.n == 6 and tr.labels[4] == -1 and tr.texts[2] == "c"
    assert tr.flops_per_block.tolist() == [1.0, 1.0] and tr.meta["cost_unit"] == "blocks"


# malformed files: each gets its exact message

def _pq(tmp_path, cols, meta=None, name="t.parquet"):
    table = pa.table(cols)
    if meta is not None:
        table = table.replace_schema_metadata({"exitlens": meta if isinstance(meta, str) else json.dumps(meta)})
    pq.write_table(table, tmp_path / name)
    return tmp_path / name


GOOD = [[[0.1, 0.2], [0.3, -0.1], [1.0, 2.0]]] * 5           # 5 rows, L=3, K=2
SEE = "(see the format in core/trace/io.py)"
MALFORMED = {
    "no logits": ({"label": [0, 1], "text": ["a", "b"]}, None,
                  ("{p} has no 'logits' column (columns: ['label', 'text']): one row per sample with 'logits' = "
                  f"L lists of K numbers {SEE}")),
    "flat logits": ({"logits": [0.1, 0.2]}, None,
                    "{p}: column 'logits' must hold L lists of K numbers per row, but its values are double"),
    "ragged exits": ({"logits": GOOD[:2] + [[[0.1, 0.2], [0.3, 0.4]]] + GOOD[:2]}, None,
                     ("{p}: column 'logits' is ragged: row 2 has 2 exits but row 0 has 3; every row needs L lists "
                     "of K numbers")),
    "ragged classes": ({"logits": GOOD[:1] + [[[0.1, 0.2], [0.3, 0.4], [1.0, 2.0, 3.0]]]}, None,
                       ("{p}: column 'logits' is ragged: row 1, block 2 has 3 classes but row 0, block 0 has 2; "
                       "every row needs L lists of K numbers")),
    "null row": ({"logits": GOOD[:3] + [None] + GOOD[:1]}, None,
                 "{p}: column 'logits' is null at row 3; every row needs L lists of K numbers"),
    "nan": ({"logits": GOOD[:1] + [[[0.1, float("nan")], [0.3, 0.4], [1.0, 2.0]]]}, None,
            "{p}: 'logits' holds 1 NaN or infinite value(s), the first at row 1, block 0, class 1"),
    "text logits": ({"logits": [[["a", "b"]]]}, None, "{p}: column 'logits' must hold numbers, found string"),
    "one class": ({"logits": [[[0.1], [0.2]]]}, None,
                  "{p}: 'logits' has K=1 class per exit; an exit trace needs K ≥ 2 classes"),
    "label out of range": ({"logits": GOOD, "label": [0, 1, 1, 0, 7]}, None,
                           "{p}: labels must be -1 (unknown) or a class 0..1 (K=2 from the logits); row 4 has 7"),
    "fractional label": ({"logits": GOOD, "label": [0, 1, 0.5, 0, 1]}, None,
                         "{p}: labels must be whole class indices; row 2 has 0.5"),
    "string labels": ({"logits": GOOD, "label": ["neg", "pos", "pos", "neg", "pos"]}, None,
                      ("{p}: column 'label' holds string, not class indices: write 0..K-1 (null or -1 = unknown) "
                      "and put class names in the metadata's label_names")),
    "numeric text": ({"logits": GOOD, "text": [1, 2, 3, 4, 5]}, None,
                     "{p}: column 'text' must hold strings, found int64"),
    "cost length": ({"logits": GOOD}, {"flops_per_block": [1.0, 2.0]},
                    "{p}: flops_per_block has 2 entries but the logits have L=3 exits"),
    "negative cost": ({"logits": GOOD}, {"flops_per_block": [1.0, -2.0, 1.0]},
                      "{p}: flops_per_block must be finite numbers ≥ 0, got [1.0, -2.0, 1.0]"),
    "proto shape": ({"logits": GOOD, "proto_dist": [[[0.1, 0.2, 0.3]] * 3] * 5}, None,
                    "{p}: 'proto_dist' must be (N, L, K) = (5, 3, 2) like the logits, but it is (5, 3, 3)"),
    "negative distance": ({"logits": GOOD, "proto_dist": [[[0.1, 0.2]] * 3] * 4 + [[[0.1, -0.2]] * 3]}, None,
                          "{p}: 'proto_dist' holds negative distances (the first at row 4); distances are ≥ 0"),
    "lte range": ({"logits": GOOD, "lte": [[0.1, 0.5, 1.5]] * 5}, None, "{p}: 'lte' scores must lie in [0, 1]"),
    "label names": ({"logits": GOOD}, {"label_names": ["a", "b", "c"]},
                    "{p}: label_names must list K=2 class names, got ['a', 'b', 'c']"),
    "bad json": ({"logits": GOOD}, "{not json",
                 ("{p}: the 'exitlens' metadata is not valid JSON (Expecting property name enclosed in double quotes: "
                 "line 1 column 2 (char 1))")),
    "json list": ({"logits": GOOD}, "[1, 2]", "{p}: the 'exitlens' metadata must be a JSON object, got list"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_parquet_says_exactly_what_is_wrong(tmp_path, case):
    cols, meta, message = MALFORMED[case]
    path = _pq(tmp_path, cols, meta)
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert str(err.value) == message.format(p=path)


def test_malformed_files_of_other_kinds(tmp_path):
    def msg(path):
        with pytest.raises(TraceError) as err:
            read_trace(path)
        return str(err.value)

    assert msg(tmp_path / "missing.parquet") == (f"no trace file at {tmp_path / 'missing.parquet'}: give the path of "
                                                 "a .parquet or .npz trace, or of a store folder written by "
                                                 f"`python -m core.inference record --out` {SEE}")
    csv = tmp_path / "t.csv"
    csv.write_text("logits,label\n1,0\n")
    assert msg(csv) == (f"{csv} is neither a Parquet nor an NPZ file (it starts with b'logi'): write the trace with "
                        f"pyarrow.parquet.write_table or numpy.savez {SEE}")
    good = _pq(tmp_path, {"logits": GOOD})
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:60])
    assert msg(cut).startswith(f"{cut} is not a readable Parquet file (") and msg(cut).endswith("; write it again")
    np.savez(tmp_path / "obj.npz", logits=np.zeros((2, 2, 2)), texts=np.array(["a", None], dtype=object))
    assert msg(tmp_path / "obj.npz") == (f"{tmp_path / 'obj.npz'}: array 'texts' is stored as Python objects "
                                         "(pickle), which ExitLens never loads: save strings with dtype=str and "
                                         "numbers as numeric arrays")
    np.savez(tmp_path / "nologits.npz", probs=np.zeros((2, 2, 2)))
    assert msg(tmp_path / "nologits.npz") == (f"{tmp_path / 'nologits.npz'} has no 'logits' array (arrays: ['probs'])"
                                              f": save logits of shape (N, L, K) {SEE}")
    np.savez(tmp_path / "flat.npz", logits=np.zeros((5, 3)))
    assert msg(tmp_path / "flat.npz") == (f"{tmp_path / 'flat.npz'}: 'logits' must be numbers shaped (N samples, "
                                          "L exits, K classes), but it is float64 (5, 3)")
    np.savez(tmp_path / "labels.npz", logits=np.zeros((5, 3, 2)), labels=np.zeros(4))
    assert msg(tmp_path / "labels.npz") == f"{tmp_path / 'labels.npz'}: 4 labels for 5 samples"
    np.savez(tmp_path / "empty.npz", logits=np.zeros((0, 3, 2)))
    assert msg(tmp_path / "empty.npz") == (f"{tmp_path / 'empty.npz'}: the trace is empty (0 samples × 3 exits); it "
                                           "needs at least one of each")

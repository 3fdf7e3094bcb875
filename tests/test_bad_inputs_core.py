"""Bad input through core: odd text, missing pair halves, out-of-range settings, damaged files, unknown
names. Each gets a clear error that says what to do (or is handled), and nothing half-written is left."""

import numpy as np
import pytest
import torch

from core.data import DataError, get_task, load_task
from core.model import MultiExitEncoder, checkpoint, preset, train_wordpiece
from core.policies import make_policy
from core.run import early_exit, record
from core.trace import Trace, TraceError

ODD_TEXTS = {
    "empty": "",
    "whitespace": " \t\n  \r\n",
    "huge_100k": ("a remarkably long review that keeps going " * 2400)[:100_000],
    "control_chars": "good\x00film\x01\x1b[31m red\x7f",
    "zero_width": "gr\u200beat\u200c mo\u200dvie\ufeff",
    "rtl_arabic": "هذا فيلم رائع جدا",
    "rtl_override": "\u202enoitseuq a si siht",
    "hebrew_mixed": "סרט great מצוין",
    "emoji": "🎬🍿👍 loved it 😍",
    "html_script": "<script>alert('x')</script><b>bold</b> & &amp;",
    "cjk": "这部电影很好看",
    "combining": "Z̷̢a̸l̴g̵o̶ text",
    "only_punct": "?!…—«»",
    "surrogate_like": "\U0001F600\U0001F4A9",
}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    tok = train_wordpiece(["a good film .", "a bad film ."] * 10, vocab_size=200, min_frequency=1)
    return MultiExitEncoder(preset("tiny", vocab_size=tok.get_vocab_size())).eval(), tok


@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_odd_text_records_and_exits_cleanly(tiny, name):
    model, tok = tiny
    text = ODD_TEXTS[name]
    tr = record(model, tok, [text, "a good film ."])
    assert tr.logits.shape == (2, 2, 2) and np.isfinite(tr.logits).all() and np.isfinite(tr.entropy).all()
    assert tr.texts[0] == text                       # the text is kept exactly as typed
    res = early_exit(model, tok, make_policy("entropy", threshold=0.5), [text], batch_size=1)
    assert res.exit_block.shape == (1,) and 0 <= res.exit_block[0] < 2


def test_pair_with_a_missing_second_sentence_says_so(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="pair task needs both"):
        record(model, tok, ["one", "two"], ["only one second sentence"])
    tr = record(model, tok, ["a premise ."], [""])          # an empty second sentence is still a pair
    assert tr.texts_b == [""]


@pytest.mark.parametrize("policy,value", [
    ("entropy", float("nan")), ("entropy", -0.1), ("entropy", 1e9), ("norm_entropy", 1.5),
    ("maxprob", float("inf")), ("maxprob", -1.0), ("patience", 0), ("patience", float("nan")),
    ("edr", -3.0), ("frac_reduction", float("nan")),
])
def test_out_of_range_thresholds_are_refused_with_the_valid_range(policy, value):
    with pytest.raises(ValueError, match="range|finite|whole"):
        pol = make_policy(policy, threshold=value)
        tr = Trace(logits=np.zeros((1, 2, 2)), pooled=np.zeros((1, 2, 4)), labels=[0], texts=["x"],
                   flops_per_block=[1, 1], proto_dist=np.ones((1, 2, 2)), lte=np.zeros((1, 2)))
        pol.fires(tr)


def test_unknown_policy_and_task_names_list_the_known_ones():
    with pytest.raises(ValueError, match="choose one of"):
        make_policy("telepathy", threshold=0.1)
    with pytest.raises(DataError, match="sst2"):
        get_task("imagenet")
    with pytest.raises(DataError, match="sst2"):
        load_task("imagenet", "validation")


def test_damaged_trace_files_say_record_again(tmp_path):
    tr = Trace(logits=np.zeros((2, 2, 2)), pooled=np.zeros((2, 2, 4)), labels=[0, 1], texts=["a", "b"],
               flops_per_block=[1.0, 1.0])
    p = tr.save(tmp_path / "t.npz")
    assert Trace.load(p).n == 2
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(TraceError, match="record it again"):
        Trace.load(p)
    (tmp_path / "foreign.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(TraceError, match="damaged"):
        Trace.load(tmp_path / "foreign.npz")
    with pytest.raises(TraceError, match="no trace file"):
        Trace.load(tmp_path / "missing.npz")


def test_a_failed_trace_save_leaves_nothing_half_written(tmp_path, monkeypatch):
    tr = Trace(logits=np.zeros((1, 2, 2)), pooled=np.zeros((1, 2, 4)), labels=[0], texts=["a"],
               flops_per_block=[1.0, 1.0])
    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError):
        tr.save(tmp_path / "t.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_checkpoint_save_leaves_the_old_one_intact(tmp_path, monkeypatch, tiny):
    model, tok = tiny
    checkpoint.save(model, tmp_path / "m", tokenizer=tok)
    before = (tmp_path / "m" / "model.safetensors").read_bytes()
    import core.model.checkpoint as ck
    monkeypatch.setattr(ck, "save_file", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        checkpoint.save(model, tmp_path / "m", tokenizer=tok)
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_checkpoint_with_nan_weights_is_refused(tmp_path, tiny):
    model, tok = tiny
    bad = MultiExitEncoder(model.cfg)
    with torch.no_grad():
        bad.exits[0].classifier.weight.fill_(float("nan"))
    checkpoint.save(bad, tmp_path / "m", tokenizer=tok)
    with pytest.raises(checkpoint.CheckpointError, match="NaN"):
        checkpoint.load(tmp_path / "m")


def test_a_missing_or_corrupt_tokenizer_is_named(tmp_path, tiny):
    model, tok = tiny
    checkpoint.save(model, tmp_path / "m")
    with pytest.raises(checkpoint.CheckpointError, match="tokenizer.json is missing"):
        checkpoint.load_tokenizer(tmp_path / "m")
    (tmp_path / "m" / "tokenizer.json").write_text("{broken")
    with pytest.raises(checkpoint.CheckpointError, match="tokenizer.json is corrupt"):
        checkpoint.load_tokenizer(tmp_path / "m")

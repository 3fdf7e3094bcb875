"""Shared fixtures and helpers (no test module imports another): the hand trace and random traces of the
policy tests, the tiny app models, the app and the Streamlit server of the browser tests. Add here; do not
change the existing ones' behaviour (other test files use them).

``app_models``: a folder of tiny models trained for a few dozen steps on real SST-2 and MRPC (so their
exits are spread over blocks) — fixed weights committed in tests/fixtures/models, nothing is trained — used by
the app tests through ``EXITLENS_MODELS_DIR``; the tests never depend on the shipped models in assets/models.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

from core.policies import POLICIES, FractionalReduction, HybridEDR, MaxProb, Oracle, Patience
from core.trace import Trace
from tests.fixture_models import FIXTURE_MODELS

torch.set_num_threads(1)     # small ops on a busy 2-core machine are many times faster single-threaded
try:                          # numpy's BLAS as well (see app.state)
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1, user_api="blas")
except Exception:
    pass

# AppTest scans the metadata of every installed distribution (~600 here) for Streamlit components on every run:
# 0.5 s of a 0.8 s page run. The installed packages do not change during a test session: scan once. (The real
# server scans once, at start.)
try:
    import functools

    from streamlit.components.v2 import manifest_scanner
    manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)
except ImportError:           # a Streamlit without v2 components does not scan
    pass

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app" / "streamlit_app.py")

@pytest.fixture(autouse=True)
def _the_fast_tier_trains_nothing(request, monkeypatch):
    """Outside the ``slow`` marker no test trains a model: building a torch optimizer fails it (the tiny models
    the fast tests need are fixed weights, tests/fixture_models.py)."""
    if request.node.get_closest_marker("slow") is not None:
        return

    def refuse(self, *args, **kwargs):
        raise AssertionError("this test trains a model (it built a torch optimizer) but is not marked slow: mark it "
                             "@pytest.mark.slow, or load fixed weights (tests/fixture_models.py)")

    monkeypatch.setattr(torch.optim.Optimizer, "__init__", refuse)


@pytest.fixture(scope="session")
def app_models(tmp_path_factory) -> Path:
    """A models folder with the tiny app models (fixed weights, tests/fixture_models.py) and a trace cache next to
    it: a copy, so that no test can change the committed files."""
    models = tmp_path_factory.mktemp("app") / "models"
    shutil.copytree(FIXTURE_MODELS, models)
    return models


@pytest.fixture
def app_env(app_models, monkeypatch, tmp_path_factory):
    """Environment for an app test: the fixture models, a session-wide trace cache, PCA only, offline."""
    cache = app_models.parent / "cache"
    monkeypatch.setenv("EXITLENS_MODELS_DIR", str(app_models))
    monkeypatch.setenv("EXITLENS_MODEL", "tiny-sst2")
    monkeypatch.setenv("EXITLENS_CACHE", str(cache))
    monkeypatch.setenv("EXITLENS_PROJECTION", "pca")
    monkeypatch.setenv("EXITLENS_OFFLINE", "1")
    # typed paths are read only inside allowed folders (core.run.allowed): the tests' own temporary folders
    monkeypatch.setenv("EXITLENS_ALLOWED_DIRS", str(tmp_path_factory.getbasetemp()))
    return app_models


@pytest.fixture
def make_app(app_env):
    """``make_app(page="thresholds", limit=200, policy="maxprob")`` → an AppTest that has run that page
    with those query parameters, and raised nothing."""
    from streamlit.testing.v1 import AppTest

    def make(page: str | None = None, run: bool = True, **query):
        at = AppTest.from_file(APP, default_timeout=90)
        for k, v in query.items():
            at.query_params[k] = str(v)
        if page is not None:          # open that page first, as its URL (/thresholds?…) would
            at.switch_page(f"views/{page}.py")
        if run:
            at.run()
            assert not at.exception, [e.value for e in at.exception]
        return at

    return make


@pytest.fixture
def dev_trace(app_env):
    """The tiny SST-2 model's dev-set Trace, as the Threshold debugger and Prototypes pages record it."""
    from core.run import trace_for

    return trace_for(app_env / "tiny-sst2", "sst2", "validation", limit=1000)


def metric_value(at, label: str):
    """The value of the app's ``st.metric`` with this label (StopIteration if the page drew none)."""
    return next(m.value for m in at.metric if m.label == label)


def submit_sentence(at, text: str, text_b: str | None = None):
    """Type ``text`` (and ``text_b``, a pair task's second sentence) into the Playground and press Run;
    the AppTest after that run."""
    at.text_area(key="pg_text").input(text)
    if text_b is not None:
        at.text_area(key="pg_text_b").input(text_b)
    next(b for b in at.button if b.label == "Run").click()
    return at.run()


# ── the hand trace ───────────────────────────────────────────────────────────────────────────────
# 3 samples × 4 blocks, K = 2, logits = log p so the probabilities are exactly these (labels 0, 1, 0):
#   sample 0: (.6,.4) (.9,.1) (.99,.01) (.99,.01)   preds 0 0 0 0   right everywhere
#   sample 1: (.7,.3) (.4,.6) (.2,.8)   (.1,.9)     preds 0 1 1 1   right from block 1
#   sample 2: (.9,.1) (.3,.7) (.6,.4)   (.2,.8)     preds 0 1 0 1   right at 0 and 2, wrong at the end
# Entropies in nats, H(.6)=.673012 H(.9)=.325083 H(.99)=.056002 H(.7)=.610864 H(.8)=.500402:
#   sample 0: .673 .325 .056 .056 ; sample 1: .611 .673 .500 .325 ; sample 2: .325 .611 .673 .500
P = np.array([
    [[.6, .4], [.9, .1], [.99, .01], [.99, .01]],
    [[.7, .3], [.4, .6], [.2, .8], [.1, .9]],
    [[.9, .1], [.3, .7], [.6, .4], [.2, .8]],
])
# prototype distances (predicted class first): sample 0 r1=1 r2=3 → DR 1/6; sample 1 r1=3 r2=1 → DR 5/6
# (block 0 predicts 0, blocks 1-3 predict 1); sample 2 equidistant → DR 1/2
D = np.array([[[1, 3]] * 4, [[3, 1], [1, 3], [1, 3], [1, 3]], [[2, 2]] * 4], dtype=float)
LTE = np.array([[.9, .8, .01, .3], [.5, .4, .3, .2], [.05, .9, .9, .9]])


def core_run(models: Path, name: str, text: str, policy: str, text_b: str | None = None, label: int | None = None,
             **params):
    """(exits, trace) of one sentence through core, on the same model and policy a page test uses: what the
    Playground must show (exit block ``exits.exit_block[0] + 1`` of ``trace.n_blocks``, class ``exits.pred[0]``)."""
    from core.data import get_task
    from core.model import checkpoint
    from core.policies import decide, make_policy
    from core.run import record

    d = models / name
    model, tok = checkpoint.load(d), checkpoint.load_tokenizer(d)
    task = get_task(checkpoint.load_card(d)["task"])
    tr = record(model, tok, [text], None if text_b is None else [text_b], None if label is None else [label],
                batch_size=1, max_len=128, meta={"label_names": list(task.label_names)})
    return decide(make_policy(policy, **params), tr), tr


def chart_data(at, contains: str) -> dict[str, dict[str, list]]:
    """{trace name: {"x": [...], "y": [...]}} of the first plotly chart on an AppTest page whose JSON contains
    ``contains``, decoded as the browser decodes it (numpy arrays travel as {"dtype", "bdata": base64})."""
    import base64

    def values(v):
        if isinstance(v, dict):
            return list(np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(float))
        return [np.nan if x is None else x for x in v]

    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if contains in c.proto.spec)
    return {t.get("name"): {"x": values(t.get("x", [])), "y": values(t.get("y", []))} for t in spec["data"]}


def hand_exit(logits: np.ndarray, signal: str, threshold: float, min_block: int = 0) -> np.ndarray:
    """(N,) exit blocks worked out without core: softmax of each exit's logits, then the first block ≥ min_block
    whose entropy in nats is ≤ S ("entropy") or whose top probability is ≥ τ ("maxprob"); the last block when
    none is. An independent expectation for pages and reports that show exit numbers."""
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    if signal == "entropy":
        fires = -(p * np.log(np.clip(p, 1e-300, None))).sum(-1) <= threshold
    elif signal == "maxprob":
        fires = p.max(-1) >= threshold
    else:
        raise ValueError(signal)
    fires[:, :min_block] = False
    n, n_blocks = fires.shape
    return np.array([next((i for i in range(n_blocks) if fires[j, i]), n_blocks - 1) for j in range(n)])


def trace_of(logits, labels=None, **fields) -> Trace:
    """A Trace around given logits (N, L, K): unlabelled unless ``labels``; pooled zeros, texts s0 s1 …, FLOPs 1 a
    block, unless ``fields`` say otherwise."""
    logits = np.asarray(logits)
    n, n_blocks, _ = logits.shape
    base = dict(pooled=np.zeros((n, n_blocks, 1)), texts=[f"s{i}" for i in range(n)],
                labels=np.full(n, -1) if labels is None else labels, flops_per_block=np.ones(n_blocks))
    return Trace(logits=logits, **{**base, **fields})


def random_trace(n=240, n_blocks=5, k=3, seed=0, labels=None, flops=None, *, scale=2.0, coarse=False,
                 protos=True, embed_dim=0, pooled_dim=0, unknown=0, **extra) -> Trace:
    """The shared synthetic Trace; draws in this order from ``seed``:

    - logits ~ N(0, ``scale``²) — or, ``coarse``, integers in [−2, 2] (many ties) plus half a logit per block on
      the true class, so that exits improve with depth (float32);
    - labels, uniform (or ``labels``); the first ``unknown`` of them −1;
    - ``protos``: prototype distances and learn-to-exit scores, uniform on [0, 1) (coarse: integers 0–3 and
      quarters); with ``embed_dim``, prototype embeddings (float16) and the prototypes, N(0, 1);
    - ``pooled_dim``: pooled states N(0, 1) in float16 (0: zeros of width 1).

    FLOPs per block 1, 2, … (or ``flops``); anything else (texts, texts_b, meta, flops_embed …) from ``extra``."""
    rng = np.random.default_rng(seed)
    shape = (n, n_blocks, k)
    if coarse:
        labels = rng.integers(0, k, n) if labels is None else np.asarray(labels)
        logits = rng.integers(-2, 3, shape).astype(np.float32)
        logits[np.arange(n), :, labels] += np.arange(n_blocks, dtype=np.float32)[None] / 2
    else:
        logits = rng.normal(size=shape) * scale
        labels = rng.integers(0, k, n) if labels is None else labels
    labels = np.array(labels)
    labels[:unknown] = -1
    fields = {}
    if protos:
        fields = (dict(proto_dist=rng.integers(0, 4, shape).astype(np.float32), lte=rng.integers(0, 5, shape[:2]) / 4.0)
                  if coarse else dict(proto_dist=rng.random(shape), lte=rng.random(shape[:2])))
        if embed_dim:
            fields.update(proto_emb=rng.normal(size=(n, n_blocks, embed_dim)).astype(np.float16),
                          prototypes=rng.normal(size=(n_blocks, k, embed_dim)))
    pooled = (rng.normal(size=(n, n_blocks, pooled_dim)).astype(np.float16) if pooled_dim
              else np.zeros((n, n_blocks, 1)))
    return trace_of(logits, labels, **{"pooled": pooled, "texts": ["t"] * n,
                                       "flops_per_block": np.arange(1.0, n_blocks + 1) if flops is None else flops,
                                       **fields, **extra})


def hand_trace(**kw) -> Trace:
    args = dict(logits=np.log(P), pooled=np.zeros((3, 4, 1)), labels=[0, 1, 0], texts=["a", "b", "c"],
                flops_per_block=[10, 20, 30, 40], flops_embed=5, proto_dist=D, lte=LTE)
    args.update(kw)
    return Trace(**args)


# ── random traces for the properties ────────────────────────────────────────────────────────────

@st.composite
def traces(draw, max_n=8, max_blocks=5):
    """Small traces with many ties: integer logits, distances and LTE scores on a coarse grid."""
    n = draw(st.integers(1, max_n))
    n_blocks = draw(st.integers(1, max_blocks))
    k = draw(st.integers(2, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.integers(-2, 3, (n, n_blocks, k)).astype(np.float32) * draw(st.sampled_from([0.5, 1.0, 3.0]))
    return Trace(logits=logits, pooled=np.zeros((n, n_blocks, 1)), labels=rng.integers(0, k, n),
                 texts=[""] * n, flops_per_block=rng.integers(1, 5, n_blocks).astype(float), flops_embed=1.0,
                 proto_dist=rng.integers(0, 4, (n, n_blocks, k)).astype(np.float32),
                 lte=rng.integers(0, 5, (n, n_blocks)) / 4.0)


def threshold_for(cls, tr: Trace, u: float):
    lo, hi = cls.threshold_range(tr)
    if cls is Patience:
        return float(1 + round(u * tr.n_blocks))              # 1..L (L never fires)
    return lo + u * (hi - lo)


def build(name: str, tr: Trace, u: float, per_block: bool = False, **kw):
    cls = POLICIES[name]
    if cls is Oracle:
        return Oracle(**kw)
    if per_block:
        rng = np.random.default_rng(int(u * 1e6))
        thr = np.array([threshold_for(cls, tr, v) for v in rng.random(tr.n_blocks)])
    else:
        thr = threshold_for(cls, tr, u)
    extra = {"fallback": "most_confident"} if cls is MaxProb and u > .5 else {}
    if cls is FractionalReduction:
        extra = {"direction": "above" if u > .5 else "below", "reference": "first" if u > .3 else "previous"}
    if cls is HybridEDR:
        extra = {"lam": 2 * u}
    return cls(thr, **extra, **kw)


# ── the Streamlit server the browser tests drive (started as the README starts it) ──────────────────

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(app_models, tmp_path):
    port = _free_port()
    env = dict(os.environ, EXITLENS_MODELS_DIR=str(app_models), EXITLENS_MODEL="tiny-sst2",
               EXITLENS_CACHE=str(app_models.parent / "cache"), EXITLENS_PROJECTION="pca", EXITLENS_OFFLINE="1")
    streamlit = str(Path(sys.executable).with_name("streamlit"))
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([streamlit, "run", "app/streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.25)
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "server.log").read_text())
        else:
            raise RuntimeError("the Streamlit server did not come up in 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# ── tiny Hugging Face sources (built with transformers, saved to a folder — no network) ─────────────

HF_MAX_LEN = 64


def tiny_tokenizer(kind: str, texts: list[str]):
    """The family's own transformers tokenizer class over a vocabulary trained on ``texts``."""
    import transformers as T
    from tokenizers import ByteLevelBPETokenizer, SentencePieceUnigramTokenizer

    if kind in ("bert", "distilbert", "electra"):
        from core.model import train_wordpiece
        vocab = train_wordpiece(texts, vocab_size=400, min_frequency=1).get_vocab()
        return {"bert": T.BertTokenizer, "distilbert": T.DistilBertTokenizer, "electra": T.ElectraTokenizer}[kind](
            vocab=vocab)
    if kind == "roberta":
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(texts, vocab_size=400, min_frequency=1, show_progress=False,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
        spec = json.loads(bpe.to_str())["model"]
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in spec["merges"]]
        return T.RobertaTokenizer(vocab=spec["vocab"], merges=merges)
    spm = SentencePieceUnigramTokenizer()
    spm.train_from_iterator([t.lower() for t in texts], vocab_size=400, show_progress=False, unk_token="<unk>",
                            special_tokens=["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"])
    # Unigram training is not deterministic, and a piece made of one repeated character ("..") makes exact ties
    # ("..." = ".." + "." = "." + ".."), which transformers' and core's Unigram lattices break differently: the
    # tiny vocabulary leaves such pieces out (the test is about the model's logits, not tie-breaking)
    vocab = [tuple(v) for v in json.loads(spm.to_str())["model"]["vocab"]
             if not (len(v[0].lstrip("▁")) > 1 and len(set(v[0].lstrip("▁"))) == 1)]
    return T.AlbertTokenizer(vocab=vocab)


def tiny_config(kind: str, vocab_size: int):
    """3–4 layers × 32 wide; initializer_range 0.3 so that logits are O(1) and a 1e-4 tolerance has teeth.
    ELECTRA and ALBERT get an E→D embedding projection, ALBERT shared groups of two layers each."""
    import transformers as T

    common = {"vocab_size": vocab_size, "num_labels": 2, "initializer_range": 0.3}
    bert = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=HF_MAX_LEN, **common)
    return {
        "bert": lambda: T.BertConfig(**bert),
        "distilbert": lambda: T.DistilBertConfig(dim=32, n_layers=3, n_heads=2, hidden_dim=64,
                                                 max_position_embeddings=HF_MAX_LEN, **common),
        "roberta": lambda: T.RobertaConfig(**{**bert, "max_position_embeddings": HF_MAX_LEN + 2}, pad_token_id=1,
                                           bos_token_id=0, eos_token_id=2, type_vocab_size=1),
        "electra": lambda: T.ElectraConfig(embedding_size=16, **bert),
        "albert": lambda: T.AlbertConfig(embedding_size=16, **{**bert, "num_hidden_layers": 4}, num_hidden_groups=2,
                                         inner_group_num=2, pad_token_id=0),
    }[kind]()


def build_source(kind: str, out, texts: list[str], bare: bool = False):
    """A random *ForSequenceClassification (or bare encoder) + tokenizer, saved with save_pretrained."""
    import transformers as T

    torch.manual_seed(0)
    tok = tiny_tokenizer(kind, texts)
    cls = T.AutoModel if bare else T.AutoModelForSequenceClassification
    cls.from_config(tiny_config(kind, len(tok))).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out


# decoder classifiers (issue 19): a byte-level BPE tokenizer trained on real sentences, tiny random configs

DECODERS = ("gpt2", "llama", "mistral", "qwen2", "qwen3", "gemma", "phi3")


def tiny_decoder_tokenizer(kind: str, texts: list[str], padding_side: str):
    """GPT-2: no special token added, pad = <|endoftext|> (what users set); the others add <s> and pad with <pad>."""
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>"] if kind == "gpt2" else ["<unk>", "<s>", "</s>", "<pad>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=400, min_frequency=1, show_progress=False, special_tokens=specials)
    tok = bpe._tokenizer
    if kind == "gpt2":
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=specials[0], eos_token=specials[0],
                                       unk_token=specials[0], pad_token=specials[0], padding_side=padding_side)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", padding_side=padding_side)


def tiny_decoder_config(kind: str, tok, n_labels: int = 2):
    """3 layers × 32 wide, grouped K/V where the family has it; Mistral and Qwen2 get an 8-token sliding window
    (Qwen2 on its first layer only) so that windowed layers are exercised on 20–40-token sentences."""
    import transformers as T

    ids = {"pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    common = dict(vocab_size=len(tok), num_labels=n_labels, initializer_range=0.3, **ids)
    rope = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=128, **common)
    return {
        "gpt2": lambda: T.GPT2Config(n_embd=32, n_layer=3, n_head=4, n_positions=128, **common),
        "llama": lambda: T.LlamaConfig(**rope),
        "mistral": lambda: T.MistralConfig(**rope, sliding_window=8),
        "qwen2": lambda: T.Qwen2Config(**rope, use_sliding_window=True, sliding_window=8, max_window_layers=1),
        "qwen3": lambda: T.Qwen3Config(**rope, head_dim=8),
        "gemma": lambda: T.GemmaConfig(**rope, head_dim=8),
        "phi3": lambda: T.Phi3Config(**rope),
    }[kind]()


def build_decoder_source(kind: str, out, texts: list[str], padding_side: str = "right", n_labels: int = 2):
    """A random decoder *ForSequenceClassification + its tokenizer, saved with save_pretrained."""
    import transformers as T

    torch.manual_seed(0)
    tok = tiny_decoder_tokenizer(kind, texts, padding_side)
    T.AutoModelForSequenceClassification.from_config(tiny_decoder_config(kind, tok, n_labels)).eval() \
        .save_pretrained(out)
    tok.save_pretrained(out)
    return out


# encoders with relative or rotary positions (issue 19)

REL_ENCODERS = ("mpnet", "deberta-v2", "modernbert")


def build_rel_encoder_source(kind: str, out, texts: list[str], n_labels: int = 2, **extra):
    """MPNet with RoBERTa's byte-level tokenizer (<s> A </s></s> B </s>, <pad> = 1), DeBERTa-v3 and ModernBERT with a
    WordPiece one; 3 layers × 32 wide. ModernBERT alternates global and ±4-token local attention (so 20–40-token
    sentences exercise the window) and pools ``extra.get('classifier_pooling', 'cls')``."""
    import transformers as T

    torch.manual_seed(0)
    tok = tiny_tokenizer("roberta" if kind == "mpnet" else "bert", texts)
    common = dict(vocab_size=len(tok), num_labels=n_labels, initializer_range=0.3, hidden_size=32,
                  num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, pad_token_id=tok.pad_token_id)
    config = {
        "mpnet": lambda: T.MPNetConfig(**common, max_position_embeddings=HF_MAX_LEN + 2, bos_token_id=0,
                                       eos_token_id=2),
        "deberta-v2": lambda: T.DebertaV2Config(**common, max_position_embeddings=HF_MAX_LEN, relative_attention=True,
                                                position_buckets=16, max_relative_positions=HF_MAX_LEN,
                                                pos_att_type=["p2c", "c2p"], position_biased_input=False,
                                                norm_rel_ebd="layer_norm", type_vocab_size=0, pooler_hidden_size=32),
        "modernbert": lambda: T.ModernBertConfig(**common, max_position_embeddings=HF_MAX_LEN, local_attention=8,
                                                 global_attn_every_n_layers=2, cls_token_id=tok.cls_token_id,
                                                 sep_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id,
                                                 eos_token_id=tok.sep_token_id, **extra),
    }[kind]()
    T.AutoModelForSequenceClassification.from_config(config).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out

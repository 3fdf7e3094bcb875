"""The pretrained MiniLM-L6 loads offline into the BERT-block encoder and matches HF BertModel."""
import torch

from core.model import load_minilm, model_dir


def test_final_hidden_states_match_transformers_bertmodel():
    from transformers import BertModel

    ours = load_minilm().eval()
    assert ours.n_pretrained == 101     # every embedding and block tensor came from the package
    hf = BertModel.from_pretrained(str(model_dir())).eval()
    torch.manual_seed(0)
    ids = torch.randint(1000, 20000, (3, 16))
    ids[:, 0] = 101
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    types = torch.zeros_like(ids)
    types[2, 8:] = 1
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        got = ours(ids, mask, types, return_hidden=True).hidden[-1]
    keep = mask.bool()
    assert (ref - got)[keep].abs().max().item() < 1e-4


def test_trimmed_vocabulary_gives_identical_outputs_on_covered_text():
    from core.data import load_task
    from core.model import encode_batch, load_minilm_tokenizer, task_token_ids, trim_vocab

    torch.set_num_threads(1)
    model, tok = load_minilm().eval(), load_minilm_tokenizer()
    texts = list(load_task("sst2", "validation", limit=64)["text"])
    small, small_tok = trim_vocab(model, tok, task_token_ids(tok, texts, common=0))
    assert small.cfg.vocab_size < 6000 and small_tok.get_vocab_size() == small.cfg.vocab_size
    a, b = encode_batch(tok, texts[:16]), encode_batch(small_tok, texts[:16])
    with torch.no_grad():
        ref = model(a["input_ids"], a["attention_mask"]).pooled
        got = small(b["input_ids"], b["attention_mask"]).pooled
    assert torch.allclose(ref, got, atol=1e-6)
    # an unseen word still splits into pieces (single characters are always kept), never a lone [UNK]
    assert "[UNK]" not in small_tok.encode("zyzzyva").tokens

"""The pretrained MiniLM-L6 loads offline into the BERT-block encoder and matches HF BertModel."""
import torch

from core.minilm import load_minilm, model_dir


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

"""COST-EFF slenderization: width shrinks, depth and every exit stay, the kept parts are the important ones."""
import torch

from core.model import MultiExitEncoder, preset, slenderize, taylor_scores
from core.train import exit_loss


def test_full_width_slenderize_is_the_identity():
    torch.manual_seed(0)
    m = MultiExitEncoder(preset("tiny-bert")).eval()
    s = slenderize(m)
    ids = torch.randint(5, 256, (2, 6))
    with torch.no_grad():
        assert torch.allclose(m(ids).logits, s(ids).logits, atol=1e-5)


def test_full_rank_svd_embedding_is_exact():
    torch.manual_seed(0)
    m = MultiExitEncoder(preset("tiny")).eval()
    s = slenderize(m, emb_rank=m.cfg.hidden)
    ids = torch.randint(5, 256, (2, 6))
    with torch.no_grad():
        assert torch.allclose(m(ids).logits, s(ids).logits, atol=1e-4)


def test_narrower_model_keeps_depth_and_exits_and_drops_unimportant_heads():
    torch.manual_seed(0)
    for block in ("tiny", "tiny-bert"):
        m = MultiExitEncoder(preset(block)).eval()
        # make head 1 of block 0 useless: zero its output-projection columns
        with torch.no_grad():
            m.blocks[0].attn.out.weight[:, 16:32] = 0
        ids = torch.randint(5, 256, (4, 6))
        y = torch.tensor([0, 1, 0, 1])
        scores = taylor_scores(m, [(ids, y)], lambda mod, b: exit_loss(mod(b[0]).logits, b[1]))
        s = slenderize(m, n_heads=1, ffn=32, emb_rank=8, scores=scores)
        assert s.cfg.n_blocks == m.cfg.n_blocks and len(s.exits) == len(m.exits)
        assert (s.cfg.n_heads, s.cfg.ffn, s.cfg.emb_rank) == (1, 32, 8)
        assert s.n_params() < m.n_params()
        # head 0 survived in block 0 (its query rows are the first 16 of the original)
        assert torch.equal(s.blocks[0].attn.query.weight, m.blocks[0].attn.query.weight[:16])
        assert s(ids).logits.shape == m(ids).logits.shape

"""The multi-exit encoder: shapes, presets, blocks, FLOPs."""
import time

import pytest
import torch

from core.model import PRESETS, BinaryLinear, ModelConfig, MultiExitEncoder, SLFNBlock, pool, preset, prototype_distance


def test_tiny_builds_fast_and_every_exit_has_the_right_shape():
    t0 = time.perf_counter()
    m = MultiExitEncoder(preset("tiny"))
    assert time.perf_counter() - t0 < 1.0
    ids = torch.randint(5, 256, (3, 9))
    out = m(ids, torch.ones_like(ids), return_hidden=True)
    c = m.cfg
    assert out.logits.shape == (3, c.n_blocks, c.n_classes)
    assert out.pooled.shape == (3, c.n_blocks, c.hidden)
    assert out.proto_emb.shape == (3, c.n_blocks, c.proto_dim)
    assert out.proto_dist.shape == (3, c.n_blocks, c.n_classes)
    assert out.lte.shape == (3, c.n_blocks) and ((out.lte >= 0) & (out.lte <= 1)).all()
    assert len(out.hidden) == c.n_blocks and out.hidden[0].shape == (3, 9, c.hidden)


def test_minilm_preset_has_the_minilm_layout():
    c = PRESETS["minilm"]
    assert (c.n_blocks, c.hidden, c.n_heads, c.ffn, c.vocab_size, c.block) == (6, 384, 12, 1536, 30522, "bert")


def test_binarize_config_selects_the_parts():
    m = MultiExitEncoder(preset("tiny", binarize=("attention",)))
    assert isinstance(m.blocks[0].attn.query, BinaryLinear)
    assert not isinstance(m.blocks[0].gate_in, BinaryLinear)
    assert not isinstance(m.exits[0].classifier, BinaryLinear)
    m = MultiExitEncoder(preset("tiny", binarize=("ffn", "heads")))
    assert isinstance(m.blocks[0].gate_in, BinaryLinear) and isinstance(m.exits[1].classifier, BinaryLinear)


def test_bad_config_names_the_problem():
    with pytest.raises(ValueError, match="binarize has unknown parts"):
        ModelConfig(binarize=("everything",))
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_slfn_block_follows_the_gated_formula():
    torch.manual_seed(0)
    cfg = preset("tiny")
    blk = SLFNBlock(cfg).eval()
    x = torch.randn(2, 5, cfg.hidden)
    bias = torch.zeros(2, 1, 1, 5)
    a = blk.norm1(x + blk.attn(x, bias))
    ref = blk.norm2(a + blk.gate_out(torch.sigmoid(blk.gate_in(a))) * blk.cand_out(torch.tanh(blk.cand_in(a))))
    assert torch.allclose(blk(x, bias), ref, atol=1e-6)


def test_padding_does_not_change_a_sample():
    torch.manual_seed(0)
    m = MultiExitEncoder(preset("tiny-bert", pooling="mean")).eval()
    ids = torch.randint(5, 256, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 4)], 1).long()
    with torch.no_grad():
        a, b = m(ids).logits, m(padded, mask).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_pool_and_distances_by_hand():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(h, mask, "cls").tolist() == [[1.0, 2.0]]
    assert pool(h, mask, "mean").tolist() == [[2.0, 3.0]]
    e = torch.tensor([[1.0, 0.0]])
    protos = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert prototype_distance(e, protos, "sqeuclidean").tolist() == [[0.0, 5.0]]
    assert prototype_distance(e, protos, "cosine")[0].tolist() == pytest.approx([0.0, 1.0])


def test_flops_by_hand_for_the_bert_layer_formula():
    # methods.md §6: n·(4·d·d_a + 2·d·d_ff) + 2·n²·d_a MACs; BERT-base at n=128 ≈ 0.931 GMAC
    cfg = ModelConfig(hidden=768, n_heads=12, head_dim=64, ffn=3072, block="bert", proto_dim=0, lte=False,
                      n_classes=2)
    m = MultiExitEncoder.__new__(MultiExitEncoder)
    m.cfg = cfg
    head = 768 * 2
    assert m.flops_per_block(128) == pytest.approx(
        2 * (128 * (4 * 768 * 768 + 2 * 768 * 3072) + 2 * 128**2 * 768 + head))
    assert m.flops_per_block(128) / 2 / 1e9 == pytest.approx(0.931, abs=0.002)

"""Multi-head attention and Q-Former blocks: shapes, key-padding masks, and routing through the dispatch."""
import pytest
import torch
from testing_utils import counting_attention_backend

from imagin4d.models.layers import MultiHeadAttention, QFormer, QFormerBlock, set_attn_backend

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def test_multihead_attention_shapes_and_masked_rows():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, context_dim=10)
    x, ctx = torch.randn(3, 5, 16), torch.randn(3, 7, 10)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1] = False                 # nothing to attend to
    mask[2, 3:] = False
    out = mha(x, ctx, key_padding_mask=mask)
    assert out.shape == (3, 5, 16) and torch.isfinite(out).all()
    assert torch.count_nonzero(out[1]) == 0
    ctx2 = ctx.clone()
    ctx2[2, 3:] = 1e3               # garbage in padded keys
    torch.testing.assert_close(mha(x, ctx2, key_padding_mask=mask), out)
    assert MultiHeadAttention(16, 4)(x).shape == (3, 5, 16)
    with pytest.raises(ValueError, match='divisible'):
        MultiHeadAttention(10, 4)
    assert MultiHeadAttention(10, 4, head_dim=3)(torch.randn(1, 2, 10)).shape == (1, 2, 10)


def test_qformer_shapes_masks_and_given_queries():
    torch.manual_seed(0)
    qf = QFormer(dim=32, context_dim=24, num_queries=3, depth=2, num_heads=4)
    patches = torch.randn(2, 9, 24)
    assert qf(patches).shape == (2, 3, 32)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, 6:] = False
    noisy = patches.clone()
    noisy[0, 6:] = torch.randn(3, 24) * 50
    torch.testing.assert_close(qf(patches, mask), qf(noisy, mask))
    assert not torch.allclose(qf(patches), qf(noisy))
    given = torch.randn(2, 11, 32)
    assert qf(patches, queries=given).shape == (2, 11, 32)
    with pytest.raises(ValueError, match='needs queries'):
        QFormer(32, 24, num_queries=0)(patches)


def test_qformer_query_mask_isolates_padded_queries():
    """With query_mask, valid queries ignore padded ones in self-attention (cross-attention is per query)."""
    torch.manual_seed(0)
    block = QFormerBlock(16, 2, context_dim=8)
    q, ctx = torch.randn(1, 6, 16), torch.randn(1, 4, 8)
    qmask = torch.tensor([[True, True, True, True, False, False]])
    q2 = q.clone()
    q2[0, 4:] += 10.0
    torch.testing.assert_close(block(q, ctx, query_mask=qmask)[:, :4], block(q2, ctx, query_mask=qmask)[:, :4])
    torch.testing.assert_close(block(q, ctx, query_mask=qmask)[:, :4], block(q[:, :4], ctx))


def test_math_and_sdpa_agree_and_calls_are_counted():
    with counting_attention_backend('test_counting_qformer') as calls:
        torch.manual_seed(0)
        qf = QFormer(dim=32, context_dim=24, num_queries=3, depth=2, num_heads=4, attn_backend='math')
        patches, mask = torch.randn(2, 9, 24), torch.ones(2, 9, dtype=torch.bool)
        mask[1, :4] = False
        ref = qf(patches, mask)
        set_attn_backend(qf, 'sdpa')
        torch.testing.assert_close(qf(patches, mask), ref, atol=1e-5, rtol=1e-5)
        set_attn_backend(qf, 'test_counting_qformer')
        torch.testing.assert_close(qf(patches, mask), ref, atol=1e-6, rtol=1e-6)
        assert len(calls) == 4                      # depth 2 x (self + cross)
        with pytest.raises(ValueError, match='unknown attention backend'):
            set_attn_backend(qf, 'nope')

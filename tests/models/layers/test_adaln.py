"""AdaLN-Zero modulation and the modulated transformer block: zero at init (identity), fusion modes, shapes."""
import pytest
import torch
from testing_utils import perturb_adaln

from imagin4d.models.layers import AdaLNFinalLayer, AdaLNTransformerBlock, AdaLNZero, modulate

pytestmark = pytest.mark.usefixtures('single_torch_thread')



def test_adaln_zero_outputs_zero_at_init_with_both_shapes():
    ada = AdaLNZero(cond_dim=8, dim=5, num_chunks=6)
    per_seq = ada(torch.randn(3, 8))
    per_frame = ada(torch.randn(3, 7, 8))
    assert len(per_seq) == 6 and all(c.shape == (3, 1, 5) for c in per_seq)
    assert all(c.shape == (3, 7, 5) for c in per_frame)
    assert all(torch.count_nonzero(c) == 0 for c in per_seq + per_frame)
    with pytest.raises(ValueError, match=r'\(B, C\) or \(B, T, C\)'):
        ada(torch.randn(8))


def test_modulate_by_hand():
    x = torch.tensor([[[1.0, 2.0]]])
    out = modulate(x, shift=torch.tensor([[[0.5, -1.0]]]), scale=torch.tensor([[[1.0, -0.5]]]))
    torch.testing.assert_close(out, torch.tensor([[[2.5, 0.0]]]))   # 1 * 2 + 0.5, 2 * 0.5 - 1


@pytest.mark.parametrize('cross', [False, True])
@pytest.mark.parametrize('fusion', ['sum', 'separate'])
def test_fresh_block_is_identity(cross, fusion):
    torch.manual_seed(0)
    block = AdaLNTransformerBlock(16, 4, cond_dim=12, cross_attention=cross, context_dim=10, fusion=fusion,
                                  stream_names=('base', 'waypoint'))
    x = torch.randn(2, 9, 16)
    cond = torch.randn(2, 9, 12) if fusion == 'sum' else {'base': torch.randn(2, 12), 'waypoint': torch.randn(2, 9, 12)}
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 5:] = False
    out = block(x, cond, key_padding_mask=mask, context=torch.randn(2, 4, 10) if cross else None)
    assert torch.equal(out, x)
    perturb_adaln(block)
    out = block(x, cond, key_padding_mask=mask, context=torch.randn(2, 4, 10) if cross else None)
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_separate_fusion_zero_stream_equals_absent_stream():
    ada = perturb_adaln(AdaLNZero(6, 4, num_chunks=2, fusion='separate', stream_names=('base', 'waypoint')))
    base = torch.randn(2, 6)
    omitted = ada({'base': base})
    zeroed = ada({'base': base, 'waypoint': torch.zeros(2, 5, 6)})
    none = ada({'base': base, 'waypoint': None})
    for a, b, c in zip(omitted, zeroed, none):
        torch.testing.assert_close(a.expand_as(b), b)
        torch.testing.assert_close(a, c)
    used = ada({'base': base, 'waypoint': torch.randn(2, 5, 6)})
    assert not torch.allclose(used[0], zeroed[0])
    with pytest.raises(KeyError, match='unknown conditioning streams'):
        ada({'base': base, 'image': base})
    with pytest.raises(TypeError):
        ada(base)


def test_sum_fusion_rejects_dict_and_separate_needs_names():
    with pytest.raises(TypeError):
        AdaLNZero(4, 4)({'base': torch.randn(1, 4)})
    with pytest.raises(ValueError, match='stream_names'):
        AdaLNZero(4, 4, fusion='separate')


def test_per_frame_conditioning_acts_per_frame():
    """A change of the conditioning at frame 3 changes only frame 3 of an MLP-only path (no attention mixing)."""
    ada = perturb_adaln(AdaLNZero(6, 4, num_chunks=3))
    cond = torch.randn(1, 5, 6)
    changed = cond.clone()
    changed[0, 3] += 1.0
    for a, b in zip(ada(cond), ada(changed)):
        diff = (a - b).abs().sum(-1)[0]
        assert diff[3] > 0 and torch.count_nonzero(diff) == 1


def test_final_layer_shapes_and_zero_init():
    layer = AdaLNFinalLayer(16, 220, cond_dim=8)
    x = torch.randn(2, 6, 16)
    assert layer(x, torch.randn(2, 8)).shape == (2, 6, 220)
    zero = AdaLNFinalLayer(16, 220, cond_dim=8, zero_init=True)
    assert torch.count_nonzero(zero(x, torch.randn(2, 6, 8))) == 0

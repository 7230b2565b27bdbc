"""Issue 23, the lean training step: SFIE's role heads as one batched computation (`stacked_qformers`) and the
'separate' AdaLN's few-pass combination compute the same function as the straightforward forms (a loop over the
Q-Formers; b + sum_s W_s SiLU(c_s) written out per stream): outputs and every gradient agree to float32 rounding."""
import copy

import pytest
import torch
import torch.nn.functional as F

from imagin4d.models.cues import SpatiallyFactorizedImageEncoder
from imagin4d.models.cues import sfie as sfie_module
from imagin4d.models.layers import AdaLNZero, GatedStream, QFormer, can_stack, stacked_qformers

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def _randomised(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for p in module.parameters():                   # zero-initialised positions / AdaLN made non-trivial
        p.data = 0.3 * torch.randn(p.shape, generator=gen)
    return module


def _heads(roles=4, **kwargs):
    torch.manual_seed(0)
    return [_randomised(QFormer(16, 12, num_queries=2, num_heads=4, **kwargs), seed=r) for r in range(roles)]


def _grads(outputs, inputs):
    weights = [torch.randn_like(o) for o in outputs]
    return torch.autograd.grad(sum((o * w).sum() for o, w in zip(outputs, weights)), inputs)


@pytest.mark.parametrize('positions,depth', [(False, 1), (True, 2)])
def test_stacked_heads_match_the_loop(positions, depth):
    heads = _heads(depth=depth, patch_positions=positions)
    context = torch.randn(3, 9, 12, requires_grad=True)
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2] = False                                 # no valid patch: the cross-attention adds nothing
    assert can_stack(heads, context) == (not positions)     # own positions: correct, but the loop is faster
    stacked = stacked_qformers(heads, context, mask)
    loop = torch.stack([h(context, context_mask=mask) for h in heads])
    assert stacked.shape == (4, 3, 2, 16)
    torch.testing.assert_close(stacked, loop, rtol=1e-5, atol=1e-5)
    params = [p for h in heads for p in h.parameters()]
    torch.manual_seed(1)
    g_stacked = _grads([stacked], [context, *params])
    torch.manual_seed(1)
    g_loop = _grads([loop], [context, *params])
    for a, b in zip(g_stacked, g_loop):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_can_stack_refuses_what_the_loop_must_run():
    context = torch.randn(2, 9, 12)
    assert not can_stack(_heads(roles=1), context)
    heads = _heads(dropout=0.1)
    assert can_stack([h.eval() for h in heads], context)
    assert not can_stack([h.train() for h in heads], context)          # dropout draws would differ from the loop's
    assert not can_stack(_heads(roles=2) + [QFormer(16, 12, num_queries=3, num_heads=4)], context)
    wide = [QFormer(256, 320, num_queries=2, num_heads=4) for _ in range(2)]   # absorbed cross-attention (FBM size)
    assert not can_stack(wide, torch.randn(2, 49, 320))


@pytest.mark.parametrize('patch_dim', [None, 8])
def test_sfie_role_tokens_stacked_equal_the_loop(patch_dim, monkeypatch):
    torch.manual_seed(0)
    sfie = _randomised(SpatiallyFactorizedImageEncoder(image_dim=24, out_dim=32, num_frames=12, head_dim=16, depth=1,
                                                       num_heads=2, role_latent_dim=4, patch_dim=patch_dim)).train()
    looped = copy.deepcopy(sfie)
    patches = torch.randn(3, 9, 24)
    fast = sfie.role_tokens(patches)
    monkeypatch.setattr(sfie_module, 'can_stack', lambda *args: False)
    slow = looped.role_tokens(patches)
    assert list(fast) == list(slow) == list(sfie.roles)
    for role in sfie.roles:
        torch.testing.assert_close(fast[role], slow[role], rtol=1e-5, atol=1e-5)
    torch.manual_seed(1)
    (sum((t * torch.randn_like(t)).sum() for t in fast.values())).backward()
    torch.manual_seed(1)
    (sum((t * torch.randn_like(t)).sum() for t in slow.values())).backward()
    for (name, a), b in zip(sfie.named_parameters(), looped.parameters()):
        if a.grad is not None or b.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_separate_adaln_equals_the_sum_over_streams_written_out():
    """b + W_base SiLU(base) + W_wp SiLU(waypoint[t]) + sum_k gate_k(t) W_sp SiLU(value_k), term by term."""
    torch.manual_seed(0)
    ada = _randomised(AdaLNZero(8, 5, num_chunks=3, fusion='separate', stream_names=('base', 'waypoint', 'spatial')))
    base = torch.randn(2, 8, requires_grad=True)
    waypoint = torch.randn(2, 7, 8, requires_grad=True)
    value = torch.randn(2, 3, 8, requires_grad=True)
    gate = torch.rand(2, 3, 7, requires_grad=True)
    chunks = ada(dict(base=base, waypoint=waypoint, spatial=GatedStream(value, gate)))
    w = {name: layer.weight for name, layer in ada.proj.items()}
    by_hand = (ada.bias + (F.silu(base) @ w['base'].T)[:, None] + F.silu(waypoint) @ w['waypoint'].T
               + (gate[..., None] * (F.silu(value) @ w['spatial'].T)[:, :, None]).sum(1))     # (B, T, 3 * 5)
    torch.testing.assert_close(torch.cat(chunks, -1), by_hand, rtol=1e-5, atol=1e-5)
    inputs = [base, waypoint, value, gate, *ada.parameters()]
    torch.manual_seed(1)
    fast = _grads([torch.cat(chunks, -1)], inputs)
    torch.manual_seed(1)
    slow = _grads([by_hand], inputs)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # only a gated stream (no per-frame projection to add onto), and only per-sequence streams
    alone = ada(dict(spatial=GatedStream(value, gate)))
    torch.testing.assert_close(torch.cat(alone, -1), ada.bias + (gate[..., None] * (
        F.silu(value) @ w['spatial'].T)[:, :, None]).sum(1), rtol=1e-5, atol=1e-5)
    per_seq = ada(dict(base=base))
    assert per_seq[0].shape == (2, 1, 5)
    torch.testing.assert_close(torch.cat(per_seq, -1), ada.bias + (F.silu(base) @ w['base'].T)[:, None])
    with pytest.raises(ValueError, match='no conditioning stream'):
        ada(dict(base=None))

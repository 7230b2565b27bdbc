"""Issue 23, the lean training step: the 'separate' AdaLN's few-pass combination of a `GatedStream` with the other
streams (one in-place batched matmul) computes b + sum_s W_s SiLU(c_s) written out stream by stream: outputs and
every gradient agree to float32 rounding."""
import pytest
import torch
import torch.nn.functional as F

from imagin4d.models.layers import AdaLNZero, GatedStream

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def _randomised(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for p in module.parameters():                   # the zero-initialised AdaLN made non-trivial
        p.data = 0.3 * torch.randn(p.shape, generator=gen)
    return module


def _grads(outputs, inputs):
    weights = [torch.randn_like(o) for o in outputs]
    return torch.autograd.grad(sum((o * w).sum() for o, w in zip(outputs, weights)), inputs)


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

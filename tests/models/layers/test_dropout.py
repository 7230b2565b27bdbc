"""The 16-bit-mask dropout: drop rate, exact expectation, gradient, reproducibility, and where torch's kernel stays."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from imagin4d.models.layers import Dropout, dropout
from imagin4d.models.layers.transformer import Mlp, MultiHeadAttention


@pytest.mark.parametrize('p', [0.1, 0.5, 0.03])
def test_drop_rate_within_binomial_bounds_and_kept_values_scaled(p):
    torch.manual_seed(0)
    n = 2_000_000
    y = dropout(torch.ones(n), p)
    threshold = round(p * 65536)
    p_eff = threshold / 65536                        # the documented drop probability
    rate = float((y == 0).float().mean())
    assert abs(rate - p_eff) < 5 * math.sqrt(p_eff * (1 - p_eff) / n)
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 65536 / (65536 - threshold)))
    assert abs(float(y.mean()) - 1.0) < 5 * math.sqrt(p_eff / (1 - p_eff) / n)    # E[y] = x


def test_every_bit_lane_is_used():
    """The four 16-bit lanes of each 64-bit draw are independent: drops at positions 4k..4k+3 are not correlated."""
    torch.manual_seed(1)
    y = dropout(torch.ones(400_000, 4), 0.5)
    dropped = (y == 0).float()
    rates = dropped.mean(0)
    assert torch.all((rates - 0.5).abs() < 0.005)
    both = (dropped[:, 0] * dropped[:, 1]).mean()
    assert abs(float(both) - 0.25) < 0.005


def test_gradient_is_the_mask_and_shape_is_kept():
    torch.manual_seed(2)
    x = torch.randn(3, 5, 7, requires_grad=True)
    y = dropout(x, 0.2)
    assert y.shape == x.shape
    y.sum().backward()
    mask = torch.where(y != 0, y / x.detach(), torch.zeros(()))
    torch.testing.assert_close(x.grad, mask)


def test_reproducible_under_the_seed_and_bf16():
    x = torch.randn(64, 33).bfloat16()
    torch.manual_seed(3)
    a = dropout(x, 0.1)
    torch.manual_seed(3)
    b = dropout(x, 0.1)
    assert a.dtype == torch.bfloat16 and torch.equal(a, b)
    torch.manual_seed(4)
    assert not torch.equal(a, dropout(x, 0.1))


def test_identity_when_not_training_and_zeros_at_p_one():
    x = torch.randn(10, 10)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))       # torch's kernel (threshold 2^16)
    y = x.clone()
    out = dropout(y, 0.5, inplace=True)
    assert out is y and int((y == 0).sum()) > 0


def test_module_is_an_nn_dropout_and_the_layers_use_it():
    module = Dropout(0.25)
    assert isinstance(module, nn.Dropout) and module.p == 0.25 and module.state_dict() == {}
    module.eval()
    x = torch.randn(4, 4)
    assert module(x) is x
    mlp = Mlp(8, 16, dropout=0.1)
    assert all(type(m) is Dropout for m in mlp.net if isinstance(m, nn.Dropout))
    assert type(MultiHeadAttention(8, num_heads=2, proj_dropout=0.1).out_dropout) is Dropout


def test_same_distribution_as_torch_dropout():
    """Both scale kept elements by 1 / (1 - p) (up to the 16-bit threshold) and drop about p of them."""
    torch.manual_seed(5)
    x = torch.ones(1_000_000)
    ours, theirs = dropout(x, 0.1), F.dropout(x, 0.1)
    assert abs(float((ours == 0).float().mean()) - float((theirs == 0).float().mean())) < 0.002
    torch.testing.assert_close(ours.max(), theirs.max(), rtol=1e-4, atol=0)

"""StackedQFormer against the R separate QFormers it is built from: outputs, gradients, masks, refusals."""
import pytest
import torch

from imagin4d.models.layers import QFormer, StackedLinear, StackedQFormer


def _heads(count, dim, context_dim, depth, self_attention=True, seed=0):
    torch.manual_seed(seed)
    heads = [QFormer(dim, context_dim, num_queries=2, depth=depth, num_heads=4, self_attention=self_attention)
             for _ in range(count)]
    for head in heads:     # move every weight off its init (LayerNorms start at 1 / 0, where folding is trivial)
        for param in head.parameters():
            param.data.add_(0.2 * torch.randn_like(param))
    return heads


@pytest.mark.parametrize('depth,self_attention,dim,context_dim', [(1, True, 64, 64), (2, True, 32, 48),
                                                                  (2, False, 32, 16)])
def test_outputs_and_gradients_are_the_separate_heads(depth, self_attention, dim, context_dim):
    heads = _heads(4, dim, context_dim, depth, self_attention)
    stacked = StackedQFormer(heads)
    context = torch.randn(3, 25, context_dim)
    mask = torch.ones(3, 25, dtype=torch.bool)
    mask[1, 10:] = False                              # a partly masked sample
    mask[2] = False                                   # nothing to attend to: zero cross-attention output
    weight = torch.randn(4, 3, 2, dim)                # a loss that weighs every output differently
    for context_mask in (None, mask):
        ctx_ref = context.clone().requires_grad_(True)
        ctx_new = context.clone().requires_grad_(True)
        reference = torch.stack([head(ctx_ref, context_mask=context_mask) for head in heads])
        output = stacked(ctx_new, context_mask=context_mask)
        assert output.shape == (4, 3, 2, dim)
        torch.testing.assert_close(output, reference, atol=2e-5, rtol=1e-5)
        for head in heads:
            head.zero_grad()
        stacked.zero_grad()
        (reference * weight).sum().backward()
        (output * weight).sum().backward()
        torch.testing.assert_close(ctx_new.grad, ctx_ref.grad, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(stacked.queries.grad, torch.stack([h.queries.grad for h in heads]),
                                   atol=2e-5, rtol=1e-4)
        last = depth - 1
        # the context LayerNorm's affine is folded into the key / value projection: its gradient still arrives
        torch.testing.assert_close(stacked.blocks[last].norm_context.weight.grad,
                                   torch.stack([h.blocks[last].norm_context.weight.grad for h in heads]),
                                   atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(stacked.blocks[last].cross_kv.weight.grad,
                                   torch.stack([h.blocks[last].cross_attn.to_kv.weight.grad for h in heads]),
                                   atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(stacked.blocks[0].fc2.bias.grad,
                                   torch.stack([h.blocks[0].mlp.net[3].bias.grad for h in heads]),
                                   atol=2e-5, rtol=1e-4)


def test_all_masked_sample_gets_no_cross_attention():
    heads = _heads(2, 32, 16, 1, self_attention=False)
    stacked = StackedQFormer(heads)
    context = torch.randn(2, 9, 16)
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[0] = True
    with torch.no_grad():
        # sample 1 sees no patch: the same output as an all-zero cross-attention branch, whatever the context
        out = stacked(context, context_mask=mask)
        moved = stacked(context + 5.0 * torch.randn_like(context), context_mask=mask)
    torch.testing.assert_close(out[:, 1], moved[:, 1])
    assert not torch.allclose(out[:, 0], moved[:, 0])


def test_stacked_linear_is_each_linear():
    torch.manual_seed(0)
    linears = [torch.nn.Linear(5, 3) for _ in range(4)]
    stacked = StackedLinear(linears)
    x = torch.randn(4, 2, 7, 5)
    expected = torch.stack([layer(x[i]) for i, layer in enumerate(linears)])
    torch.testing.assert_close(stacked(x), expected)


def test_refuses_heads_it_cannot_stack():
    with pytest.raises(ValueError, match='patch positions'):
        StackedQFormer([QFormer(32, 16, num_queries=2, patch_positions=True) for _ in range(2)])
    with pytest.raises(ValueError, match='same depth'):
        StackedQFormer([QFormer(32, 16, num_queries=2, depth=1), QFormer(32, 16, num_queries=2, depth=2)])
    with pytest.raises(ValueError, match="parameter 'mlp.net.0.weight' differs"):
        StackedQFormer([QFormer(32, 16, num_queries=2, mlp_ratio=2.0), QFormer(32, 16, num_queries=2)])
    with pytest.raises(ValueError, match="parameter 'norm_self.weight' differs"):   # the first lacks a layer
        StackedQFormer([QFormer(32, 16, num_queries=2, self_attention=False), QFormer(32, 16, num_queries=2)])
    with pytest.raises(ValueError, match='learned queries'):
        StackedQFormer([QFormer(32, 16, num_queries=0)])

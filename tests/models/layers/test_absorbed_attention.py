"""MultiHeadAttention's absorbed path (few queries over a wide context, CPU, backend 'auto'; issue 23) computes the
same function as the standard path (K / V projected for every key, then the dispatch): outputs and gradients agree
to float32 rounding, with and without key padding, with all-masked rows, and in the full model's training loss."""
import copy

import pytest
import torch

from imagin4d.models.layers import MultiHeadAttention
from imagin4d.models.layers.transformer import set_attn_backend


def _pair(**kwargs):
    torch.manual_seed(0)
    fast = MultiHeadAttention(**kwargs)
    for p in fast.parameters():                  # non-trivial biases (nn.Linear starts them small)
        torch.nn.init.normal_(p, std=0.05)
    slow = copy.deepcopy(fast)
    slow.attn_backend = 'sdpa'
    return fast, slow


@pytest.mark.parametrize('with_mask', [False, True])
def test_absorbed_cross_attention_matches_the_standard_path(with_mask):
    fast, slow = _pair(dim=256, num_heads=4, context_dim=320)
    x = torch.randn(3, 2, 256)
    context = torch.randn(3, 49, 320, requires_grad=True)
    mask = None
    if with_mask:
        mask = torch.rand(3, 49) > 0.3
        mask[2] = False                          # a sample with no valid key (a dropped image): zero output
    assert fast.absorbs_projections(x, context) and not slow.absorbs_projections(x, context)
    out_fast = fast(x, context, key_padding_mask=mask)
    out_slow = slow(x, context, key_padding_mask=mask)
    torch.testing.assert_close(out_fast, out_slow, rtol=1e-4, atol=1e-5)
    weights = torch.randn_like(out_fast)
    g_fast = torch.autograd.grad((out_fast * weights).sum(), [context, *fast.parameters()])
    g_slow = torch.autograd.grad((out_slow * weights).sum(), [context, *slow.parameters()])
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_many_queries_or_self_attention_keep_the_standard_path():
    attn = MultiHeadAttention(dim=256, num_heads=4, context_dim=320)
    assert not attn.absorbs_projections(torch.randn(1, 120, 256), torch.randn(1, 49, 320))   # FAIE: 120 queries
    assert not attn.absorbs_projections(torch.randn(1, 2, 256), None)                         # self-attention
    narrow = MultiHeadAttention(dim=64, num_heads=4, context_dim=320)                          # mini SFIE heads:
    assert not narrow.absorbs_projections(torch.randn(1, 2, 64), torch.randn(1, 49, 320))     # no gain measured


def test_full_model_loss_and_gradients_unchanged():
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from testing_utils import REPO

    from imagin4d.registry import MODELS
    init_default_scope('imagin4d')
    cfg = Config.fromfile(str(REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie.py'))
    cfg.model.image_encoder.head_dim = 256        # the FBM-size SFIE heads (the absorbed path), on the mini model
    torch.manual_seed(0)
    fast = MODELS.build(cfg.model)
    stats = {f'{n}_{e}': torch.full((3 if n == 'obj_com' else 72,), -1.0 if e == 'min' else 1.0)
             for n in ('obj_com', 'joints') for e in ('min', 'max')}
    fast.data_preprocessor.set_stats(stats)
    for name, p in fast.named_parameters():      # move the zero-initialised AdaLN / position weights
        if p.dim() > 1 and not p.abs().sum():
            torch.nn.init.normal_(p, std=0.02)
    slow = set_attn_backend(copy.deepcopy(fast), 'sdpa')
    g = torch.Generator().manual_seed(0)
    b, t = 2, 120
    motion = torch.rand(b, t, 220, generator=g) * 2 - 1
    mask = torch.zeros(b, t, 220, dtype=torch.bool)
    mask[:, 0, :84] = True
    inputs = dict(motion=motion, frame_mask=torch.ones(b, t, dtype=torch.bool), num_frames=t, waypoint_mask=mask,
                  waypoint_values=motion * mask, bps=torch.randn(b, 1024, 3, generator=g),
                  image_patch=torch.randn(b, 196, 1280, generator=g), image_pooled=torch.randn(b, 1280, generator=g),
                  text_pooled=torch.randn(b, 384, generator=g), text_tokens=torch.randn(b, 16, 384, generator=g),
                  text_mask=torch.ones(b, 16, dtype=torch.bool),
                  object_points=torch.randn(b, 100, 3, generator=g) * 0.2, obj_scale=torch.ones(b, t),
                  obj_ref_rot=torch.eye(3).expand(b, 3, 3).clone(),
                  rest_joints24=torch.randn(b, 24, 3, generator=g) * 0.3, t_star=torch.tensor([10, 70]))
    heads = [m for n, m in fast.named_modules() if n.endswith('heads.relation.blocks.0.cross_attn')]
    assert heads[0].absorbs_projections(torch.randn(b, 2, 256), inputs['image_patch'])
    results = []
    for model in (fast, slow):
        model.train()
        torch.manual_seed(1)                     # the same timesteps, noise and condition dropout
        losses = model(inputs, None, mode='loss')
        sum(losses.values()).backward()
        results.append((losses, {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (loss_fast, grad_fast), (loss_slow, grad_slow) = results
    for key in loss_slow:
        torch.testing.assert_close(loss_fast[key], loss_slow[key], rtol=1e-4, atol=1e-6)
    assert grad_fast.keys() == grad_slow.keys()
    for name in grad_slow:
        torch.testing.assert_close(grad_fast[name], grad_slow[name], rtol=2e-3, atol=1e-5, msg=name)

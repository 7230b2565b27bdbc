"""RoleAwareDenoiser: shapes, identity at init, absent == zero streams, padding, gradients into every cue
encoder, the attention dispatch, and a small overfit check."""

import pytest
import torch
from testing_utils import counting_attention_backend, perturb_adaln

import imagin4d.models  # noqa: F401 - registers everything
from imagin4d.models.cues import ROLE_DIMS
from imagin4d.models.denoisers import RoleAwareDenoiser
from imagin4d.models.layers import set_attn_backend
from imagin4d.registry import MODELS

B, T, D, C, N, CI, DT = 2, 12, 220, 32, 9, 24, 20



def _denoiser(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='RoleAwareDenoiser', width=C, depth=2, num_heads=4)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _inputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, D, generator=gen)
    streams = {'base': torch.randn(B, C, generator=gen), 'waypoint': torch.randn(B, T, C, generator=gen),
               'spatial_image': torch.randn(B, T, C, generator=gen)}
    return x, torch.tensor([3, 700]), streams, torch.randn(B, T, C, generator=gen)


# ---------------------------------------------------------------------------------------------- shapes, errors
@pytest.mark.parametrize('names', [(), ('base',), ('base', 'waypoint'), ('waypoint', 'spatial_image'),
                                   ('base', 'waypoint', 'spatial_image')])
def test_output_shape_for_every_stream_subset(names):
    net = _denoiser()
    x, t, streams, tokens = _inputs()
    out = net(x, t, {k: streams[k] for k in names}, frame_tokens=tokens)
    assert out.shape == (B, T, D) and torch.isfinite(out).all()


def test_options_shapes_and_errors():
    x, t, streams, tokens = _inputs()
    per_seq = {k: v if v.dim() == 2 else v.mean(1) for k, v in streams.items()}
    for kwargs in (dict(pos_embedding='learned', max_frames=T), dict(pos_embedding='none'),
                   dict(stream_fusion='separate'), dict(num_cross_attention_layers=2), dict(zero_init_output=True),
                   dict(head_dim=4, mlp_ratio=1.0, dropout=0.1, attn_dropout=0.1)):
        assert _denoiser(**kwargs)(x, t, per_seq, frame_tokens=tokens).shape == (B, T, D)
    concat = _denoiser(input_concat_dim=7)
    assert concat(x, 5, streams, input_concat=torch.randn(B, T, 7)).shape == (B, T, D)
    torch.testing.assert_close(concat(x, 5, streams), concat(x, 5, streams, input_concat=torch.zeros(B, T, 7)))
    wide = _denoiser(frame_token_dim=10)
    assert wide(x, t, streams, frame_tokens=torch.randn(B, 3, 10)).shape == (B, T, D)
    net = _denoiser()
    with pytest.raises(KeyError, match='unknown streams'):
        net(x, t, {'image': streams['base']})
    with pytest.raises(ValueError, match="stream 'waypoint'"):
        net(x, t, {'waypoint': torch.randn(B, T + 1, C)})
    with pytest.raises(ValueError, match='x_t must be'):
        net(x[..., :100], t)
    with pytest.raises(ValueError, match='padding_mask'):
        net(x, t, padding_mask=torch.ones(B, T + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match='input_concat_dim=0'):
        net(x, t, input_concat=x)
    with pytest.raises(ValueError, match='num_cross_attention_layers=0'):
        _denoiser(num_cross_attention_layers=0)(x, t, frame_tokens=tokens)


# ---------------------------------------------------------------------------------------------- conditioning
def test_fresh_denoiser_ignores_every_condition():
    """AdaLN-Zero: every block is the identity at init, so streams and frame tokens cannot change the output,
    which is the output head on the embedded input."""
    net = _denoiser()
    x, t, streams, tokens = _inputs()
    bare = net(x, t)
    torch.testing.assert_close(net(x, t, streams, frame_tokens=tokens), bare)
    h = net.input_proj(x) + net.positions(T, x)
    by_hand = net.final_layer.linear(torch.nn.functional.layer_norm(h, (C,), eps=1e-6))
    torch.testing.assert_close(bare, by_hand)


@pytest.mark.parametrize('fusion', ['sum', 'separate'])
def test_absent_stream_equals_zero_stream(fusion):
    net = perturb_adaln(_denoiser(stream_fusion=fusion))
    x, t, streams, tokens = _inputs()
    for name in ('base', 'waypoint', 'spatial_image'):
        others = {k: v for k, v in streams.items() if k != name}
        omitted = net(x, t, others, frame_tokens=tokens)
        zeroed = net(x, t, dict(others, **{name: torch.zeros_like(streams[name])}), frame_tokens=tokens)
        as_none = net(x, t, dict(others, **{name: None}), frame_tokens=tokens)
        torch.testing.assert_close(omitted, zeroed, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(omitted, as_none)
        used = net(x, t, streams, frame_tokens=tokens)
        assert (used - omitted).abs().max() > 1e-3, f'stream {name} has no effect'


def test_sum_fusion_depends_only_on_the_sum_of_streams():
    net = perturb_adaln(_denoiser())
    x, t, streams, _ = _inputs()
    total = streams['waypoint'] + streams['spatial_image'] + streams['base'][:, None]
    torch.testing.assert_close(net(x, t, streams), net(x, t, {'waypoint': total}), atol=1e-5, rtol=1e-5)


def test_frame_tokens_only_through_the_last_layer_and_masked_samples_drop_them():
    net = perturb_adaln(_denoiser())
    assert [b.cross_attention for b in net.blocks] == [False, True]
    x, t, streams, tokens = _inputs()
    without = net(x, t, streams)
    with_tokens = net(x, t, streams, frame_tokens=tokens)
    assert (with_tokens - without).abs().max() > 1e-3
    keep = torch.ones(B, T, dtype=torch.bool)
    keep[0] = False                               # sample 0: image dropped (classifier-free guidance)
    mixed = net(x, t, streams, frame_tokens=tokens, frame_token_mask=keep)
    torch.testing.assert_close(mixed[0], without[0])
    torch.testing.assert_close(mixed[1], with_tokens[1])


def test_padded_frames_do_not_influence_valid_frames():
    net = perturb_adaln(_denoiser(depth=3, num_cross_attention_layers=1))
    x, t, streams, tokens = _inputs()
    pad = torch.ones(B, T, dtype=torch.bool)
    pad[1, 8:] = False
    out = net(x, t, streams, frame_tokens=tokens, frame_token_mask=pad, padding_mask=pad)
    x2, streams2, tokens2 = x.clone(), {k: v.clone() for k, v in streams.items()}, tokens.clone()
    x2[1, 8:] = 100.0
    streams2['waypoint'][1, 8:] = -50.0
    streams2['spatial_image'][1, 8:] = 30.0
    tokens2[1, 8:] = 1e3
    out2 = net(x2, t, streams2, frame_tokens=tokens2, frame_token_mask=pad, padding_mask=pad)
    torch.testing.assert_close(out2[1, :8], out[1, :8], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out2[0], out[0])
    # and the valid frames equal a run on the unpadded 8-frame window
    short = net(x[1:, :8], t[1:], {k: v[1:, :8] if v.dim() == 3 else v[1:] for k, v in streams.items()},
                frame_tokens=tokens[1:, :8])
    torch.testing.assert_close(out[1, :8], short[0], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- with the cues
def _cond(seed=1):
    gen = torch.Generator().manual_seed(seed)
    wmask = torch.zeros(B, T, D, dtype=torch.bool)
    wmask[:, 0, :84] = True
    wmask[:, 5, :2] = True
    wmask[:, T - 1, :3] = True
    return dict(text_pooled=torch.randn(B, DT, generator=gen), text_tokens=torch.randn(B, 4, DT, generator=gen),
                text_mask=torch.tensor([[True] * 4, [True, True, False, False]]),
                bps=torch.randn(B, 1024, 3, generator=gen), waypoint_mask=wmask,
                waypoint_values=torch.randn(B, T, D, generator=gen) * wmask,
                image_patch=torch.randn(B, N, CI, generator=gen), image_pooled=torch.randn(B, CI, generator=gen),
                num_frames=T, t_star=torch.tensor([4, 9]))


QF = dict(depth=1, num_heads=4)
ENCODERS = dict(
    text=dict(type='TextCueEncoder', text_dim=DT, out_dim=C),
    object=dict(type='ObjectGeometryEncoder', out_dim=C, hidden_dims=(32,)),
    waypoint=dict(type='WaypointEncoder', out_dim=C, hidden_dim=32),
    global_image=dict(type='GlobalTokenImageEncoder', image_dim=CI, out_dim=C),
    uniform=dict(type='UniformImageEncoder', image_dim=CI, out_dim=C, dim=32, num_queries=2, **QF),
    uniform_tokens=dict(type='UniformImageEncoder', image_dim=CI, out_dim=C, dim=32, num_queries=2,
                        output='tokens', **QF),
    sfie=dict(type='SpatiallyFactorizedImageEncoder', image_dim=CI, out_dim=C, num_frames=T, head_dim=32,
              role_latent_dim=8, ae_hidden_dim=16, placement_hidden_dim=16, window_sigma=3.0, **QF),
    faie=dict(type='FrameAwareImageEncoder', image_dim=CI, text_dim=DT, out_dim=C, dim=32, **QF),
)
# the model variants of the paper: every encoder appears in at least one
VARIANTS = dict(
    imagin4d=('text', 'object', 'waypoint', 'sfie', 'faie'),
    chois_img=('text', 'object', 'waypoint', 'global_image'),
    uniform_stream=('text', 'waypoint', 'uniform'),
    uniform_tokens=('text', 'waypoint', 'uniform_tokens'),
)


def _compose(encoders, cond):
    """What HOIDiffusion will do: sum each encoder's outputs into the streams they declare."""
    streams, frame_tokens = {}, None
    for enc in encoders.values():
        for name, value in enc.encode(cond).items():
            if name == 'frame_tokens':
                frame_tokens = value
            else:
                streams[name] = value if name not in streams else streams[name] + value
    return streams, frame_tokens


def _build(names, backend='auto'):
    torch.manual_seed(0)
    encoders = torch.nn.ModuleDict({n: MODELS.build(dict(ENCODERS[n], attn_backend=backend)
                                                    if 'Image' in ENCODERS[n]['type'] and n != 'global_image'
                                                    else ENCODERS[n]) for n in names})
    net = perturb_adaln(_denoiser(attn_backend=backend))
    return encoders, net


@pytest.mark.parametrize('variant', list(VARIANTS))
def test_gradients_reach_every_encoder_whose_stream_is_used(variant):
    encoders, net = _build(VARIANTS[variant])
    cond = _cond()
    x, t, _, _ = _inputs()
    streams, tokens = _compose(encoders, cond)
    loss = (net(x, t, streams, frame_tokens=tokens) - x).pow(2).mean()
    if 'sfie' in encoders:
        sfie = encoders['sfie']
        loss.backward(retain_graph=True)
        # the diffusion loss alone trains the heads and projections, not the AEs or the (detached) placement head
        for name, p in sfie.named_parameters():
            reached = p.grad is not None and p.grad.abs().sum() > 0
            assert reached != name.startswith(('autoencoders.', 'placement.')), name
        gt = {r: torch.randn(B, d) for r, d in ROLE_DIMS.items()}
        loss = sum(sfie.head_losses(gt, cond['t_star']).values())
    loss.backward()
    for enc_name, enc in encoders.items():
        for name, p in enc.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f'{enc_name}.{name} got no gradient'


def test_conditions_change_the_prediction():
    encoders, net = _build(VARIANTS['imagin4d'])
    x, t, _, _ = _inputs()
    cond = _cond()
    streams, tokens = _compose(encoders, cond)
    ref = net(x, t, streams, frame_tokens=tokens)
    for key in ('text_pooled', 'bps', 'image_patch'):
        other = dict(cond, **{key: cond[key].flip(0)})
        s2, tok2 = _compose(encoders, other)
        assert (net(x, t, s2, frame_tokens=tok2) - ref).abs().max() > 1e-4, key


def test_all_attention_goes_through_the_dispatch(monkeypatch):
    names = ('text', 'object', 'waypoint', 'sfie', 'faie', 'uniform')
    x, t, _, _ = _inputs()
    cond = _cond()
    pad = torch.ones(B, T, dtype=torch.bool)
    pad[0, 10:] = False
    cond['frame_mask'] = pad

    def run(backend):
        encoders, net = _build(names, backend)
        streams, tokens = _compose(encoders, cond)
        return net(x, t, streams, frame_tokens=tokens, frame_token_mask=pad, padding_mask=pad)

    ref = run('sdpa')
    def forbidden(*args, **kwargs):
        raise AssertionError('attention computed outside imagin4d.models.layers.attention_dispatch')

    with counting_attention_backend('test_counting_denoiser') as calls:
        monkeypatch.setattr(torch.nn.functional, 'scaled_dot_product_attention', forbidden)
        monkeypatch.setattr(torch.nn.MultiheadAttention, 'forward', forbidden)
        torch.testing.assert_close(run('math'), ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(run('test_counting_denoiser'), ref, atol=1e-5, rtol=1e-5)
        # SFIE 4 heads x (self + cross) + FAIE (text cross + self + cross) + uniform (self + cross)
        # + denoiser (2 self + 1 cross in the last layer)
        assert len(calls) == 8 + 3 + 2 + 3
        encoders, net = _build(names)
        set_attn_backend(torch.nn.ModuleList([encoders, net]), 'math')
        assert {m.attn_backend for m in net.modules() if hasattr(m, 'attn_backend')} == {'math'}


# ---------------------------------------------------------------------------------------------- training
def test_overfits_three_samples_quickly():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(3)
    frames = 30
    x0 = torch.rand(3, frames, D, generator=gen) * 2 - 1
    x_t = 0.6 * x0 + 0.8 * torch.randn(3, frames, D, generator=gen)
    t = torch.tensor([100, 400, 800])
    streams = {'base': torch.randn(3, 128, generator=gen), 'waypoint': torch.randn(3, frames, 128, generator=gen)}
    net = RoleAwareDenoiser(width=128, depth=2, num_heads=4)
    optim = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(100):
        loss = (net(x_t, t, streams) - x0).pow(2).mean()
        first = loss.item() if first is None else first
        optim.zero_grad()
        loss.backward()
        optim.step()
    final = (net(x_t, t, streams) - x0).pow(2).mean().item()
    assert final < 0.01 * first and final < 0.005, (first, final)   # typically 0.66 -> 1e-4


@pytest.mark.gpu
def test_cuda_bf16_autocast_and_backends_agree():
    if not torch.cuda.is_available():
        pytest.skip('needs a CUDA device')
    names = ('text', 'object', 'waypoint', 'sfie', 'faie')
    encoders, net = _build(names)
    encoders, net = encoders.cuda(), net.cuda()
    cond = {k: v.cuda() if torch.is_tensor(v) else v for k, v in _cond().items()}
    x, t, _, _ = (v.cuda() for v in _inputs())
    pad = torch.ones(B, T, dtype=torch.bool, device='cuda')
    pad[1, 9:] = False
    cond['frame_mask'] = pad

    def run(backend):
        set_attn_backend(torch.nn.ModuleList([encoders, net]), backend)
        streams, tokens = _compose(encoders, cond)
        return net(x, t, streams, frame_tokens=tokens, frame_token_mask=pad, padding_mask=pad)

    ref = run('math')
    torch.testing.assert_close(run('auto'), ref, atol=1e-3, rtol=1e-3)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        out = run('auto')
        loss = (out.float() - x).pow(2).mean()
    loss.backward()
    assert torch.isfinite(out).all() and torch.isfinite(loss)
    torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.1)

"""Text, object, waypoint and image cue encoders: registry, declared streams, shapes, masks, sketch key remap."""
import pytest
import torch

import imagin4d.models  # noqa: F401 - registers the cue encoders
from imagin4d.models.cues import (
    STREAMS,
    FrameAwareImageEncoder,
    GlobalTokenImageEncoder,
    UniformImageEncoder,
    WaypointEncoder,
    masked_mean,
)
from imagin4d.registry import MODELS

B, T, N, CI, DT, C = 2, 10, 9, 24, 20, 32


def _cond(seed=0):
    gen = torch.Generator().manual_seed(seed)
    wmask = torch.zeros(B, T, 220, dtype=torch.bool)
    wmask[:, 0, :84] = True
    wmask[:, 4, :2] = True
    frame_mask = torch.ones(B, T, dtype=torch.bool)
    frame_mask[1, 7:] = False
    return dict(text_pooled=torch.randn(B, DT, generator=gen), text_tokens=torch.randn(B, 5, DT, generator=gen),
                text_mask=torch.tensor([[True] * 5, [True] * 3 + [False] * 2]),
                bps=torch.randn(B, 1024, 3, generator=gen), waypoint_mask=wmask,
                waypoint_values=torch.randn(B, T, 220, generator=gen) * wmask,
                image_patch=torch.randn(B, N, CI, generator=gen), image_pooled=torch.randn(B, CI, generator=gen),
                num_frames=T, frame_mask=frame_mask)


SMALL = dict(dim=32, depth=1, num_heads=4)
CONFIGS = [
    (dict(type='TextCueEncoder', text_dim=DT, out_dim=C), {'base': (B, C)}),
    (dict(type='ObjectGeometryEncoder', out_dim=C, hidden_dims=(64, 32)), {'base': (B, C)}),
    (dict(type='WaypointEncoder', out_dim=C, hidden_dim=32), {'waypoint': (B, T, C)}),
    (dict(type='GlobalTokenImageEncoder', image_dim=CI, out_dim=C), {'base': (B, C)}),
    (dict(type='UniformImageEncoder', image_dim=CI, out_dim=C, num_queries=2, **SMALL),
     {'spatial_image': (B, T, C)}),
    (dict(type='UniformImageEncoder', image_dim=CI, out_dim=C, num_queries=2, output='tokens', **SMALL),
     {'frame_tokens': (B, 2, C)}),
    (dict(type='SpatiallyFactorizedImageEncoder', image_dim=CI, out_dim=C, num_frames=16, head_dim=32, depth=1,
          role_latent_dim=8), {'spatial_image': (B, T, C), 'base': (B, C)}),
    (dict(type='FrameAwareImageEncoder', image_dim=CI, text_dim=DT, out_dim=C, **SMALL),
     {'frame_tokens': (B, T, C)}),
]


@pytest.mark.parametrize('cfg,shapes', CONFIGS, ids=[c['type'] + c.get('output', '') for c, _ in CONFIGS])
def test_registered_encoders_declare_streams_and_shapes(cfg, shapes):
    torch.manual_seed(0)
    encoder = MODELS.build(cfg)
    assert set(encoder.streams) <= set(STREAMS) and set(encoder.streams) == set(shapes)
    out = encoder.encode(_cond())
    assert {k: tuple(v.shape) for k, v in out.items()} == shapes
    assert all(torch.isfinite(v).all() for v in out.values())


def test_declared_streams_match_the_brief():
    assert MODELS.get('TextCueEncoder').streams == ('base',)
    assert MODELS.get('ObjectGeometryEncoder').streams == ('base',)
    assert MODELS.get('WaypointEncoder').streams == ('waypoint',)
    assert MODELS.get('GlobalTokenImageEncoder').streams == ('base',)
    assert MODELS.get('SpatiallyFactorizedImageEncoder').streams == ('spatial_image', 'base')
    assert MODELS.get('FrameAwareImageEncoder').streams == ('frame_tokens',)


def test_object_encoder_accepts_flat_bps_and_checks_size():
    enc = MODELS.build(dict(type='ObjectGeometryEncoder', out_dim=C, hidden_dims=(16,)))
    bps = torch.randn(B, 1024, 3)
    torch.testing.assert_close(enc(bps)['base'], enc(bps.reshape(B, 3072))['base'])
    with pytest.raises(ValueError, match='bps must be'):
        enc(torch.randn(B, 512, 3))


def test_waypoint_encoder_zero_on_empty_frames_and_masks_values():
    torch.manual_seed(0)
    enc = WaypointEncoder(out_dim=C, hidden_dim=32)
    cond = _cond()
    out = enc(cond['waypoint_mask'], cond['waypoint_values'])['waypoint']
    given = cond['waypoint_mask'].any(-1)
    assert torch.count_nonzero(out[~given]) == 0 and (out[given].abs().sum(-1) > 0).all()
    leaked = cond['waypoint_values'] + (~cond['waypoint_mask']) * 100.0   # garbage outside the mask
    torch.testing.assert_close(enc(cond['waypoint_mask'], leaked)['waypoint'], out)
    dropped = enc(torch.zeros_like(cond['waypoint_mask']), cond['waypoint_values'])['waypoint']
    assert torch.count_nonzero(dropped) == 0
    dense = WaypointEncoder(out_dim=C, hidden_dim=32, zero_empty_frames=False)
    assert (dense(cond['waypoint_mask'], cond['waypoint_values'])['waypoint'].abs().sum(-1) > 0).all()


def test_global_token_pooled_vs_mean_fallback():
    torch.manual_seed(0)
    enc = GlobalTokenImageEncoder(image_dim=CI, out_dim=C)
    cond = _cond()
    from_pooled = enc(cond['image_patch'], cond['image_pooled'])['base']
    from_mean = enc(cond['image_patch'])['base']
    torch.testing.assert_close(from_mean, enc(image_pooled=cond['image_patch'].mean(1))['base'])
    assert not torch.allclose(from_pooled, from_mean)
    mean_enc = GlobalTokenImageEncoder(image_dim=CI, out_dim=C, pool='mean')
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[:, 5:] = False
    torch.testing.assert_close(mean_enc(cond['image_patch'], cond['image_pooled'], mask)['base'],
                               mean_enc.net(cond['image_patch'][:, :5].mean(1)))
    torch.testing.assert_close(masked_mean(cond['image_patch'], mask), cond['image_patch'][:, :5].mean(1))


def test_uniform_stream_is_identical_on_every_valid_frame():
    torch.manual_seed(0)
    enc = UniformImageEncoder(image_dim=CI, out_dim=C, num_queries=2, **SMALL)
    cond = _cond()
    stream = enc(cond['image_patch'], num_frames=T, frame_mask=cond['frame_mask'])['spatial_image']
    torch.testing.assert_close(stream[0], stream[0, :1].expand(T, C))
    torch.testing.assert_close(stream[1, :7], stream[1, :1].expand(7, C))
    assert torch.count_nonzero(stream[1, 7:]) == 0
    with pytest.raises(ValueError, match='num_frames'):
        enc(cond['image_patch'])


def test_frame_aware_tokens_differ_per_frame_and_ignore_padding():
    torch.manual_seed(0)
    enc = FrameAwareImageEncoder(image_dim=CI, text_dim=DT, out_dim=C, **SMALL).eval()
    cond = _cond()
    tokens = enc.encode(cond)['frame_tokens']
    assert not torch.allclose(tokens[:, 0], tokens[:, 5])
    # sample 1 has 7 valid frames: its valid tokens equal those of a 7-frame window without padding
    short = enc(cond['image_patch'][1:], cond['text_pooled'][1:], cond['text_tokens'][1:], cond['text_mask'][1:],
                num_frames=7)['frame_tokens']
    torch.testing.assert_close(tokens[1, :7], short[0], atol=1e-5, rtol=1e-5)
    # the text changes the queries (and so the tokens)
    other = dict(cond, text_pooled=cond['text_pooled'].flip(0), text_tokens=cond['text_tokens'].flip(0))
    assert not torch.allclose(enc.encode(other)['frame_tokens'][0], tokens[0])
    no_text = enc(cond['image_patch'], num_frames=T)['frame_tokens']
    assert no_text.shape == (B, T, C)


def test_sketch_features_via_feature_key():
    torch.manual_seed(0)
    enc = GlobalTokenImageEncoder(image_dim=CI, out_dim=C, feature_key='sketch')
    cond = _cond()
    sketch = dict(sketch_pooled=cond['image_pooled'] * 2, image_pooled=cond['image_pooled'])
    torch.testing.assert_close(enc.encode(sketch)['base'], enc(image_pooled=cond['image_pooled'] * 2)['base'])


MIRROR_CASES = [
    dict(type='UniformImageEncoder', image_dim=CI, out_dim=C, num_queries=2, **SMALL),
    dict(type='SpatiallyFactorizedImageEncoder', image_dim=CI, out_dim=C, num_frames=16, head_dim=32, depth=1,
         role_latent_dim=8),
    dict(type='FrameAwareImageEncoder', image_dim=CI, text_dim=DT, out_dim=C, **SMALL),
]


@pytest.mark.parametrize('cfg', MIRROR_CASES, ids=[c['type'] for c in MIRROR_CASES])
def test_image_encoders_tell_a_patch_grid_from_its_mirror(cfg):
    """Attention over patches is blind to their order: without patch positions a left-right mirrored grid (the
    features of a mirrored image, to first order) gives the same output; with them (the default) it does not."""
    cond = _cond()
    side = int(N ** 0.5)
    mirrored = dict(cond, image_patch=cond['image_patch'].reshape(B, side, side, CI).flip(2).reshape(B, N, CI))
    outputs = {}
    for positions in (False, True):
        torch.manual_seed(0)
        enc = MODELS.build(dict(cfg, patch_positions=positions)).eval()
        if positions:   # the projection starts at zero (training moves it): give it weights
            for module in enc.modules():
                if type(module).__name__ == 'PatchPositionEmbedding':
                    torch.nn.init.normal_(module.proj.weight, std=0.5)
        with torch.no_grad():
            a, b = enc.encode(cond), enc.encode(mirrored)
        outputs[positions] = max((a[k] - b[k]).abs().max().item() for k in a)
    assert outputs[False] < 1e-5 and outputs[True] > 1e-2, outputs

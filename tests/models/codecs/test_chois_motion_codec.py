"""CHOISMotionCodec: layout, encode/decode round trip, normalisation statistics, waypoint mask, object pose."""
import json

import numpy as np
import pytest
import torch

from imagin4d.geometry import axis_angle_to_matrix, place_object
from imagin4d.models.codecs import CHOISMotionCodec
from imagin4d.registry import MOTION_CODECS


def random_motion(lead=(120,), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return dict(
        obj_com=torch.randn(*lead, 3, generator=g, dtype=dtype),
        obj_rot=axis_angle_to_matrix(torch.randn(*lead, 3, generator=g, dtype=dtype)),
        joints=torch.randn(*lead, 24, 3, generator=g, dtype=dtype),
        global_rot=axis_angle_to_matrix(torch.randn(*lead, 22, 3, generator=g, dtype=dtype)),
        contacts=(torch.rand(*lead, 4, generator=g) > 0.5).to(dtype),
    )


def test_layout_and_registry():
    codec = MOTION_CODECS.build(dict(type='CHOISMotionCodec'))
    assert isinstance(codec, CHOISMotionCodec)
    assert codec.dim == 220
    assert [(k, s.start, s.stop) for k, s in codec.slices.items()] == [
        ('obj_com', 0, 3), ('obj_rot', 3, 12), ('joints', 12, 84), ('rot6d', 84, 216), ('contacts', 216, 220)]


@pytest.mark.parametrize('lead', [(120,), (2, 120)])
def test_encode_decode_round_trip(lead):
    codec = CHOISMotionCodec()
    m = random_motion(lead)
    x = codec.encode(**m)
    assert x.shape == (*lead, 220)
    d = codec.decode(x)
    for key in ('obj_com', 'obj_rot', 'joints', 'contacts'):
        assert (d[key] - m[key]).abs().max() <= 1e-5, key
    assert (d['global_rot'] - m['global_rot']).abs().max() <= 1e-5
    # the joints block is joint-major: dims 12 + 3j .. 12 + 3j + 2 hold joint j
    assert torch.equal(x[..., 12 + 3 * 5:12 + 3 * 6], m['joints'][..., 5, :])
    # 6D = first two rows of the matrix
    assert torch.equal(x[..., 84:90], m['global_rot'][..., 0, :2, :].reshape(*lead, 6))
    # re-encoding the decoded quantities is exact
    x2 = codec.encode(d['obj_com'], d['obj_rot'], d['joints'], d['rot6d'], d['contacts'])
    assert torch.equal(x, x2)


def test_encode_rejects_wrong_shapes():
    codec = CHOISMotionCodec()
    m = random_motion()
    with pytest.raises(ValueError, match='joints'):
        codec.encode(**{**m, 'joints': m['joints'][:, :22]})
    with pytest.raises(ValueError, match='global_rot'):
        codec.encode(**{**m, 'global_rot': m['global_rot'][:, :21]})
    with pytest.raises(ValueError, match='expected'):
        codec.decode(torch.zeros(3, 219))


def test_normalisation_statistics_round_trip(tmp_path):
    codec = CHOISMotionCodec()
    windows = [codec.encode(**random_motion(seed=s)) for s in range(3)]
    stats = codec.compute_stats(windows)
    all_x = torch.cat(windows)
    assert torch.allclose(stats['joints_min'], all_x[:, 12:84].min(0).values.double())
    assert torch.allclose(stats['obj_com_max'], all_x[:, 0:3].max(0).values.double())
    path = str(tmp_path / 'stats.json')
    codec.save_stats(path, stats, meta=dict(split='train'))
    assert json.load(open(path))['meta'] == dict(split='train')

    loaded = CHOISMotionCodec(stats_file=path)
    y = loaded.normalize(all_x)
    # normalised parts span exactly [-1, 1]; the rest is untouched
    for name in ('obj_com', 'joints'):
        part = loaded.take(y, name)
        assert torch.allclose(part.min(0).values, torch.full_like(part[0], -1.0), atol=1e-5)
        assert torch.allclose(part.max(0).values, torch.full_like(part[0], 1.0), atol=1e-5)
    assert torch.equal(y[:, 3:12], all_x[:, 3:12]) and torch.equal(y[:, 84:], all_x[:, 84:])
    assert (loaded.denormalize(y) - all_x).abs().max() <= 1e-5


def test_normalize_without_stats_is_a_clear_error(tmp_path):
    codec = CHOISMotionCodec()
    with pytest.raises(RuntimeError, match='no normalisation statistics'):
        codec.normalize(torch.zeros(2, 220))
    with pytest.raises(FileNotFoundError, match='missing.json'):
        codec.load_stats(str(tmp_path / 'missing.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'format': 'something else'}))
    with pytest.raises(ValueError, match='not a'):
        codec.load_stats(str(bad))


def test_waypoint_mask_frames():
    codec = CHOISMotionCodec()
    mask = codec.waypoint_mask(120)
    assert mask.dtype == torch.bool and mask.shape == (120, 220)
    given_frames = sorted(set(mask.nonzero()[:, 0].tolist()))
    assert given_frames == [0, 29, 59, 89, 119]
    # frame 0: object centre + rotation + human pose, no contacts
    assert mask[0, :216].all() and not mask[0, 216:].any()
    for f in (29, 59, 89):
        assert mask[f].nonzero()[:, 0].tolist() == [0, 1]      # object centre x, y only
    assert mask[119].nonzero()[:, 0].tolist() == [0, 1, 2]     # object centre xyz at the last frame
    # a shorter valid length moves the end condition and drops later waypoints
    short = codec.waypoint_mask(120, last_frame=70)
    assert sorted(set(short.nonzero()[:, 0].tolist())) == [0, 29, 59, 70]
    no_human = codec.waypoint_mask(120, first_frame_human=False)
    assert no_human[0].nonzero()[:, 0].tolist() == list(range(12))


def test_object_pose_round_trip():
    codec = CHOISMotionCodec()
    g = torch.Generator().manual_seed(3)
    verts = torch.randn(50, 3, generator=g) * 4.0 + 2.0                 # template, not centred
    scale = 0.25
    rot = axis_angle_to_matrix(torch.randn(120, 3, generator=g))
    trans = torch.randn(120, 3, generator=g)
    world = place_object(verts, scale, rot, trans)                      # (T, V, 3)
    centroid = verts.mean(0)
    com = codec.object_centre(rot, trans, scale, centroid)
    assert (com - world.mean(1)).abs().max() <= 1e-5
    ref = rot[37]
    m = random_motion()
    x = codec.encode(com, codec.relative_rotation(rot, ref), m['joints'], m['global_rot'])
    assert (codec.decode(x)['obj_rot'][37] - torch.eye(3)).abs().max() <= 1e-5
    rot2, trans2 = codec.object_pose(x, ref, scale, centroid)
    assert (place_object(verts, scale, rot2, trans2) - world).abs().max() <= 1e-5


def test_project_to_rotation():
    codec = CHOISMotionCodec()
    R = axis_angle_to_matrix(torch.randn(10, 3, dtype=torch.float64))
    noisy = R + 1e-3 * torch.randn(10, 3, 3, dtype=torch.float64)
    P = codec.project_to_rotation(noisy)
    eye = torch.eye(3, dtype=torch.float64)
    assert (P @ P.transpose(-1, -2) - eye).abs().max() < 1e-10
    assert torch.allclose(torch.det(P), torch.ones(10, dtype=torch.float64))
    assert (codec.project_to_rotation(R) - R).abs().max() < 1e-10
    x = torch.zeros(10, 220, dtype=torch.float64)
    x[:, 3:12] = noisy.reshape(10, 9)
    assert torch.allclose(codec.decode(x, orthonormalize=True)['obj_rot'], P)


def test_numpy_inputs():
    codec = CHOISMotionCodec()
    m = {k: v.numpy() for k, v in random_motion().items()}
    x = codec.encode(**m)
    assert isinstance(x, torch.Tensor) and x.shape == (120, 220)
    assert np.abs(codec.decode(x.numpy())['joints'].numpy() - m['joints']).max() <= 1e-6


def test_joints_from_rotations_reproduces_fk_positions():
    """encode(FK(local rotations)) -> decode -> FK from the decoded 6D rotations gives the same joints."""
    from imagin4d.body_models.fk import forward_kinematics
    from imagin4d.body_models.skeletons import JOINTS24_PARENTS

    codec = CHOISMotionCodec()
    g = torch.Generator().manual_seed(5)
    T = 30
    local = axis_angle_to_matrix(0.5 * torch.randn(T, 24, 3, generator=g))
    local[:, 22:] = torch.eye(3)                                 # the hand points have no own rotation
    rest = torch.randn(24, 3, generator=g) * 0.3
    positions, global_rot = forward_kinematics(local, rest, JOINTS24_PARENTS, torch.randn(T, 3, generator=g))
    x = codec.encode(torch.zeros(T, 3), torch.eye(3).expand(T, 3, 3), positions, global_rot[:, :22])
    d = codec.decode(x)
    fk = codec.joints_from_rotations(d['global_rot'], rest, d['joints'][:, 0])
    assert (fk - positions).abs().max() <= 1e-5
    # batched leading dims
    fk2 = codec.joints_from_rotations(d['global_rot'].reshape(2, 15, 22, 3, 3), rest,
                                      d['joints'][:, 0].reshape(2, 15, 3))
    assert (fk2.reshape(T, 24, 3) - positions).abs().max() <= 1e-5

"""SFIE: Gaussian window values by hand, gating around t̂, role quantities, head losses that train."""
import math

import pytest
import torch

from imagin4d.models.codecs import CHOISMotionCodec
from imagin4d.models.cues import (
    ROLE_DIMS,
    SpatiallyFactorizedImageEncoder,
    gaussian_window,
    role_quantities_from_motion,
)

B, N, CI, T, C = 3, 9, 24, 16, 32


def _sfie(**kwargs):
    torch.manual_seed(0)
    cfg = dict(image_dim=CI, out_dim=C, num_frames=T, head_dim=32, depth=1, num_heads=4, role_latent_dim=8,
               ae_hidden_dim=32, placement_hidden_dim=32, window_sigma=4.0)
    cfg.update(kwargs)
    return SpatiallyFactorizedImageEncoder(**cfg)


def _force_placement(sfie, frame):
    """Make the placement head output a one-hot distribution at `frame`, whatever the image."""
    last = sfie.placement[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-1e4)
        last.bias[frame] = 0.0


def test_gaussian_window_hand_values():
    w = gaussian_window(torch.tensor([10.0, 10.5]), 20, sigma=4.0)
    assert w.shape == (2, 20)
    assert w[0, 10] == 1.0 and w[0].argmax() == 10
    torch.testing.assert_close(w[0, [14, 6, 18, 2]], torch.tensor([math.exp(-0.5)] * 2 + [math.exp(-2.0)] * 2))
    torch.testing.assert_close(w[0, [14, 18]], torch.tensor([0.60653066, 0.13533528]))
    torch.testing.assert_close(w[1, [10, 11]], torch.tensor([0.99221794] * 2))          # exp(-0.25 / 32)
    floored = gaussian_window(torch.tensor([10.0]), 20, sigma=4.0, floor=0.1)
    torch.testing.assert_close(floored[0, [10, 18]], torch.tensor([1.0, 0.1 + 0.9 * math.exp(-2.0)]))
    assert (torch.diff(w[0, 10:]) < 0).all() and (torch.diff(w[0, :11]) > 0).all()


def test_spatial_stream_peaks_at_t_hat_and_decays_as_the_window():
    sfie = _sfie().eval()
    _force_placement(sfie, 7)
    patches = torch.randn(B, N, CI)
    out = sfie(patches, num_frames=T)
    assert out['spatial_image'].shape == (B, T, C) and out['base'].shape == (B, C)
    torch.testing.assert_close(sfie.last_aux['t_hat'], torch.full((B,), 7.0))
    stream = out['spatial_image']
    ratio = stream.norm(dim=-1) / stream[:, 7].norm(dim=-1, keepdim=True)               # (B, T)
    expected = torch.exp(-(torch.arange(T) - 7.0) ** 2 / 32.0)
    torch.testing.assert_close(ratio, expected.expand(B, T), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ratio[0, [11, 3, 15]], torch.tensor([0.60653066, 0.60653066, 0.13533528]))
    # every frame carries the same direction (copies of one summary projection)
    cos = torch.nn.functional.cosine_similarity(stream[:, 0], stream[:, 7], dim=-1)
    torch.testing.assert_close(cos, torch.ones(B))


def test_padding_teacher_forcing_and_argmax_modes():
    sfie = _sfie()
    patches = torch.randn(B, N, CI)
    frame_mask = torch.ones(B, 12, dtype=torch.bool)
    frame_mask[0, 5:] = False
    _force_placement(sfie, 9)                       # a padded frame of sample 0
    out = sfie.eval()(patches, frame_mask=frame_mask)
    probs = sfie.last_aux['frame_probs']
    assert probs.shape == (B, 12) and torch.count_nonzero(probs[0, 5:]) == 0
    assert sfie.last_aux['t_hat'][0] <= 4 and sfie.last_aux['t_hat'][1] == 9
    assert torch.count_nonzero(out['spatial_image'][0, 5:]) == 0
    # teacher forcing: the window is centred on t* in training mode only
    forced = _sfie(gate_with_gt_in_training=True)
    _force_placement(forced, 2)
    t_star = torch.tensor([10, 11, 12])
    forced.train()(patches, num_frames=T, t_star=t_star)
    assert (forced.last_aux['window'].argmax(-1) == t_star).all()
    forced.eval()(patches, num_frames=T, t_star=t_star)
    assert (forced.last_aux['window'].argmax(-1) == 2).all()
    argmax = _sfie(t_hat='argmax').eval()
    argmax(patches, num_frames=T)
    t_hat = argmax.last_aux['t_hat']
    assert torch.equal(t_hat, t_hat.round())
    with pytest.raises(ValueError, match='exceed'):
        sfie(patches, num_frames=T + 1)


def _motion_with_known_frame():
    """One window whose frame 1 has a body facing +y (left = -x) at pelvis (1, 2, 0.9)."""
    codec = CHOISMotionCodec()
    motion = torch.zeros(1, 3, codec.dim)
    pelvis = torch.tensor([1.0, 2.0, 0.9])
    joints = pelvis.repeat(24, 1)
    joints[1] += torch.tensor([-0.1, 0.0, 0.0])     # left hip
    joints[2] += torch.tensor([0.1, 0.0, 0.0])      # right hip
    joints[3] += torch.tensor([0.0, 0.5, 0.0])      # a joint 0.5 m in front of the pelvis
    joints[22] += torch.tensor([-0.2, 0.3, 0.2])    # left hand point
    joints[23] += torch.tensor([0.2, 0.3, 0.2])     # right hand point
    s = codec.slices
    motion[0, 1, s['joints']] = joints.reshape(-1)
    motion[0, 1, s['obj_com']] = pelvis + torch.tensor([0.3, 0.4, 0.1])
    motion[0, 1, s['obj_rot']] = torch.eye(3).reshape(-1)
    motion[0, 1, s['contacts']] = torch.tensor([1.0, 0.0, 0.0, 1.0])
    return motion


def test_role_quantities_by_hand():
    motion = _motion_with_known_frame()
    q = role_quantities_from_motion(motion, torch.tensor([1]))
    assert {k: tuple(v.shape) for k, v in q.items()} == {k: (1, d) for k, d in ROLE_DIMS.items()}
    torch.testing.assert_close(q['contact'], torch.tensor([[1.0, 0.0, 0.0, 1.0]]))
    joints = q['human_pose'].reshape(24, 3)          # body frame: x forward (+y world), y left (-x world), z up
    torch.testing.assert_close(joints[0], torch.zeros(3))
    torch.testing.assert_close(joints[3], torch.tensor([0.5, 0.0, 0.0]))
    torch.testing.assert_close(joints[1], torch.tensor([0.0, 0.1, 0.0]))
    torch.testing.assert_close(q['object_pose'][0, :3], torch.tensor([0.4, -0.3, 0.1]))
    torch.testing.assert_close(q['object_pose'][0, 3:].reshape(3, 3),
                               torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    # object - left hand = (0.5, 0.1, -0.1) world -> (0.1, -0.5, -0.1); object - right hand = (0.1, 0.1, -0.1)
    torch.testing.assert_close(q['relation'][0], torch.tensor([0.1, -0.5, -0.1, 0.1, -0.1, -0.1]))
    canonical = role_quantities_from_motion(motion, torch.tensor([1]), frame='canonical')
    torch.testing.assert_close(canonical['object_pose'][0, :3], torch.tensor([0.3, 0.4, 0.1]))


def test_role_quantities_are_invariant_to_the_window_heading():
    motion = _motion_with_known_frame()
    angle = torch.tensor(0.7)
    rz = torch.tensor([[torch.cos(angle), -torch.sin(angle), 0.0], [torch.sin(angle), torch.cos(angle), 0.0],
                       [0.0, 0.0, 1.0]])
    s = CHOISMotionCodec().slices
    turned = motion.clone()
    turned[0, 1, s['joints']] = (motion[0, 1, s['joints']].reshape(24, 3) @ rz.T).reshape(-1)
    turned[0, 1, s['obj_com']] = rz @ motion[0, 1, s['obj_com']]
    turned[0, 1, s['obj_rot']] = (rz @ motion[0, 1, s['obj_rot']].reshape(3, 3)).reshape(-1)
    a = role_quantities_from_motion(motion, torch.tensor([1]))
    b = role_quantities_from_motion(turned, torch.tensor([1]))
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-5)


def test_head_losses_are_finite_positive_and_decrease():
    sfie = _sfie().train()
    gen = torch.Generator().manual_seed(1)
    patches = torch.randn(B, N, CI, generator=gen)
    gt = {role: torch.randn(B, dim, generator=gen) * 0.3 for role, dim in ROLE_DIMS.items()}
    gt['contact'] = (torch.rand(B, 4, generator=gen) > 0.5).float()
    t_star = torch.tensor([3, 8, 12])
    optim = torch.optim.Adam(sfie.parameters(), lr=3e-3)
    history = []
    for _ in range(25):
        sfie(patches, num_frames=T)
        losses = sfie.head_losses(gt, t_star)
        history.append({k: v.item() for k, v in losses.items()})
        optim.zero_grad()
        sum(losses.values()).backward()
        optim.step()
    first, last = history[0], history[-1]
    assert set(first) == {f'loss_sfie_{r}_{kind}' for r in ROLE_DIMS for kind in ('latent', 'recon')} | \
        {'loss_sfie_depicted_frame'}
    assert all(math.isfinite(v) and v > 0 for v in first.values())
    for key in first:
        assert last[key] < 0.7 * first[key], (key, first[key], last[key])
    # the placement head learns t*
    assert (sfie.last_aux['frame_probs'].argmax(-1) == t_star).all()
    with pytest.raises(RuntimeError, match='forward pass first'):
        _sfie().head_losses(gt, t_star)


def test_loss_options_copy_and_argument_checks():
    import copy
    gt = {role: torch.randn(B, dim) for role, dim in ROLE_DIMS.items()}
    t_star = torch.tensor([1, 5, 9])
    for kwargs in (dict(latent_loss='l1'), dict(latent_loss='cosine'), dict(frame_loss='l1')):
        sfie = _sfie(**kwargs)
        sfie(torch.randn(B, N, CI), num_frames=T)
        losses = sfie.head_losses(gt, t_star)
        assert all(torch.isfinite(v) and v > 0 for v in losses.values()), kwargs
        clone = copy.deepcopy(sfie)                 # EMA copies a model after forward passes
        assert clone.last_aux == {} and sfie.last_aux
    with pytest.raises(ValueError, match="needs t_hat='expectation'"):
        _sfie(frame_loss='l1', t_hat='argmax')
    for bad in (dict(latent_loss='huber'), dict(frame_loss='kl'), dict(t_hat='mode'), dict(window_sigma=0)):
        with pytest.raises(ValueError):
            _sfie(**bad)

"""CHOIS-style reconstruction guidance on hand-made motions through the real CHOIS codec (normalised x0).

The codec statistics map obj_com and joints from [-2, 2] m to [-1, 1] (raw = 2 * normalised), so one gradient
step moves a raw coordinate by 2 * lr * d(cost)/d(normalised) = 4 * lr * d(cost)/d(raw): the expected
displacements below are computed by hand from that.
"""
import itertools

import pytest
import torch

from imagin4d.models.codecs import CHOISMotionCodec
from imagin4d.models.guidance import ReconstructionGuidance
from imagin4d.models.schedulers import DDPMSampler, SamplingStep
from imagin4d.registry import MODELS

T = 4
DT = torch.float64
LEFT_HAND, RIGHT_HAND, L_ANKLE, R_ANKLE, L_TOE, R_TOE = 22, 23, 7, 8, 10, 11
# 26 points on a 10 cm sphere around the object centre (symmetric: they sum to 0)
DIRS = torch.tensor([d for d in itertools.product((-1.0, 0.0, 1.0), repeat=3) if any(d)], dtype=DT)
LOCAL_POINTS = 0.1 * DIRS / DIRS.norm(dim=-1, keepdim=True)


@pytest.fixture
def codec():
    c = CHOISMotionCodec()
    c.set_stats(dict(obj_com_min=[-2.0] * 3, obj_com_max=[2.0] * 3, joints_min=[-2.0] * 72, joints_max=[2.0] * 72))
    return c


def object_points(dec):
    """(B, T, 26, 3): the sphere placed by the decoded centre and (relative) rotation."""
    return dec['obj_com'][..., None, :] + LOCAL_POINTS.to(dec['obj_com']) @ dec['obj_rot'].transpose(-1, -2)


def make_x0(codec, obj_com=(0.5, 0.0, 1.0), contacts=(0.0, 0.0, 0.0, 0.0), feet_z=(0.02, 0.02, 0.02, 0.02),
            right_hand=(0.8, 0.0, 1.0)):
    """Normalised x0 (1, T, 220): object at obj_com, identity rotations, feet joints (7, 8, 10, 11) at feet_z."""
    joints = torch.zeros(1, T, 24, 3, dtype=DT)
    joints[..., 2] = 0.9
    joints[..., LEFT_HAND, :] = torch.tensor([-0.5, 0.3, 1.0], dtype=DT)
    joints[..., RIGHT_HAND, :] = torch.tensor(right_hand, dtype=DT)
    for j, z in zip((L_ANKLE, R_ANKLE, L_TOE, R_TOE), feet_z):
        joints[..., j, 2] = z
    raw = codec.encode(torch.tensor(obj_com, dtype=DT).expand(1, T, 3), torch.eye(3, dtype=DT).expand(1, T, 3, 3),
                       joints, torch.eye(3, dtype=DT).expand(1, T, 22, 3, 3),
                       torch.tensor(contacts, dtype=DT).expand(1, T, 4))
    return codec.normalize(raw)


def only(term, **kwargs):
    terms = {name: dict(enabled=name == term)
             for name in ('hand_contact', 'feet_floor', 'object_floor', 'contact_consistency')}
    terms[term].update(kwargs.pop('term_cfg', {}))
    return ReconstructionGuidance(terms=terms, **kwargs)


def decoded(codec, x):
    return codec.decode(codec.denormalize(x))


def changed_dims(a, b):
    return set(torch.nonzero((a != b).any(0).any(0)).flatten().tolist())


# ------------------------------------------------------------------------------------------------ object above floor
def test_object_below_the_floor_is_lifted(codec):
    x0 = make_x0(codec, obj_com=(0.5, 0.0, -0.2))                    # every sphere point below z = 0
    guide = only('object_floor', lr=0.05)
    before = guide.costs(x0, codec=codec, object_points_fn=object_points)['object_floor']
    assert before.item() == pytest.approx(0.2)                         # mean of (0.2 - p_z), symmetric points
    out = guide(x0, codec=codec, object_points_fn=object_points)
    # d cost / d com_z = -1 / T per frame -> raw z moves up by 4 * lr / T = 0.05
    com = decoded(codec, out)['obj_com']
    torch.testing.assert_close(com[..., 2], torch.full((1, T), -0.15, dtype=DT))
    torch.testing.assert_close(com[..., :2], decoded(codec, x0)['obj_com'][..., :2])
    assert changed_dims(out, x0) <= {2, *range(3, 12)}                 # only the object centre z and rotation
    after = guide.costs(out, codec=codec, object_points_fn=object_points)['object_floor']
    assert after.item() == pytest.approx(0.15, abs=1e-9)
    more = only('object_floor', lr=0.05, num_iters=3)(x0, codec=codec, object_points_fn=object_points)
    assert guide.costs(more, codec=codec, object_points_fn=object_points)['object_floor'].item() < after.item()
    # an object above the floor is left alone
    above = make_x0(codec, obj_com=(0.5, 0.0, 0.5))
    assert torch.equal(guide(above, codec=codec, object_points_fn=object_points), above)


# ------------------------------------------------------------------------------------------------ hand contact
def test_hand_in_contact_moves_to_the_object(codec):
    # right hand 10 cm from the sphere surface (nearest point (0.6, 0, 1)), labelled in contact
    x0 = make_x0(codec, right_hand=(0.7, 0.0, 1.0), contacts=(0.0, 1.0, 0.0, 0.0))
    guide = only('hand_contact', lr=0.02)
    dist = lambda x: (decoded(codec, x)['joints'][..., RIGHT_HAND, :][..., None, :]   # noqa: E731
                      - object_points(decoded(codec, x))).norm(dim=-1).min(-1).values
    torch.testing.assert_close(dist(x0), torch.full((1, T), 0.1, dtype=DT))
    assert guide.costs(x0, codec=codec, object_points_fn=object_points)['hand_contact'].item() == pytest.approx(0.08)
    out = guide(x0, codec=codec, object_points_fn=object_points)
    j0, j1 = decoded(codec, x0)['joints'], decoded(codec, out)['joints']
    # d cost / d hand = (1, 0, 0) / T -> the hand moves by 4 * lr / T = 0.02 toward the object ...
    torch.testing.assert_close(j1[..., RIGHT_HAND, :] - j0[..., RIGHT_HAND, :],
                               torch.tensor([-0.02, 0.0, 0.0], dtype=DT).expand(1, T, 3))
    # ... the object centre by 0.02 toward the hand, R[0, 0] by lr * 0.1 / T: distance 0.68 - 0.62005
    torch.testing.assert_close(dist(out), torch.full((1, T), 0.05995, dtype=DT))
    torch.testing.assert_close(j1[..., LEFT_HAND, :], j0[..., LEFT_HAND, :])      # not in contact: unchanged
    assert changed_dims(out, x0) <= {0, 1, 2, *range(3, 12), *range(12 + 3 * RIGHT_HAND, 15 + 3 * RIGHT_HAND)}
    assert guide.costs(out, codec=codec, object_points_fn=object_points)['hand_contact'].item() < 0.08
    # below the contact threshold (CHOIS 0.95) nothing moves
    unsure = make_x0(codec, right_hand=(0.7, 0.0, 1.0), contacts=(0.0, 0.9, 0.0, 0.0))
    assert torch.equal(guide(unsure, codec=codec, object_points_fn=object_points), unsure)
    # within the 2 cm margin nothing moves either
    close = make_x0(codec, right_hand=(0.615, 0.0, 1.0), contacts=(0.0, 1.0, 0.0, 0.0))
    assert torch.equal(guide(close, codec=codec, object_points_fn=object_points), close)


# ------------------------------------------------------------------------------------------------ feet on floor
def test_floating_planted_foot_goes_down_support_mode(codec):
    # left foot lowest at z = 0.25 (toe), right foot at 0.4; support mode pulls the lower foot to 0.02
    x0 = make_x0(codec, feet_z=(0.35, 0.5, 0.25, 0.4))
    guide = only('feet_floor', lr=0.1)
    assert guide.costs(x0, codec=codec)['feet_floor'].item() == pytest.approx(0.23 ** 2)
    out = guide(x0, codec=codec)
    # d cost / d z_toe = 2 * 0.23 / T -> down by 4 * lr * 0.46 / T = 0.046
    z0, z1 = decoded(codec, x0)['joints'][..., 2], decoded(codec, out)['joints'][..., 2]
    torch.testing.assert_close(z1[..., L_TOE], torch.full((1, T), 0.204, dtype=DT))
    assert changed_dims(out, x0) == {12 + 3 * L_TOE + 2}
    assert guide.costs(out, codec=codec)['feet_floor'].item() == pytest.approx(0.184 ** 2)
    assert torch.equal(z1[..., R_TOE], z0[..., R_TOE])


def test_floating_planted_foot_goes_down_contact_mode(codec):
    # the right foot is labelled in contact: it goes down although the left one is lower
    x0 = make_x0(codec, feet_z=(0.35, 0.5, 0.25, 0.4), contacts=(0.0, 0.0, 0.0, 1.0))
    guide = only('feet_floor', lr=0.1, term_cfg=dict(mode='contact'))
    assert guide.costs(x0, codec=codec)['feet_floor'].item() == pytest.approx(0.38 ** 2)
    out = guide(x0, codec=codec)
    z1 = decoded(codec, out)['joints'][..., 2]
    torch.testing.assert_close(z1[..., R_TOE], torch.full((1, T), 0.4 - 0.4 * 0.76 / T, dtype=DT))
    assert changed_dims(out, x0) == {12 + 3 * R_TOE + 2}
    # no foot contact label: nothing to do in contact mode
    free = make_x0(codec, feet_z=(0.35, 0.5, 0.25, 0.4))
    assert torch.equal(guide(free, codec=codec), free)


# ------------------------------------------------------------------------------------------------ switches
def test_disabled_terms_change_nothing(codec):
    # every term has work: object below the floor, hand 10 cm away in contact, floating feet
    x0 = make_x0(codec, obj_com=(0.5, 0.0, -0.2), right_hand=(0.7, 0.0, -0.2), contacts=(0.0, 1.0, 0.0, 1.0),
                 feet_z=(0.35, 0.5, 0.25, 0.4))
    off = {name: dict(enabled=False) for name in ('hand_contact', 'feet_floor', 'object_floor')}
    none = ReconstructionGuidance(terms=off, lr=0.1)
    assert none.enabled_terms == () and none(x0, codec=codec) is x0            # no object points needed
    zero = ReconstructionGuidance(terms={k: dict(weight=0.0) for k in off}, lr=0.1)
    assert zero(x0, codec=codec) is x0
    feet = only('feet_floor', lr=0.1)(x0, codec=codec, object_points_fn=object_points)
    assert changed_dims(feet, x0) == {12 + 3 * L_TOE + 2}
    obj = only('object_floor', lr=0.1)(x0, codec=codec, object_points_fn=object_points)
    assert changed_dims(obj, x0) <= {2, *range(3, 12)}
    # all on: each term's own cost goes down
    both = ReconstructionGuidance(lr=0.02)
    out = both(x0, codec=codec, object_points_fn=object_points)
    c0 = both.costs(x0, codec=codec, object_points_fn=object_points)
    c1 = both.costs(out, codec=codec, object_points_fn=object_points)
    assert set(c0) == {'hand_contact', 'feet_floor', 'object_floor'}
    assert all(c1[k].item() < c0[k].item() for k in c0)


def test_config_errors(codec):
    with pytest.raises(KeyError, match='hand_contac'):
        ReconstructionGuidance(terms=dict(hand_contac=dict(weight=1.0)))
    with pytest.raises(KeyError, match='wieght'):
        ReconstructionGuidance(terms=dict(feet_floor=dict(wieght=1.0)))
    with pytest.raises(ValueError, match='mode'):
        ReconstructionGuidance(terms=dict(feet_floor=dict(mode='both')))
    with pytest.raises(ValueError, match='object_points_fn'):
        ReconstructionGuidance()(make_x0(codec), codec=codec)
    with pytest.raises(ValueError, match='decode_fn or codec'):
        ReconstructionGuidance().bind()
    built = MODELS.build(dict(type='ReconstructionGuidance', terms=dict(object_floor=dict(weight=100.0)),
                              last_steps=9, num_iters=2))
    assert built.terms['object_floor'] == dict(enabled=True, weight=100.0) and built.num_iters == 2


# ------------------------------------------------------------------------------------------------ in the sampler
def test_last_steps_and_variance_scaled_lr(codec):
    x0 = make_x0(codec, obj_com=(0.5, 0.0, -0.2))
    sampler = DDPMSampler()
    guide = only('object_floor', lr=0.05, last_steps=3)
    early = SamplingStep(index=0, num_steps=10, t=999, t_prev=899, sampler=sampler)      # 10 steps left
    late = SamplingStep(index=7, num_steps=10, t=299, t_prev=199, sampler=sampler)       # 3 steps left
    assert not guide.is_active(early) and guide.is_active(late)
    assert guide(x0, early, codec=codec, object_points_fn=object_points) is x0
    assert decoded(codec, guide(x0, late, codec=codec, object_points_fn=object_points))['obj_com'][0, 0, 2].item() \
        == pytest.approx(-0.15)
    # CHOIS: lr * posterior variance of the step; 0 on the last step (t -> -1)
    chois = only('object_floor', lr=0.05, last_steps=10, lr_by_variance=True)
    last = SamplingStep(index=9, num_steps=10, t=0, t_prev=-1, sampler=sampler)
    assert torch.equal(chois(x0, last, codec=codec, object_points_fn=object_points), x0)
    step5 = SamplingStep(index=5, num_steps=10, t=5, t_prev=4, sampler=sampler)
    var = sampler.schedule.posterior_variance(5).item()
    z = decoded(codec, chois(x0, step5, codec=codec, object_points_fn=object_points))['obj_com'][0, 0, 2].item()
    assert z == pytest.approx(-0.2 + 4 * 0.05 * var / T, rel=1e-6)


def test_bound_guidance_in_a_sampling_loop(codec):
    """A network that always predicts the object below the floor: guided in the last 2 of 5 steps, the
    returned sample is the guided prediction of the last step (z = -0.2 + 0.05)."""
    x0 = make_x0(codec, obj_com=(0.5, 0.0, -0.2))
    decode_fn = lambda x: codec.decode(codec.denormalize(x))      # noqa: E731 (the model's own decoding)
    guide = only('object_floor', lr=0.05, last_steps=2)
    calls = []

    def guidance_fn(x, step):
        calls.append(guide.is_active(step))
        return guide.bind(decode_fn=decode_fn, object_points_fn=object_points)(x, step)

    sampler = DDPMSampler()
    out = sampler.sample(lambda x_t, t: x0, x0.shape, num_steps=5, generator=torch.Generator().manual_seed(0),
                         dtype=DT, guidance_fn=guidance_fn)
    assert calls == [False, False, False, True, True]
    assert decoded(codec, out)['obj_com'][..., 2].sub(-0.15).abs().max().item() < 1e-9
    plain = sampler.sample(lambda x_t, t: x0, x0.shape, num_steps=5, generator=torch.Generator().manual_seed(0),
                           dtype=DT)
    assert torch.equal(plain, x0) and torch.isfinite(out).all()


def test_chois_preset_builds_and_is_inert_on_the_last_step(codec):
    from imagin4d.models.guidance import CHOIS_PRESET
    guide = MODELS.build(dict(type='ReconstructionGuidance', **CHOIS_PRESET))
    assert guide.lr_by_variance and guide.last_steps == 10 and guide.terms['feet_floor']['weight'] == 3e5
    x0 = make_x0(codec, feet_z=(0.35, 0.5, 0.25, 0.4))
    sampler = DDPMSampler()
    last = SamplingStep(index=999, num_steps=1000, t=0, t_prev=-1, sampler=sampler)
    assert torch.equal(guide(x0, last, codec=codec, object_points_fn=object_points), x0)
    step = SamplingStep(index=995, num_steps=1000, t=4, t_prev=3, sampler=sampler)
    out = guide(x0, step, codec=codec, object_points_fn=object_points)
    assert torch.isfinite(out).all() and changed_dims(out, x0) == {12 + 3 * L_TOE + 2}


# ------------------------------------------------------------------------------------------------ contact consistency
def hand_on_object_x0(codec, right_local, com=None, rot=None, contact=1.0):
    """Normalised x0 (1, T, 220): object at `com` (T, 3) (default (0.5, 0, 1)) with relative rotation `rot`
    (T, 3, 3) (default identity), the right hand at com + rot @ right_local[t], right-hand contact label `contact`."""
    com = torch.tensor([0.5, 0.0, 1.0], dtype=DT).expand(T, 3) if com is None else torch.as_tensor(com, dtype=DT)
    rot = torch.eye(3, dtype=DT).expand(T, 3, 3) if rot is None else torch.as_tensor(rot, dtype=DT)
    joints = torch.zeros(1, T, 24, 3, dtype=DT)
    joints[..., 2] = 0.9
    joints[..., LEFT_HAND, :] = torch.tensor([-0.5, 0.3, 1.0], dtype=DT)
    joints[0, :, RIGHT_HAND] = com + (rot @ torch.as_tensor(right_local, dtype=DT)[..., None])[..., 0]
    contacts = torch.tensor([0.0, contact, 0.0, 0.0], dtype=DT).expand(1, T, 4)
    raw = codec.encode(com[None], rot[None], joints, torch.eye(3, dtype=DT).expand(1, T, 22, 3, 3), contacts)
    return codec.normalize(raw)


def test_contact_consistency_pulls_the_hand_to_one_place_on_the_object(codec):
    """Right hand in contact at object-frame (0.1, 0, 0) in frames 0, 1 and (0, 0.1, 0) in frames 2, 3.

    cosine (CHOIS): of the 12 ordered frame pairs, 4 have cos 1 and 8 cos 0: cost 1 - 4/12 = 2/3. d cost / d l_0 =
    -(1/12) sum over the 4 pairs (0, 2), (2, 0), (0, 3), (3, 0) of (v - cos u) / |l_0| = -(1/12) 4 (0, 1, 0) / 0.1:
    the hand of frames 0, 1 moves by 4 lr (10/3) toward +y, that of frames 2, 3 toward +x, each object centre the
    opposite way. distance: mean (0.05, 0.05, 0), cost 4 * 0.005 / 4 = 0.005, d cost / d l_0 = 2 (l_0 - mean) / 4."""
    local = [(0.1, 0.0, 0.0)] * 2 + [(0.0, 0.1, 0.0)] * 2
    x0 = hand_on_object_x0(codec, local)
    guide = only('contact_consistency', lr=0.003)
    before = guide.costs(x0, codec=codec)['contact_consistency']
    assert before.item() == pytest.approx(2 / 3)
    out = guide(x0, codec=codec)                                   # no object points needed
    d0, d1 = decoded(codec, x0), decoded(codec, out)
    step = 4 * 0.003 * 10 / 3                                       # 0.04 m
    moved = torch.tensor([[0.0, step, 0.0]] * 2 + [[step, 0.0, 0.0]] * 2, dtype=DT)[None]
    torch.testing.assert_close(d1['joints'][..., RIGHT_HAND, :] - d0['joints'][..., RIGHT_HAND, :], moved)
    torch.testing.assert_close(d1['obj_com'] - d0['obj_com'], -moved)
    torch.testing.assert_close(d1['joints'][..., LEFT_HAND, :], d0['joints'][..., LEFT_HAND, :])
    assert changed_dims(out, x0) <= {0, 1, 2, *range(3, 12), *range(12 + 3 * RIGHT_HAND, 15 + 3 * RIGHT_HAND)}
    assert guide.costs(out, codec=codec)['contact_consistency'].item() < before.item() - 0.1

    distance = only('contact_consistency', lr=0.1, term_cfg=dict(mode='distance'))
    assert distance.costs(x0, codec=codec)['contact_consistency'].item() == pytest.approx(0.005)
    hand = decoded(codec, distance(x0, codec=codec))['joints'][..., RIGHT_HAND, :] - d0['joints'][..., RIGHT_HAND, :]
    # -4 lr 2 (l_t - mean) / 4, l_t - mean = (0.05, -0.05, 0) in frames 0, 1 and (-0.05, 0.05, 0) in frames 2, 3
    torch.testing.assert_close(hand, torch.tensor([[-0.01, 0.01, 0.0]] * 2 + [[0.01, -0.01, 0.0]] * 2, dtype=DT)[None])


def test_contact_consistency_leaves_a_consistent_grasp_and_uncertain_contacts_alone(codec):
    # the object turns 0..90 degrees about z and slides in x, the hand stays at one object-frame point: cost 0
    angles = torch.linspace(0, torch.pi / 2, T, dtype=DT)
    c, s, zero, one = angles.cos(), angles.sin(), torch.zeros(T, dtype=DT), torch.ones(T, dtype=DT)
    rot = torch.stack([torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1),
                       torch.stack([zero, zero, one], -1)], -2)
    com = torch.tensor([0.5, 0.0, 1.0], dtype=DT) + 0.1 * torch.arange(T, dtype=DT)[:, None] * torch.tensor(
        [1.0, 0.0, 0.0], dtype=DT)
    local = [(0.08, 0.06, 0.0)] * T
    for mode in ('cosine', 'distance'):
        guide = only('contact_consistency', lr=0.003, term_cfg=dict(mode=mode))
        x0 = hand_on_object_x0(codec, local, com, rot)
        assert guide.costs(x0, codec=codec)['contact_consistency'].item() == pytest.approx(0.0, abs=1e-12)
        torch.testing.assert_close(guide(x0, codec=codec), x0, atol=1e-9, rtol=0)
    # labels below the threshold (CHOIS 0.95), or only one contact frame: nothing to keep consistent
    guide = only('contact_consistency', lr=0.003)
    unsure = hand_on_object_x0(codec, [(0.1, 0.0, 0.0)] * 2 + [(0.0, 0.1, 0.0)] * 2, contact=0.9)
    assert torch.equal(guide(unsure, codec=codec), unsure)
    with pytest.raises(ValueError, match="contact_consistency mode must be 'cosine' or 'distance'"):
        only('contact_consistency', term_cfg=dict(mode='l1'))
    assert MODELS.build(dict(type='ReconstructionGuidance')).terms['contact_consistency']['enabled'] is False

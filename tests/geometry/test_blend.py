"""The seam cross-fade: hand-computed ramp values, slerp against a rotation about one axis, and continuity."""
import math

import pytest
import torch

from imagin4d.geometry import rotation_about_z
from imagin4d.geometry.blend import crossfade, crossfade_weights, slerp_rotations


def test_ramp_values_by_hand():
    # u = 1/4, 2/4, 3/4: 3u^2 - 2u^3 = 0.15625, 0.5, 0.84375
    torch.testing.assert_close(crossfade_weights(3), torch.tensor([0.15625, 0.5, 0.84375], dtype=torch.float64))
    w = crossfade_weights(9)
    torch.testing.assert_close(w + w.flip(0), torch.ones(9, dtype=torch.float64))     # symmetric about 1/2
    with pytest.raises(ValueError, match='at least 1 frame'):
        crossfade_weights(0)


def test_slerp_about_one_axis_is_linear_in_the_angle():
    R0 = rotation_about_z(torch.tensor([0.3], dtype=torch.float64)).expand(3, 3, 3)
    R1 = rotation_about_z(torch.tensor([1.9], dtype=torch.float64)).expand(3, 3, 3)
    w = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    expected = rotation_about_z(torch.tensor([0.3, 0.3 + 0.25 * 1.6, 1.9], dtype=torch.float64))
    torch.testing.assert_close(slerp_rotations(R0, R1, w), expected)
    # the short way round: from +170 to -170 degrees passes through 180, not through 0
    a, b = rotation_about_z(torch.tensor([math.radians(170)] * 1)), rotation_about_z(torch.tensor([math.radians(-170)]))
    mid = slerp_rotations(a.double(), b.double(), torch.tensor([0.5]))
    torch.testing.assert_close(mid, rotation_about_z(torch.tensor([math.pi], dtype=torch.float64)))


def test_crossfade_mixes_positions_linearly_and_rotations_by_slerp():
    T = 3
    out = crossfade(dict(p=torch.zeros(T, 2, 3, dtype=torch.float64),
                         R=torch.eye(3, dtype=torch.float64).expand(T, 3, 3)),
                    dict(p=torch.full((T, 2, 3), 4.0, dtype=torch.float64),
                         R=rotation_about_z(torch.full((T,), 1.0, dtype=torch.float64))),
                    crossfade_weights(T), rotations=('R',))
    torch.testing.assert_close(out['p'][:, 0, 0], torch.tensor([0.625, 2.0, 3.375], dtype=torch.float64))
    torch.testing.assert_close(out['R'], rotation_about_z(torch.tensor([0.15625, 0.5, 0.84375], dtype=torch.float64)))


def test_a_blend_between_two_lines_has_no_jump_in_position_or_velocity():
    """x_a(t) = t (velocity 1) fades into x_b(t) = 10 + 2 t (velocity 2) over 40 frames: the largest step of the
    result never exceeds what the two motions and their 10-unit gap spread over the ramp give."""
    n, L = 120, 40
    t = torch.arange(n, dtype=torch.float64)
    a, b = t, 10.0 + 2.0 * t
    w = torch.cat([torch.zeros(40), crossfade_weights(L), torch.ones(n - 40 - L)]).double()
    x = (1 - w) * a + w * b
    steps = x.diff()
    assert steps[:39].max().item() == pytest.approx(1.0) and steps[81:].min().item() == pytest.approx(2.0)
    # max slope of smoothstep is 1.5 per unit u = 1.5 / (L + 1) per frame: gap (10 + t) at most 10 + 80
    assert steps.max().item() <= 2.0 + 1.5 / (L + 1) * 90.0 + 1e-9
    # |x''| <= |w''| gap + 2 |w'| |b' - a'| with |w''| <= 6 / (L + 1)^2 per frame^2: about 0.39 here, where a hard
    # cut at frame 40 would step by the gap, 50
    accel = steps.diff().abs()
    assert accel.max().item() <= 6.0 / (L + 1) ** 2 * 90.0 + 2 * 1.5 / (L + 1) + 1e-9
    assert steps[39].item() < 1.1 and steps[80].item() > 1.9      # entering and leaving: the motions' own speeds

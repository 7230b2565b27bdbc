"""The hidden-factor rules of mini-FBM on hand-made poses (no body model): carry-height bands, layout bearing,
grasp hand from contacts or distances, mirroring."""
import numpy as np
import pytest

from imagin4d.datasets.synthetic import mirror_factors, mirror_motion, recover_factors
from imagin4d.geometry.interaction_factors import HEIGHT_RULE, classify_hands, classify_height, height_band


def _body(yaw=0.0, shift=(0.0, 0.0)):
    """(1, 24, 3) joints of a standing body facing (-sin yaw, cos yaw): pelvis 0.95, spine3 1.3, head 1.6."""
    j = np.zeros((24, 3))
    j[:, 2] = 1.0
    j[0, 2], j[9, 2], j[15, 2] = 0.95, 1.3, 1.6
    j[1], j[2] = (-0.1, 0, 0.9), (0.1, 0, 0.9)          # left hip at -x: facing +y, left is -x
    j[16], j[17] = (-0.2, 0, 1.4), (0.2, 0, 1.4)
    j[22], j[23] = (-0.25, 0.1, 0.9), (0.25, 0.1, 0.9)
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return (j @ R.T + np.array([*shift, 0.0]))[None], R


@pytest.mark.parametrize('z,expected', [(0.5, 'low'), (0.95 - HEIGHT_RULE['low_below_pelvis'] - 0.01, 'low'),
                                        (0.9, 'hip'), (1.12, 'hip'), (1.13, 'chest'), (1.6, 'chest'),
                                        (1.66, 'overhead'), (2.2, 'overhead')])
def test_height_bands(z, expected):
    assert classify_height(z, 0.95, 1.3, 1.6) == expected
    lo, hi = height_band(0.95, 1.3, 1.6)[expected]
    assert lo <= z < hi


@pytest.mark.parametrize('yaw', [0.0, 1.0, -2.5])
def test_layout_in_the_heading_frame_and_mirror(yaw):
    joints, R = _body(yaw, shift=(3.0, -1.0))
    pelvis = joints[0, 0]
    for local, layout in (((0.0, 0.4), 'front'), ((0.45, 0.05), 'right'), ((-0.45, 0.05), 'left'),
                          ((0.15, 0.4), 'front')):
        centre = pelvis + R @ np.array([local[0], local[1], 0.0])
        centre[2] = 1.0
        got = recover_factors(joints, centre[None], np.array([[1, 0, 0, 0]]), 0)
        assert got['layout'] == layout and got['carry_height'] == 'hip' and got['grasp_hand'] == 'left'
        mj, mc, mk = mirror_motion(joints, centre[None], np.array([[1, 0, 0, 0]]))
        assert recover_factors(mj, mc, mk, 0) == mirror_factors(got)


def test_grasp_hand_from_contacts_and_from_distances():
    joints, _ = _body()
    centre = np.array([[0.0, 0.35, 0.9]])
    assert classify_hands(True, True) == 'both' and classify_hands(False, False) is None
    assert recover_factors(joints, centre, np.array([[0, 1, 0, 0]]), 0)['grasp_hand'] == 'right'
    assert recover_factors(joints, centre, np.array([[1, 1, 1, 0]]), 0)['grasp_hand'] == 'both'
    assert recover_factors(joints, centre, None, 0)['grasp_hand'] == 'both'     # both hands equally close
    near_right = np.array([[0.3, 0.2, 0.9]])
    assert recover_factors(joints, near_right, None, 0)['grasp_hand'] == 'right'
    assert recover_factors(joints, near_right, np.array([[0, 0, 0, 0]]), 0)['grasp_hand'] == 'right'


def test_recover_defaults_to_the_middle_frame():
    joints, _ = _body()
    joints = np.repeat(joints, 5, 0)
    centre = np.repeat(np.array([[0.0, 0.4, 0.5]]), 5, 0)
    centre[2, 2] = 1.4
    assert recover_factors(joints, centre)['carry_height'] == 'chest'


def test_prior_accuracy_hand_computed():
    from imagin4d.datasets.synthetic import prior_accuracy
    train = [('box', 'left'), ('box', 'left'), ('box', 'both'), ('lamp', 'right')]
    test = [('box', 'left'), ('box', 'both'), ('lamp', 'right'), ('chair', 'left')]
    # box: left 2/3, both 1/3; lamp: right 1; unseen chair -> overall: left 2/4 (majority left)
    sampled, majority = prior_accuracy(train, test)
    assert sampled == pytest.approx((2 / 3 + 1 / 3 + 1 + 2 / 4) / 4)
    assert majority == pytest.approx((1 + 0 + 1 + 1) / 4)

"""Tests of imagin4d.evaluation.functional motion / interaction / waypoint metrics against hand-computed values.

Independent expectations: closed-form numbers (CHOIS cases, docs/user_guides/evaluation.md), rotations built with
scipy, an analytic unit box for distances and penetration depth, and scikit-learn's DBSCAN for the 1-D
clustering.
"""
import math

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from imagin4d.evaluation.functional import (
    contact_frames,
    contact_percent,
    contact_scores,
    dbscan_1d,
    estimate_floor_height,
    foot_sliding,
    hand_jpe,
    hand_object_distances,
    mpjpe,
    mpvpe,
    penetration,
    penetrations,
    position_error,
    root_translation_error,
    rotation_frobenius_error,
    rotation_geodesic_error,
    waypoint_errors,
    waypoint_frames,
)
from imagin4d.models.codecs import CHOISMotionCodec

T = 120


def _skeleton(T=T, seed=0):
    """(T, 24, 3) joints: a random but fixed body drifting slowly in x."""
    rng = np.random.default_rng(seed)
    body = rng.uniform(-0.5, 0.5, (24, 3)) + np.array([0.0, 0.0, 1.0])
    drift = np.linspace(0.0, 0.5, T)[:, None, None] * np.array([1.0, 0.0, 0.0])
    return body[None] + drift


# ------------------------------------------------------------------------------------------- joints
def test_identical_motion_gives_zero_errors():
    joints = _skeleton()
    rot = Rotation.random(T, random_state=1).as_matrix()
    assert hand_jpe(joints, joints) == dict(lhand_jpe=0.0, rhand_jpe=0.0, hand_jpe=0.0)
    assert mpjpe(joints, joints) == 0.0
    assert root_translation_error(joints, joints) == 0.0
    assert position_error(joints[:, 0], joints[:, 0]) == 0.0
    assert rotation_frobenius_error(rot, rot) == pytest.approx(0.0, abs=1e-12)
    assert rotation_geodesic_error(rot, rot) == pytest.approx(0.0, abs=1e-6)


def test_whole_body_translation():
    """Every joint moved by (3, -4, 0) mm: 5 mm hand / root error, 0 root-relative MPJPE (and MPVPE)."""
    gt = _skeleton()
    pred = gt + np.array([0.003, -0.004, 0.0])
    errors = hand_jpe(pred, gt)
    assert errors['lhand_jpe'] == pytest.approx(5.0)
    assert errors['rhand_jpe'] == pytest.approx(5.0)
    assert errors['hand_jpe'] == pytest.approx(5.0)
    assert root_translation_error(pred, gt) == pytest.approx(5.0)
    assert mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    verts_gt = np.repeat(gt, 3, axis=1)
    assert mpvpe(verts_gt + np.array([0.003, -0.004, 0.0]), verts_gt, pred[:, 0], gt[:, 0]) == pytest.approx(0.0,
                                                                                                          abs=1e-9)


def test_hand_points_moved():
    """Only joints 22 and 23 moved 20 mm (left +z, right -y): hand JPE 20, MPJPE 2 * 20 / 24."""
    gt = _skeleton()
    pred = gt.copy()
    pred[:, 22, 2] += 0.02
    pred[:, 23, 1] -= 0.02
    errors = hand_jpe(pred, gt)
    assert errors['lhand_jpe'] == pytest.approx(20.0)
    assert errors['rhand_jpe'] == pytest.approx(20.0)
    assert mpjpe(pred, gt) == pytest.approx(40.0 / 24.0)
    assert root_translation_error(pred, gt) == pytest.approx(0.0)


def test_mpvpe_root_relative():
    """Half the vertices off by 6 mm, the rest exact -> 3 mm; shifting both roots changes nothing."""
    gt = np.zeros((4, 10, 3))
    pred = gt.copy()
    pred[:, :5, 0] += 0.006
    root = np.zeros((4, 3))
    assert mpvpe(pred, gt, root, root) == pytest.approx(3.0)
    assert mpvpe(pred + 1.0, gt - 2.0, root + 1.0, root - 2.0) == pytest.approx(3.0)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match='differ in shape'):
        mpjpe(np.zeros((5, 24, 3)), np.zeros((4, 24, 3)))


# ------------------------------------------------------------------------------------------- rotations
@pytest.mark.parametrize('angle_deg', [90.0, 30.0, 170.0])
def test_rotation_errors_known_angle(angle_deg):
    """R_pred = R_gt composed with a known rotation: Frobenius 2 sqrt(1 - cos a), geodesic a."""
    gt = Rotation.random(T, random_state=2)
    offset = Rotation.from_rotvec(np.radians(angle_deg) * np.array([1.0, 2.0, -2.0]) / 3.0)
    pred = (offset * gt).as_matrix()
    expected = 2.0 * math.sqrt(1.0 - math.cos(math.radians(angle_deg)))
    assert rotation_frobenius_error(pred, gt.as_matrix()) == pytest.approx(expected, abs=1e-9)
    assert rotation_geodesic_error(pred, gt.as_matrix()) == pytest.approx(angle_deg, abs=1e-6)
    assert rotation_geodesic_error(pred, gt.as_matrix(), degrees=False) == pytest.approx(math.radians(angle_deg))
    if angle_deg == 90.0:
        assert rotation_frobenius_error(pred, gt.as_matrix()) == pytest.approx(2.0)


# ------------------------------------------------------------------------------------------- foot sliding
def _feet(T=T):
    """Joints far above the floor except the feet: ankles 7, 8 at 0.10 m (above H = 0.08), toes 10, 11 at 0."""
    joints = np.zeros((T, 24, 3))
    joints[:, :, 2] = 1.0
    joints[:, [7, 8], 2] = 0.10
    joints[:, [10, 11], 2] = 0.0
    return joints


def test_foot_sliding_one_toe_on_the_floor():
    """Left toe slides 2 mm per frame on the floor, all else static: 1000 * 0.002 * 119 / 120 / 4."""
    joints = _feet()
    joints[:, 10, 0] = 0.002 * np.arange(T)
    assert foot_sliding(joints) == pytest.approx(119 * 2 / 120 / 4)
    assert foot_sliding(joints) == pytest.approx(0.4958, abs=1e-4)
    # the same sequence lifted by 0.25 m with that floor height
    lifted = joints + np.array([0.0, 0.0, 0.25])
    assert foot_sliding(lifted, floor_height=0.25) == pytest.approx(119 * 2 / 120 / 4)
    assert foot_sliding(lifted) == 0.0  # above every threshold relative to z = 0


def test_foot_sliding_height_weight_and_ankles():
    """A toe at 2 cm (H = 4 cm) weighs 2 - 2^0.5, an ankle at 4 cm (H = 8 cm) also 2 - 2^0.5."""
    weight = 2.0 - 2.0 ** 0.5
    joints = _feet()
    joints[:, 11, 2] = 0.02
    joints[:, 11, 1] = -0.003 * np.arange(T)
    assert foot_sliding(joints) == pytest.approx(1000 * 0.003 * weight * 119 / T / 4)
    joints = _feet()
    joints[:, 7, 2] = 0.04
    joints[:, 7, :2] = 0.004 * np.arange(T)[:, None] * np.array([0.6, 0.8])
    assert foot_sliding(joints) == pytest.approx(1000 * 0.004 * weight * 119 / T / 4)


def test_foot_sliding_walking_body():
    """The whole body walks 1 cm per frame with both toes on the floor: 1000 * 0.01 * 119 / 120 * 2 / 4."""
    joints = _feet()
    joints[:, :, 0] += 0.01 * np.arange(T)[:, None]
    assert foot_sliding(joints) == pytest.approx(4.958, abs=1e-3)
    assert estimate_floor_height(joints) == 0.0  # no toe is static (10 mm/frame > 5 mm/frame)


def test_estimate_floor_height():
    joints = _feet()
    joints[:, 10, 2] = 0.10      # left toe static at 10 cm
    joints[:, 11, 2] = 0.02      # right toe static at 2 cm -> the lowest cluster
    assert estimate_floor_height(joints) == pytest.approx(0.02)
    # a slowly sliding toe (2 mm/frame < 5 mm/frame) still counts as static
    joints[:, 11, 0] = 0.002 * np.arange(T)
    assert estimate_floor_height(joints) == pytest.approx(0.02)


def test_estimate_floor_height_keeps_noise_group():
    """CHOIS takes np.unique(labels), noise (-1) included: one lone static frame far below wins."""
    joints = _feet()
    joints[:, 11, 2] = 0.05
    joints[:, 10, 2] = -0.3
    joints[:, 10, 0] = 0.1 * np.arange(T)
    joints[51:, 10, 0] -= 0.1  # no motion between frames 50 and 51: one static left-toe frame
    assert estimate_floor_height(joints) == pytest.approx(-0.3)


def test_dbscan_1d_matches_sklearn():
    sklearn_cluster = pytest.importorskip('sklearn.cluster')
    rng = np.random.default_rng(4)
    for trial in range(5):
        values = np.concatenate([rng.normal(0.0, 0.003, 30), rng.normal(0.05, 0.004, 20),
                                 rng.uniform(-0.2, 0.3, 10), [0.0125, 0.0125]])
        rng.shuffle(values)
        expected = sklearn_cluster.DBSCAN(eps=0.005, min_samples=3).fit(values.reshape(-1, 1)).labels_
        np.testing.assert_array_equal(dbscan_1d(values, 0.005, 3), expected)


# ------------------------------------------------------------------------------------------- contact
def _unit_box():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    return np.asarray(box.vertices), np.asarray(box.faces)


def test_hand_object_distances_vertices_and_surface():
    """Unit box; scale 2, 45 degrees about z, translated: distances scale with the object."""
    verts, faces = _unit_box()
    local = np.array([[[0.53, 0.5, 0.5], [0.6, 0.0, 0.0]],      # 3 cm from a corner | 10 cm off a face centre
                      [[0.3, 0.0, 0.0], [0.5, 0.5, 0.5]]])      # inside, 20 cm deep | on a corner
    scale, trans = 2.0, np.array([1.0, 2.0, 0.5])
    rot = np.stack([Rotation.from_euler('z', 45, degrees=True).as_matrix()] * 2)
    world = scale * local @ rot[0].T + trans
    d_vert = hand_object_distances(world, rot, np.stack([trans] * 2), np.full(2, scale), verts)
    expected_vert = scale * np.array([[0.03, math.sqrt(0.1 ** 2 + 0.5)], [math.sqrt(0.2 ** 2 + 0.5), 0.0]])
    np.testing.assert_allclose(d_vert, expected_vert, atol=1e-9)
    d_surf = hand_object_distances(world, rot, np.stack([trans] * 2), scale, verts, faces)
    np.testing.assert_allclose(d_surf, scale * np.array([[0.03, 0.1], [0.0, 0.0]]), atol=1e-9)
    # contact: any hand strictly below the threshold
    np.testing.assert_array_equal(contact_frames(d_vert, 0.05), [False, True])
    np.testing.assert_array_equal(contact_frames(d_vert, 0.07), [True, True])
    # strictly closer: exactly at the threshold is not contact
    np.testing.assert_array_equal(contact_frames(np.array([[0.05, 0.3], [0.3, 0.0499]]), 0.05), [False, True])


def test_contact_scores_lost_contact():
    """GT in contact at frames 30-89, prediction loses 30-59: P 1, R 0.5, F1 2/3, acc 0.75; C% 0.25 vs 0.5."""
    gt = np.zeros(T, bool)
    gt[30:90] = True
    pred = gt.copy()
    pred[30:60] = False
    scores = contact_scores(pred, gt)
    assert scores == pytest.approx(dict(contact_precision=1.0, contact_recall=0.5, contact_f1=2.0 / 3.0,
                                        contact_acc=0.75))
    assert contact_percent(pred) == 0.25 and contact_percent(gt) == 0.5
    assert contact_scores(gt, gt) == dict(contact_precision=1.0, contact_recall=1.0, contact_f1=1.0,
                                          contact_acc=1.0)


def test_contact_scores_swapped_and_empty():
    gt = np.zeros(T, bool)
    gt[30:90] = True
    # swapped labels: every frame wrong
    assert contact_scores(~gt, gt) == dict(contact_precision=0.0, contact_recall=0.0, contact_f1=0.0,
                                           contact_acc=0.0)
    # extra contact: prediction in contact at 0-89 -> P = 60 / 90, R = 1
    pred = np.zeros(T, bool)
    pred[:90] = True
    scores = contact_scores(pred, gt)
    assert scores['contact_precision'] == pytest.approx(60 / 90)
    assert scores['contact_recall'] == 1.0
    assert scores['contact_f1'] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    assert scores['contact_acc'] == pytest.approx(90 / 120)
    # CHOIS zero conventions when nobody touches the object
    none = np.zeros(T, bool)
    assert contact_scores(none, none) == dict(contact_precision=0.0, contact_recall=0.0, contact_f1=0.0,
                                              contact_acc=1.0)


# ------------------------------------------------------------------------------------------- penetration
def test_penetration_depth_in_a_placed_unit_box():
    """Frame 0: identity pose, point 30 cm inside (depth 0.2 from the x face) + one outside; frame 1: scale 2,
    45 degrees about z, translated, point at local (0, 0, 0.45) -> depth 2 * 0.05 = 0.1, + one outside.
    Mean over the 4 points = (0.2 + 0.1) / 4."""
    verts, faces = _unit_box()
    rot = np.stack([np.eye(3), Rotation.from_euler('z', 45, degrees=True).as_matrix()])
    trans = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 0.5]])
    scale = np.array([1.0, 2.0])
    local = np.array([[[0.3, 0.0, 0.0], [0.0, 0.9, 0.0]],
                      [[0.0, 0.0, 0.45], [0.7, 0.0, 0.0]]])
    world = scale[:, None, None] * np.einsum('tij,tpj->tpi', rot, local) + trans[:, None]
    assert penetration(world, rot, trans, scale, verts, faces) == pytest.approx(0.3 / 4, abs=1e-9)
    outside = world.copy()
    outside[:, :, 2] += 5.0
    assert penetration(outside, rot, trans, scale, verts, faces) == 0.0
    # several point sets in one mesh query: each set's own mean, the same floats as one query per set
    hands = world[:, :1]                                          # depths 0.2 and 0.1 -> mean 0.15
    both = penetrations([hands, world, outside], rot, trans, scale, verts, faces)
    assert both == [penetration(p, rot, trans, scale, verts, faces) for p in (hands, world, outside)]
    assert both[0] == pytest.approx(0.15, abs=1e-9) and both[1] == pytest.approx(0.3 / 4, abs=1e-9)


# ------------------------------------------------------------------------------------------- waypoints
def test_waypoint_errors_known_offsets():
    """Offsets: frame 0 (3, 4, 0) mm, last (0, 0, 12) mm, xy frames 29/59/89 (6, 8, 100) mm (z ignored)."""
    codec = CHOISMotionCodec()
    com_mask = codec.waypoint_mask(T)[:, codec.slices['obj_com']].numpy()
    assert waypoint_frames(com_mask) == dict(start=0, end=T - 1, xy=[29, 59, 89])
    rng = np.random.default_rng(5)
    gt = rng.uniform(-1.0, 1.0, (T, 3))
    pred = gt.copy()
    pred[0] += [0.003, 0.004, 0.0]
    pred[T - 1] += [0.0, 0.0, 0.012]
    pred[[29, 59, 89]] += [0.006, 0.008, 0.1]
    pred[100] += [1.0, 1.0, 1.0]    # no waypoint there: ignored
    errors = waypoint_errors(pred, gt, com_mask)
    assert errors == pytest.approx(dict(waypoint_start_err=5.0, waypoint_end_err=12.0, waypoint_xy_err=10.0))


def test_waypoint_frames_follow_the_mask():
    """Frames come from the mask: a padded window (last = 99) and custom xy frames; missing kinds are NaN."""
    codec = CHOISMotionCodec()
    com = codec.slices['obj_com']
    mask = codec.waypoint_mask(T, xy_frames=(10, 50), last_frame=99)[:, com].numpy()
    assert waypoint_frames(mask) == dict(start=0, end=99, xy=[10, 50])
    gt = np.zeros((T, 3))
    pred = gt.copy()
    pred[99] += [0.0, 0.02, 0.0]
    pred[10] += [0.004, 0.0, 0.0]
    pred[T - 1] += [5.0, 5.0, 5.0]   # beyond the valid frames: ignored
    errors = waypoint_errors(pred, gt, mask)
    assert errors == pytest.approx(dict(waypoint_start_err=0.0, waypoint_end_err=20.0, waypoint_xy_err=2.0))
    only_start = np.zeros((T, 3), bool)
    only_start[0] = True
    errors = waypoint_errors(pred, gt, only_start)
    assert errors['waypoint_start_err'] == 0.0
    assert math.isnan(errors['waypoint_end_err']) and math.isnan(errors['waypoint_xy_err'])

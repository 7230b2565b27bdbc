"""Camera math: intrinsics, look-at extrinsics, projection, sampling, serialisation, mirroring."""
import math

import numpy as np
import pytest

from imagin4d.rendering import (
    Camera,
    camera_rng,
    intrinsics_from_fov,
    look_at_world_to_cam,
    mirror_camera,
    mirror_points,
    points_in_view,
    project_points,
    sample_camera,
)


def test_intrinsics_from_fov_centre_and_focal():
    K = intrinsics_from_fov(60.0, 224, 112)
    assert K[0, 2] == pytest.approx(111.5) and K[1, 2] == pytest.approx(55.5)
    # a point at the top edge of the vertical field of view lands on the top pixel edge (v = -0.5)
    assert K[1, 1] * math.tan(math.radians(30.0)) == pytest.approx(56.0)
    with pytest.raises(ValueError):
        intrinsics_from_fov(0.0, 10, 10)


def test_look_at_projects_target_to_principal_point_with_z_up():
    eye, target = np.array([3.0, -2.0, 1.5]), np.array([0.0, 0.5, 0.9])
    cam = Camera(intrinsics_from_fov(50, 64, 48), look_at_world_to_cam(eye, target), 64, 48)
    R = cam.R
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    assert np.allclose(cam.position, eye)
    uv, depth = project_points(cam, np.stack([target, target + [0, 0, 0.3]]))
    assert np.allclose(uv[0], [31.5, 23.5]) and depth[0] == pytest.approx(np.linalg.norm(target - eye))
    assert uv[1, 1] < uv[0, 1]  # world up is image up (smaller row)


def test_look_at_straight_down_is_well_defined():
    w2c = look_at_world_to_cam([0, 0, 3], [0, 0, 0])
    assert np.isfinite(w2c).all() and np.allclose(w2c[:3, :3] @ w2c[:3, :3].T, np.eye(3))


def test_project_points_matches_pinhole_formula():
    K = np.array([[100.0, 0, 30], [0, 120.0, 20], [0, 0, 1]])
    cam = Camera(K, np.eye(4), 60, 40)
    uv, depth = project_points(cam, np.array([[0.1, -0.2, 2.0]]))
    assert np.allclose(uv, [[30 + 100 * 0.05, 20 - 120 * 0.1]]) and np.allclose(depth, [2.0])
    inside = points_in_view(cam, np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [10.0, 0.0, 1.0]]))
    assert inside.tolist() == [True, False, False]


def test_sample_camera_deterministic_and_within_ranges():
    look = np.array([0.2, -0.1, 0.9])
    ranges = dict(azimuth_range=(10, 80), elevation_range=(15, 30), distance_range=(2.5, 3.0), fov_range=(40, 50))
    a = sample_camera(camera_rng(7, 'seq', 3), look, **ranges, width=96, height=96)
    b = sample_camera(camera_rng(7, 'seq', 3), look, **ranges, width=96, height=96)
    c = sample_camera(camera_rng(8, 'seq', 3), look, **ranges, width=96, height=96)
    assert a.allclose(b) and not a.allclose(c)
    offset = a.position - look
    distance = np.linalg.norm(offset)
    elevation = math.degrees(math.asin(offset[2] / distance))
    azimuth = math.degrees(math.atan2(offset[1], offset[0]))
    fov = 2 * math.degrees(math.atan(48 / a.K[1, 1]))
    assert 2.5 <= distance <= 3.0 and 15 <= elevation <= 30 and 10 <= azimuth <= 80 and 40 <= fov <= 50
    uv, _ = project_points(a, look[None])
    assert np.allclose(uv, [[47.5, 47.5]])


def test_sample_camera_azimuth_is_measured_from_the_facing():
    look = np.array([1.0, 2.0, 1.0])
    facing = np.array([0.0, -1.0, 0.0])  # the body faces -y: its left is +x, its right -x
    for seed in range(40):
        cam = sample_camera(camera_rng(seed, 'front'), look, azimuth_range=(-70, 70), facing=facing)
        offset = cam.position - look
        # the camera is within 70 degrees of straight in front of the body (-y side of the look-at point)
        assert math.degrees(math.atan2(abs(offset[0]), -offset[1])) <= 70.0 + 1e-9
        # so the body's left (+x) is on the image's right, for every sampled camera
        uv, _ = project_points(cam, np.stack([look + [0.2, 0, 0], look - [0.2, 0, 0]]))
        assert uv[0, 0] > uv[1, 0]
    # +90 degrees from the facing is the body's left; the facing's length does not matter
    side = sample_camera(camera_rng(0, 'side'), look, azimuth_range=(90, 90), facing=5 * facing)
    assert np.allclose((side.position - look)[:2] / np.linalg.norm((side.position - look)[:2]), [1.0, 0.0])
    with pytest.raises(ValueError, match='facing'):
        sample_camera(camera_rng(0, 'x'), look, facing=[0.0, 0.0, 1.0])


def test_camera_dict_round_trip_and_fingerprint():
    cam = sample_camera(camera_rng(0, 'x'), [0, 0, 1], width=64, height=64)
    again = Camera.from_dict(cam.to_dict())
    assert again.allclose(cam) and again.fingerprint() == cam.fingerprint()
    nudged = Camera(cam.K, cam.world_to_cam + 1e-9, 64, 64)  # below the 1e-6 rounding
    assert nudged.fingerprint() == cam.fingerprint()
    moved = Camera(cam.K, cam.world_to_cam + np.pad(np.full((3, 1), 1e-3), ((0, 1), (3, 0))), 64, 64)
    assert moved.fingerprint() != cam.fingerprint()


def test_mirror_camera_flips_projections_horizontally():
    rng = np.random.default_rng(0)
    cam = sample_camera(camera_rng(1, 'm'), [0.3, 0.2, 0.9], width=80, height=60)
    cam.K[0, 2] += 3.7  # an off-centre principal point must be mirrored too
    points = rng.uniform([-0.5, -0.5, 0.0], [0.5, 0.5, 1.8], size=(50, 3))
    uv, depth = project_points(cam, points)
    mirrored = mirror_camera(cam)
    uv_m, depth_m = project_points(mirrored, mirror_points(points))
    assert np.allclose(uv_m[:, 0], cam.width - 1 - uv[:, 0]) and np.allclose(uv_m[:, 1], uv[:, 1])
    assert np.allclose(depth_m, depth)
    assert np.linalg.det(mirrored.R) == pytest.approx(1.0)
    assert np.allclose(mirrored.position, mirror_points(cam.position))
    assert mirror_camera(mirrored).allclose(cam)

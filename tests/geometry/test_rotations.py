"""Tests of imagin4d.geometry.rotations against scipy.spatial.transform.Rotation (independent reference)."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from imagin4d.geometry import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    geodesic_distance,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    rotation_about_z,
)


def _edge_rotvecs():
    """Identity, tiny angles, 90 and 180 degree rotations about axes and diagonals, and near-pi angles."""
    axes = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 1], [0, -2, 1], [-1, 0, 0]], float)
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = [0.0, 1e-9, 1e-6, 1e-3, 0.5, math.pi / 2, math.pi - 1e-3, math.pi - 1e-6, math.pi]
    return np.array([axis * angle for axis in axes for angle in angles])


def _random_rotvecs(n=256, seed=0):
    return Rotation.random(n, random_state=seed).as_rotvec()


ALL_ROTVECS = np.concatenate([_edge_rotvecs(), _random_rotvecs()])


def _wxyz(rot):
    return rot.as_quat(canonical=True, scalar_first=True)


def _same_rotation_rotvec(a, b, atol):
    """Axis-angle vectors describe the same rotation; at angle pi, aa and -aa are the same rotation."""
    angle = np.linalg.norm(b, axis=-1)
    flip = np.isclose(angle, math.pi, atol=1e-5) & (np.linalg.norm(a + b, axis=-1) < np.linalg.norm(a - b, axis=-1))
    b = np.where(flip[:, None], -b, b)
    np.testing.assert_allclose(a, b, atol=atol)


def test_axis_angle_to_matrix_matches_scipy():
    ours = axis_angle_to_matrix(torch.from_numpy(ALL_ROTVECS)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(ALL_ROTVECS).as_matrix(), atol=1e-12)


def test_matrix_to_axis_angle_matches_scipy_including_identity_and_pi():
    matrices = Rotation.from_rotvec(ALL_ROTVECS).as_matrix()
    ours = matrix_to_axis_angle(torch.from_numpy(matrices)).numpy()
    reference = Rotation.from_matrix(matrices).as_rotvec()
    _same_rotation_rotvec(ours, reference, atol=1e-7)
    assert np.all(np.linalg.norm(ours, axis=-1) <= math.pi + 1e-12)
    np.testing.assert_allclose(axis_angle_to_matrix(torch.from_numpy(ours)).numpy(), matrices, atol=1e-12)


def test_matrix_to_axis_angle_float32_near_pi_and_zero():
    matrices = Rotation.from_rotvec(ALL_ROTVECS).as_matrix()
    ours = matrix_to_axis_angle(torch.from_numpy(matrices).float())
    back = axis_angle_to_matrix(ours).double().numpy()
    np.testing.assert_allclose(back, matrices, atol=1e-5)
    assert torch.isfinite(ours).all()


def test_quaternion_conversions_match_scipy():
    rot = Rotation.from_rotvec(ALL_ROTVECS)
    wxyz = _wxyz(rot)
    q = matrix_to_quaternion(torch.from_numpy(rot.as_matrix())).numpy()
    assert np.all(q[:, 0] >= 0)
    # At w = 0 both q and -q have w >= 0: compare up to sign there.
    sign = np.where(np.sum(q * wxyz, -1) < 0, -1.0, 1.0)[:, None]
    np.testing.assert_allclose(q * sign, wxyz, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(torch.from_numpy(wxyz)).numpy(), rot.as_matrix(), atol=1e-12)
    aa_q = axis_angle_to_quaternion(torch.from_numpy(ALL_ROTVECS)).numpy()
    sign = np.where(np.sum(aa_q * wxyz, -1) < 0, -1.0, 1.0)[:, None]
    np.testing.assert_allclose(aa_q * sign, wxyz, atol=1e-12)
    _same_rotation_rotvec(quaternion_to_axis_angle(torch.from_numpy(wxyz)).numpy(), rot.as_rotvec(), atol=1e-9)


def test_quaternion_to_matrix_normalises_and_accepts_negated_quaternions():
    wxyz = _wxyz(Rotation.random(16, random_state=1))
    expected = quaternion_to_matrix(torch.from_numpy(wxyz))
    scaled = torch.from_numpy(-3.0 * wxyz)
    torch.testing.assert_close(quaternion_to_matrix(scaled), expected)
    reference = Rotation.from_quat(wxyz, scalar_first=True).as_rotvec()
    _same_rotation_rotvec(quaternion_to_axis_angle(scaled).numpy(), reference, atol=1e-9)


def test_batch_shapes_are_preserved():
    aa = torch.randn(2, 5, 7, 3)
    R = axis_angle_to_matrix(aa)
    assert R.shape == (2, 5, 7, 3, 3)
    assert matrix_to_axis_angle(R).shape == (2, 5, 7, 3)
    assert matrix_to_quaternion(R).shape == (2, 5, 7, 4)
    assert matrix_to_rotation_6d(R).shape == (2, 5, 7, 6)
    assert rotation_6d_to_matrix(matrix_to_rotation_6d(R)).shape == (2, 5, 7, 3, 3)
    assert geodesic_distance(R, R).shape == (2, 5, 7)
    assert rotation_about_z(torch.zeros(4, 2)).shape == (4, 2, 3, 3)


def test_rotation_6d_is_first_two_rows_and_round_trips():
    R = torch.from_numpy(Rotation.from_rotvec(ALL_ROTVECS).as_matrix())
    d6 = matrix_to_rotation_6d(R)
    torch.testing.assert_close(d6[:, :3], R[:, 0, :])
    torch.testing.assert_close(d6[:, 3:], R[:, 1, :])
    torch.testing.assert_close(rotation_6d_to_matrix(d6), R, atol=1e-12, rtol=0)


def test_rotation_6d_decode_is_gram_schmidt():
    """Unnormalised, non-orthogonal rows decode to the rotation whose first row is the normalised first
    input row and whose second row lies in the plane of both rows (independent numpy construction)."""
    rng = np.random.default_rng(0)
    d6 = rng.normal(size=(64, 6))
    R = rotation_6d_to_matrix(torch.from_numpy(d6)).numpy()
    a1, a2 = d6[:, :3], d6[:, 3:]
    r1 = a1 / np.linalg.norm(a1, axis=1, keepdims=True)
    r2 = a2 - np.sum(r1 * a2, 1, keepdims=True) * r1
    r2 /= np.linalg.norm(r2, axis=1, keepdims=True)
    np.testing.assert_allclose(R[:, 0], r1, atol=1e-12)
    np.testing.assert_allclose(R[:, 1], r2, atol=1e-12)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)


def test_geodesic_distance_of_known_rotation_is_its_angle():
    angles = np.array([0.0, 1e-7, 1e-4, 0.3, 1.0, math.pi / 2, 3.0, math.pi - 1e-5, math.pi])
    axes = Rotation.random(len(angles), random_state=3).as_rotvec()
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    base = torch.from_numpy(Rotation.random(len(angles), random_state=4).as_matrix())
    delta = torch.from_numpy(Rotation.from_rotvec(axes * angles[:, None]).as_matrix())
    dist = geodesic_distance(base, base @ delta)
    np.testing.assert_allclose(dist.numpy(), angles, atol=1e-9)
    # symmetric, and identical for float32 up to float32 precision
    torch.testing.assert_close(geodesic_distance(base @ delta, base), dist)
    np.testing.assert_allclose(geodesic_distance(base.float(), (base @ delta).float()).numpy(), angles, atol=2e-3)


def test_gradients_are_finite_at_identity_and_pi():
    aa = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        aa[1] = torch.tensor([1e-9, 0, 0])
        aa[2] = torch.tensor([0, math.pi, 0])
    axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()
    R = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1).requires_grad_(True)
    geodesic_distance(R, torch.eye(3, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(R.grad).all()
    R2 = axis_angle_to_matrix(torch.tensor([[0.3, -0.2, 0.1], [0, 0, 1e-8]], dtype=torch.float64)).requires_grad_(True)
    matrix_to_axis_angle(R2).sum().backward()
    assert torch.isfinite(R2.grad).all()


def test_axis_angle_to_matrix_gradcheck_small_and_regular_angles():
    aa = torch.tensor([[0.4, -0.3, 0.2], [2e-5, -1e-5, 3e-5]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (aa,))
    assert torch.autograd.gradcheck(axis_angle_to_quaternion, (aa,))


def test_rotation_about_z_matches_scipy_and_accepts_floats():
    yaw = np.array([0.0, 0.3, -2.0, math.pi])
    ours = rotation_about_z(torch.from_numpy(yaw)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_euler('z', yaw[:, None]).as_matrix(), atol=1e-12)
    # counter-clockwise seen from +z: +x goes to +y for a quarter turn
    np.testing.assert_allclose(rotation_about_z(math.pi / 2).numpy() @ [1, 0, 0], [0, 1, 0], atol=1e-6)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_round_trips(dtype):
    R = torch.from_numpy(Rotation.random(128, random_state=5).as_matrix()).to(dtype)
    tol = dict(atol=1e-5, rtol=0) if dtype == torch.float32 else dict(atol=1e-12, rtol=0)
    torch.testing.assert_close(axis_angle_to_matrix(matrix_to_axis_angle(R)), R, **tol)
    torch.testing.assert_close(quaternion_to_matrix(matrix_to_quaternion(R)), R, **tol)
    torch.testing.assert_close(
        quaternion_to_matrix(axis_angle_to_quaternion(quaternion_to_axis_angle(matrix_to_quaternion(R)))), R, **tol)

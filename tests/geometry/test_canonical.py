"""Tests of imagin4d.geometry.canonical: heading sign, canonical frame, rigid helpers, window transform."""
import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from imagin4d.geometry import (
    CANONICAL_FORWARD,
    apply_rigid,
    body_heading,
    canonical_transform,
    canonicalize_window,
    compose_rigid,
    invert_rigid,
    place_object,
    rotation_about_z,
)

# Approximate SMPL rest-pose joint locations (Y up, the face looks along +Z, the body's left is +X),
# rounded from the neutral model's regressed joints; only the left/right layout matters here.
SMPL_REST = {
    0: (0.00, -0.22, 0.03),   # pelvis
    1: (0.07, -0.31, 0.02),   # left hip
    2: (-0.07, -0.31, 0.02),  # right hip
    16: (0.17, 0.23, -0.02),  # left shoulder
    17: (-0.17, 0.23, -0.02),  # right shoulder
    22: (0.70, 0.21, -0.03),  # left hand point
    23: (-0.70, 0.21, -0.03),  # right hand point
}


def smpl_rest_joints24():
    joints = np.zeros((24, 3))
    joints[:] = SMPL_REST[0]
    for index, position in SMPL_REST.items():
        joints[index] = position
    return joints


def random_window(T=6, J=24, seed=0):
    """Joints that are a rigid body moving a little, with a random yaw, xy offset and height."""
    g = torch.Generator().manual_seed(seed)
    base = torch.from_numpy(smpl_rest_joints24()).double()
    # to Z up, face +Y: (x, y, z)_smpl -> (-x, z, y)
    to_world = torch.tensor([[-1.0, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=torch.float64)
    base = base @ to_world.T + torch.tensor([0, 0, 0.9], dtype=torch.float64)
    base = base + 0.01 * torch.randn(J, 3, generator=g, dtype=torch.float64)
    yaw = float(torch.rand((), generator=g, dtype=torch.float64) * 2 * math.pi - math.pi)
    R = rotation_about_z(torch.tensor(yaw, dtype=torch.float64))
    joints = torch.stack([base + torch.tensor([0.05 * t, 0.02 * t, 0.0], dtype=torch.float64) for t in range(T)])
    joints = joints @ R.T + torch.tensor([1.3, -0.7, 0.0], dtype=torch.float64)
    obj_trans = joints[:, 22] + torch.tensor([0.1, 0.2, -0.1], dtype=torch.float64)
    obj_rot = torch.from_numpy(Rotation.random(T, random_state=seed).as_matrix())
    root_rot = torch.from_numpy(Rotation.random(T, random_state=seed + 1).as_matrix())
    return joints, obj_trans, obj_rot, root_rot, yaw


def test_heading_of_smpl_rest_pose_turned_to_z_up_facing_plus_y_is_plus_y():
    joints = smpl_rest_joints24()
    to_world = np.array([[-1.0, 0, 0], [0, 0, 1], [0, 1, 0]])  # proper rotation: Y up -> Z up, face +Z -> +Y
    assert np.isclose(np.linalg.det(to_world), 1.0)
    forward = body_heading(torch.from_numpy(joints @ to_world.T))
    np.testing.assert_allclose(forward.numpy(), [0, 1, 0], atol=1e-12)
    # The other common Y-up -> Z-up conversion (+90 deg about x) sends the face to -Y.
    rx = Rotation.from_euler('x', 90, degrees=True).as_matrix()
    np.testing.assert_allclose(body_heading(torch.from_numpy(joints @ rx.T)).numpy(), [0, -1, 0], atol=1e-12)


def test_heading_is_unit_horizontal_and_rotates_with_the_body():
    joints = torch.from_numpy(smpl_rest_joints24() @ np.array([[-1.0, 0, 0], [0, 0, 1], [0, 1, 0]]).T)
    yaws = torch.linspace(-3, 3, 7, dtype=torch.float64)
    turned = joints @ rotation_about_z(yaws).transpose(-1, -2)  # (7, 24, 3)
    forward = body_heading(turned)
    expected = torch.stack([-torch.sin(yaws), torch.cos(yaws), torch.zeros_like(yaws)], -1)  # R_z(yaw) @ +Y
    torch.testing.assert_close(forward, expected)
    # hips only (no shoulders) give the same heading for a symmetric body
    torch.testing.assert_close(body_heading(turned, use_shoulders=False), expected)


def test_canonical_transform_moves_root_xy_to_origin_and_heading_to_plus_y():
    joints, *_ = random_window(seed=1)
    R, t = canonical_transform(joints[0])
    mapped = apply_rigid(joints[0], R, t)
    np.testing.assert_allclose(mapped[0, :2].numpy(), [0, 0], atol=1e-12)
    np.testing.assert_allclose(mapped[:, 2].numpy(), joints[0, :, 2].numpy(), atol=1e-12)  # heights unchanged
    np.testing.assert_allclose(body_heading(mapped).numpy(), CANONICAL_FORWARD, atol=1e-12)
    np.testing.assert_allclose(R[2].numpy(), [0, 0, 1], atol=1e-12)  # rotation about z only
    assert float(t[2]) == 0.0
    np.testing.assert_allclose(torch.det(R).item(), 1.0, atol=1e-12)


def test_canonical_transform_is_batched():
    windows = [random_window(seed=s)[0][0] for s in range(4)]
    R, t = canonical_transform(torch.stack(windows))
    assert R.shape == (4, 3, 3) and t.shape == (4, 3)
    for i, joints in enumerate(windows):
        R_i, t_i = canonical_transform(joints)
        torch.testing.assert_close(R[i], R_i)
        torch.testing.assert_close(t[i], t_i)


def test_apply_invert_compose_rigid():
    g = torch.Generator().manual_seed(0)
    R = torch.from_numpy(Rotation.random(5, random_state=2).as_matrix())
    t = torch.randn(5, 3, generator=g, dtype=torch.float64)
    points = torch.randn(5, 8, 3, generator=g, dtype=torch.float64)
    moved = apply_rigid(points, R, t)
    expected = torch.einsum('bij,bnj->bni', R, points) + t[:, None]
    torch.testing.assert_close(moved, expected)
    R_inv, t_inv = invert_rigid(R, t)
    torch.testing.assert_close(apply_rigid(moved, R_inv, t_inv), points)
    R2 = torch.from_numpy(Rotation.random(5, random_state=3).as_matrix())
    t2 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    Rc, tc = compose_rigid(R2, t2, R, t)
    torch.testing.assert_close(apply_rigid(points, Rc, tc), apply_rigid(apply_rigid(points, R, t), R2, t2))


def test_canonicalize_window_is_consistent_for_object_and_joints():
    joints, obj_trans, obj_rot, root_rot, _ = random_window(seed=2)
    out = canonicalize_window(joints, obj_trans, obj_rot, root_rot)
    T = joints.shape[0]
    # frame-0 root at the xy origin, facing +Y, heights unchanged for everything
    np.testing.assert_allclose(out.joints[0, 0, :2].numpy(), [0, 0], atol=1e-12)
    np.testing.assert_allclose(body_heading(out.joints[0]).numpy(), CANONICAL_FORWARD, atol=1e-12)
    torch.testing.assert_close(out.joints[..., 2], joints[..., 2])
    torch.testing.assert_close(out.obj_trans[..., 2], obj_trans[..., 2])
    # relative geometry preserved: joint-object distances and all pairwise joint distances
    torch.testing.assert_close((out.joints - out.obj_trans[:, None]).norm(dim=-1),
                               (joints - obj_trans[:, None]).norm(dim=-1))
    torch.testing.assert_close(torch.cdist(out.joints, out.joints), torch.cdist(joints, joints))
    # object vertices placed with the canonical pose == world vertices mapped by (R, t)
    verts = torch.randn(10, 3, dtype=torch.float64)
    world = place_object(verts, 0.8, obj_rot, obj_trans)                 # (T, 10, 3)
    canonical = place_object(verts, 0.8, out.obj_rot, out.obj_trans)
    torch.testing.assert_close(canonical, apply_rigid(world, out.R, out.t))
    # global rotations are left-multiplied: the object's rotation relative to the root is unchanged
    torch.testing.assert_close(out.root_rot.transpose(-1, -2) @ out.obj_rot, root_rot.transpose(-1, -2) @ obj_rot)
    assert out.obj_rot.shape == (T, 3, 3) and out.R.shape == (3, 3) and out.t.shape == (3,)
    # tuple unpacking works
    j, ot, orot, rr, R, t = out
    assert j is out.joints and rr is out.root_rot


def test_canonicalize_window_is_invariant_to_world_yaw_and_xy_shift():
    joints, obj_trans, obj_rot, root_rot, _ = random_window(seed=3)
    first = canonicalize_window(joints, obj_trans, obj_rot, root_rot)
    R_w = rotation_about_z(torch.tensor(1.234, dtype=torch.float64))
    t_w = torch.tensor([-4.0, 2.5, 0.0], dtype=torch.float64)
    second = canonicalize_window(apply_rigid(joints, R_w, t_w), apply_rigid(obj_trans, R_w, t_w), R_w @ obj_rot,
                                 R_w @ root_rot)
    for a, b in zip(first[:4], second[:4]):
        torch.testing.assert_close(a, b)


def test_canonicalize_window_batched_and_multi_joint_rotations():
    windows = [random_window(T=4, seed=s) for s in range(3)]
    joints = torch.stack([w[0] for w in windows])
    obj_trans = torch.stack([w[1] for w in windows])
    obj_rot = torch.stack([w[2] for w in windows])
    global_rots = torch.from_numpy(Rotation.random(3 * 4 * 22, random_state=9).as_matrix()).reshape(3, 4, 22, 3, 3)
    out = canonicalize_window(joints, obj_trans, obj_rot, global_rots)
    assert out.joints.shape == joints.shape and out.root_rot.shape == global_rots.shape and out.R.shape == (3, 3, 3)
    for b in range(3):
        single = canonicalize_window(joints[b], obj_trans[b], obj_rot[b], global_rots[b])
        torch.testing.assert_close(out.joints[b], single.joints)
        torch.testing.assert_close(out.obj_trans[b], single.obj_trans)
        torch.testing.assert_close(out.obj_rot[b], single.obj_rot)
        torch.testing.assert_close(out.root_rot[b], single.root_rot)
        torch.testing.assert_close(out.root_rot[b], single.R @ global_rots[b])
    assert canonicalize_window(joints[0], obj_trans[0], obj_rot[0]).root_rot is None

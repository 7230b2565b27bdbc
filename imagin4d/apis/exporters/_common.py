"""Shared pieces of the exporters: input checks, the shaped rest skeleton/mesh, rotations, the Z-up -> Y-up map.

Owns `check_result`, `shaped_body` (rest joints, vertices, faces, skinning weights at the result's betas) and
`local_rotmats` (T, 55, 3, 3); the exporters build their file formats on these.
"""
from pathlib import Path
from typing import Dict

import numpy as np
from scipy.spatial.transform import Rotation

from imagin4d.body_models import skeletons

#: (3, 3) rotation taking the world frame (Z up, Y forward) to a Y-up frame: (x, y, z) -> (x, z, -y), i.e. -90
#: degrees about X. The glTF root node carries it; the BVH writer applies it to offsets and rotations.
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def check_result(result, need_body_model: bool = True, need_mesh: bool = False) -> None:
    """One-line errors for results the exporters cannot write (finite values, a body model root, a mesh)."""
    for name in ('global_orient', 'body_pose', 'transl', 'left_hand_pose', 'right_hand_pose', 'obj_rot',
                 'obj_trans', 'contacts', 'betas'):
        value = np.asarray(getattr(result, name))
        if not np.all(np.isfinite(value)):
            raise ValueError(f'HOIResult.{name} has non-finite values; the exporters need finite numbers')
    if result.num_frames < 1:
        raise ValueError('HOIResult has 0 frames; the exporters need at least one')
    if not float(result.fps) > 0:
        raise ValueError(f'HOIResult.fps must be > 0, got {result.fps!r}')
    if need_body_model and result.body_model_root is None:
        raise ValueError('HOIResult.body_model_root is None; the exporter needs the folder with '
                         'smplx/SMPLX_{GENDER}.npz to build the skeleton and mesh')
    if need_mesh and result.object_mesh is None:
        raise ValueError('HOIResult.object_mesh is None; this exporter needs the object mesh')


def shaped_body(result) -> Dict[str, np.ndarray]:
    """The result's body model at its betas, in float64 numpy.

    Returns dict(joints (55, 3) rest joints J_regressor @ v_shaped, vertices (V, 3) v_template + shapedirs .
    betas, faces (F, 3) int64, weights (V, 55) lbs weights, parents (55,), names (55,), is_free_body bool).
    """
    import torch

    from imagin4d.body_models import load_body_model
    root = Path(result.body_model_root)
    body = load_body_model(root, 'smplx', result.gender)
    betas = np.asarray(result.betas, np.float64)
    if betas.shape[0] > body.num_betas:
        if np.any(betas[body.num_betas:] != 0):
            raise ValueError(f'HOIResult.betas has {betas.shape[0]} values; the body model at {root} uses '
                             f'{body.num_betas} and the extra ones are not zero')
        betas = betas[:body.num_betas]
    model = body.smplx_model
    with torch.no_grad():
        b = torch.as_tensor(betas, dtype=torch.float64)
        shapedirs = model.shapedirs.double()[..., :b.shape[0]]
        verts = model.v_template.double() + torch.einsum('l,vcl->vc', b, shapedirs)
        joints = model.J_regressor.double() @ verts
    return dict(joints=joints.numpy(), vertices=verts.numpy(), faces=body.faces.numpy().astype(np.int64),
                weights=model.lbs_weights.double().numpy(), parents=np.asarray(skeletons.SMPLX_PARENTS),
                names=skeletons.SMPLX_JOINT_NAMES, is_free_body=bool(body.is_free_body))


def local_rotmats(result) -> np.ndarray:
    """(T, 55, 3, 3) local joint rotations of the result (root global, jaw and eyes identity)."""
    pose = result.full_pose  # (T, 55, 3)
    T = pose.shape[0]
    return Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(T, 55, 3, 3)


def rotmat_to_quat_xyzw(rotmats: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 4) unit quaternions (x, y, z, w), sign-continuous along axis 0."""
    shape = rotmats.shape[:-2]
    quats = Rotation.from_matrix(rotmats.reshape(-1, 3, 3)).as_quat().reshape(*shape, 4)
    for t in range(1, shape[0] if shape else 0):  # keep neighbours in one hemisphere for interpolation
        flip = np.sum(quats[t] * quats[t - 1], axis=-1) < 0
        quats[t][flip] *= -1
    return quats


def check_rotations(rotmats: np.ndarray, name: str, atol: float = 1e-4) -> None:
    """Raise when (..., 3, 3) matrices are not rotations (orthonormal, det +1) within atol."""
    eye = np.eye(3)
    err = np.abs(np.einsum('...ij,...kj->...ik', rotmats, rotmats) - eye).max() if rotmats.size else 0.0
    det = np.linalg.det(rotmats) if rotmats.size else np.ones(1)
    if err > atol or np.any(det < 0):
        raise ValueError(f'HOIResult.{name} must hold rotation matrices (orthonormal, det +1); '
                         f'max |R R^T - I| = {err:.2e}, min det = {np.min(det):.3f}')

"""Writes a result as `.npz` files: the body in the AMASS SMPL-X layout, the object as a pose track.

Owns `write_smplx_npz` and `write_object_npz`; both files hold plain arrays only (load with allow_pickle=False).
"""
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ._common import check_result, check_rotations

__all__ = ['write_smplx_npz', 'write_object_npz', 'resolve_mesh_path', 'CONTACT_NAMES']

#: Column names of `contacts` (T, 4).
CONTACT_NAMES = ('left_hand', 'right_hand', 'left_foot', 'right_foot')


def write_smplx_npz(result, path: Union[str, Path]) -> Path:
    """Write the body motion as an AMASS-style SMPL-X `.npz` (world frame Z up, metres, axis-angle).

    Keys (T frames): trans (T, 3) (smplx `transl`), root_orient (T, 3), pose_body (T, 63), pose_hand (T, 90)
    (left then right, 15 joints each, full axis-angle, *flat* hand mean: the values are the local rotations,
    no PCA and no added mean, like AMASS / human_body_prior), pose_jaw (T, 3), pose_eye (T, 6) (zeros),
    poses (T, 165) (the 55 joints in smplx order, = the concatenation above), betas (B,), num_betas (),
    gender (0-d unicode string), surface_model_type 'smplx', mocap_frame_rate (result.fps),
    mocap_time_length (T / fps seconds). Pose it with smplx.create(..., model_type='smplx', ext='npz',
    use_pca=False, flat_hand_mean=True, num_betas=len(betas)). Returns the path written.
    """
    check_result(result, need_body_model=False)
    path = Path(path)
    T = result.num_frames
    poses = result.full_pose.reshape(T, 165)
    hands = np.concatenate([result.left_hand_pose, result.right_hand_pose], 1)
    arrays = dict(
        trans=result.transl, root_orient=result.global_orient, pose_body=result.body_pose, pose_hand=hands,
        pose_jaw=poses[:, 66:69], pose_eye=poses[:, 69:75], poses=poses,
        betas=np.asarray(result.betas, np.float64), num_betas=np.array(len(result.betas), np.int64),
        gender=np.array(str(result.gender)), surface_model_type=np.array('smplx'),
        mocap_frame_rate=np.array(float(result.fps)), mocap_time_length=np.array(T / float(result.fps)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'wb') as f:  # np.savez on a file object: the name is kept exactly (no '.npz' appended)
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def write_object_npz(result, path: Union[str, Path], mesh_path: Optional[Union[str, Path]] = None,
                     write_mesh: bool = True) -> Path:
    """Write the object's motion as `.npz`: world vertices at frame t = scale * rotation[t] @ v + translation[t].

    Keys: rotation (T, 3, 3), rotation_axis_angle (T, 3), translation (T, 3) (metres, world Z up), scale ()
    , mesh_path () unicode (the mesh file of the vertices v: relative to this npz's folder when the mesh lies
    under it, else absolute), contacts (T, 4) in [0, 1], contact_names (4,), fps (), num_frames ().

    mesh_path: the mesh file to refer to; None uses `result.object_path`, or when that is None too, writes
    `<path without suffix>.ply` next to the npz. A mesh_path that does not exist yet is written from
    `result.object_mesh` (trimesh picks the format from the suffix; .ply keeps the vertex order and float
    values, .obj may reorder vertices) unless write_mesh is False. Returns the path written.
    """
    from scipy.spatial.transform import Rotation
    check_result(result, need_body_model=False)
    check_rotations(result.obj_rot, 'obj_rot')
    path = Path(path)
    if mesh_path is None:
        mesh_path = result.object_path if result.object_path is not None else path.with_suffix('.ply')
    mesh_path = Path(mesh_path)
    if not mesh_path.is_file():
        if not write_mesh:
            raise FileNotFoundError(f'object mesh file {mesh_path} does not exist (write_mesh=False)')
        if result.object_mesh is None:
            raise ValueError(f'object mesh file {mesh_path} does not exist and HOIResult.object_mesh is None')
        mesh_path.parent.mkdir(parents=True, exist_ok=True)
        result.object_mesh.export(str(mesh_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent.resolve()
    resolved = mesh_path.resolve()
    try:
        stored = resolved.relative_to(folder).as_posix()
    except ValueError:
        stored = str(resolved)
    arrays = dict(rotation=result.obj_rot, rotation_axis_angle=Rotation.from_matrix(result.obj_rot).as_rotvec(),
                  translation=result.obj_trans, scale=np.array(float(result.obj_scale)),
                  mesh_path=np.array(stored), contacts=result.contacts, contact_names=np.array(CONTACT_NAMES),
                  fps=np.array(float(result.fps)), num_frames=np.array(result.num_frames, np.int64))
    with open(path, 'wb') as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def resolve_mesh_path(npz_path: Union[str, Path], stored: str) -> Path:
    """The mesh file a `write_object_npz` file refers to (its stored `mesh_path` resolved against its folder)."""
    stored_path = Path(str(stored))
    return stored_path if stored_path.is_absolute() else Path(os.path.dirname(os.path.abspath(npz_path))) / stored_path

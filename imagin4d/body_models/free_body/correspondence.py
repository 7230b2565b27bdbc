"""The documented Anny -> SMPL-X correspondence: axes, the joint table (position and skinning bones per SMPL-X
joint), joint positions from Anny bone heads, per-joint skinning weights and the rest pose back to the A-pose."""
from typing import List, Sequence, Tuple

import numpy as np
import torch

from .. import skeletons

#: Anny (Z up, face towards -Y, left = +X) -> SMPL-X (Y up, face towards +Z, left = +X): x'=x, y'=z, z'=-y.
ANNY_TO_SMPLX = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# --------------------------------------------------------------------------------------------------------
# Anny -> SMPL-X correspondence. Each SMPL-X joint: (Anny bones whose heads are averaged for its position,
# Anny bones whose skinning weight it takes). '{s}' is the Anny side suffix (L/R).
# --------------------------------------------------------------------------------------------------------
_TOE_BASES = tuple(f'toe{k}-1.{{s}}' for k in range(1, 6))
_TOES = tuple(f'toe{k}-{i}.{{s}}' for k in range(1, 6) for i in range(1, 4) if not (k == 1 and i == 3))
#: SMPL-X finger name -> Anny finger number (finger1 = thumb ... finger5 = little finger).
ANNY_FINGER = {'index': 2, 'middle': 3, 'pinky': 5, 'ring': 4, 'thumb': 1}
JAW = 'jaw'  # marker: position from `anny_joint_positions` (no Anny bone)


def _smplx_from_anny() -> List[Tuple[Tuple[str, ...], Tuple[str, ...]]]:
    side = {'left': 'L', 'right': 'R'}
    table = {
        'pelvis': (('root',), ('root', 'pelvis.L', 'pelvis.R', 'spine05')),
        'spine1': (('spine04',), ('spine04', 'spine03')),
        'spine2': (('spine02',), ('spine02',)),
        'spine3': (('spine01',), ('spine01',)),
        'neck': (('neck01',), ('neck01', 'neck02', 'neck03')),
        'head': (('head',), ('head',)),
        'jaw': ((JAW,), ()),
    }
    per_side = {
        'hip': (('upperleg01.{s}',), ('upperleg01.{s}', 'upperleg02.{s}')),
        'knee': (('lowerleg01.{s}',), ('lowerleg01.{s}', 'lowerleg02.{s}')),
        'ankle': (('foot.{s}',), ('foot.{s}',)),
        'foot': (_TOE_BASES, _TOES),
        'collar': (('clavicle.{s}',), ('clavicle.{s}', 'shoulder01.{s}')),
        'shoulder': (('upperarm01.{s}',), ('upperarm01.{s}', 'upperarm02.{s}')),
        'elbow': (('lowerarm01.{s}',), ('lowerarm01.{s}', 'lowerarm02.{s}')),
        'wrist': (('wrist.{s}',), ('wrist.{s}',) + tuple(f'metacarpal{k}.{{s}}' for k in range(1, 5))),
        'eye': (('eye.{s}',), ('eye.{s}',)),
    }
    for finger, number in ANNY_FINGER.items():
        for k in (1, 2, 3):
            bone = f'finger{number}-{k}.{{s}}'
            per_side[f'{finger}{k}'] = ((bone,), (bone,))
    rows = []
    for name in skeletons.SMPLX_JOINT_NAMES:
        if name in table:
            rows.append(table[name])
            continue
        lr, part = name.split('_', 1)
        pos, skin = per_side[part]
        rows.append((tuple(b.format(s=side[lr]) for b in pos), tuple(b.format(s=side[lr]) for b in skin)))
    return rows


#: (55,) per SMPL-X joint: (position bones, skinning bones) of the Anny `anny` rig.
SMPLX_FROM_ANNY = _smplx_from_anny()
#: SMPL-H joint j is SMPL-X joint SMPLX_OF_SMPLH[j]; the eye bones' weights go to the head.
SMPLX_OF_SMPLH = tuple(range(22)) + tuple(range(25, 55))


def anny_joint_positions(heads: torch.Tensor, labels: Sequence[str],
                         model_type: str = 'smplx') -> torch.Tensor:
    """SMPL-X (55) or SMPL-H (52) joint positions (B, J, 3) from Anny bone heads (B, K, 3), same axes.

    `heads` must be in Anny axes (Z up, front -Y). The jaw (no Anny bone) is the head joint moved by
    0.35 x the forward and -0.5 x the upward offset of the eye midpoint from it: 2-3 cm in front, 2 cm below.
    """
    index = {label: i for i, label in enumerate(labels)}
    joints = []
    for pos_bones, _ in SMPLX_FROM_ANNY:
        if pos_bones == (JAW,):
            head = heads[:, index['head']]
            eyes = 0.5 * (heads[:, index['eye.L']] + heads[:, index['eye.R']])
            offset = eyes - head
            # Anny axes: forward = -Y, up = +Z.
            jaw = head + torch.stack([torch.zeros_like(offset[:, 0]), 0.35 * offset[:, 1],
                                      -0.5 * offset[:, 2]], -1)
            joints.append(jaw)
        else:
            joints.append(heads[:, [index[b] for b in pos_bones]].mean(1))
    joints = torch.stack(joints, 1)
    if model_type == 'smplh':
        joints = joints[:, list(SMPLX_OF_SMPLH)]
    return joints


def aggregate_weights(model, num_vertices: int) -> np.ndarray:
    """(V, 55) SMPL-X skinning weights: Anny's bone weights summed per driving SMPL-X joint."""
    labels = list(model.bone_labels)
    bone_to_joint = np.full(len(labels), -1)
    for j, (_, skin_bones) in enumerate(SMPLX_FROM_ANNY):
        for bone in skin_bones:
            bone_to_joint[labels.index(bone)] = j
    if (bone_to_joint < 0).any():
        missing = [labels[i] for i in np.flatnonzero(bone_to_joint < 0)]
        raise RuntimeError(f'Anny bones without an SMPL-X joint: {missing}')
    indices = model.vertex_bone_indices.cpu().numpy()
    weights = model.vertex_bone_weights.cpu().numpy().astype(np.float64)
    out = np.zeros((num_vertices, skeletons.NUM_SMPLX_JOINTS))
    np.add.at(out, (np.repeat(np.arange(num_vertices), indices.shape[1]), bone_to_joint[indices].ravel()),
              weights.ravel())
    return out / out.sum(1, keepdims=True)


def _rotmat_to_rotvec(rotmat: np.ndarray) -> np.ndarray:
    """(N, 3, 3) -> (N, 3) axis-angle (angles below pi)."""
    from scipy.spatial.transform import Rotation
    return Rotation.from_matrix(rotmat).as_rotvec()


def rest_pose_axis_angle(bone_rot: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """(55, 3) local axis-angle pose (SMPL-X convention) taking the T-pose back to Anny's A-pose."""
    index = {label: i for i, label in enumerate(labels)}
    conv = ANNY_TO_SMPLX
    global_rot = []
    for pos_bones, _ in SMPLX_FROM_ANNY:
        bone = 'head' if pos_bones == (JAW,) else pos_bones[0]
        # T-pose world rotation of the joint, in SMPL-X axes; the A-pose is its inverse.
        g = conv @ bone_rot[index[bone]] @ conv.T
        global_rot.append(g.T)
    global_rot = np.stack(global_rot)
    local = np.empty_like(global_rot)
    for j, p in enumerate(skeletons.SMPLX_PARENTS):
        local[j] = global_rot[j] if p < 0 else global_rot[p].T @ global_rot[j]
    return _rotmat_to_rotvec(local)

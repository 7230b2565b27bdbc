"""Forward kinematics over a parent list, in pure torch, matching smplx's LBS joint chain.

Owns `forward_kinematics`: local rotations (B, J, 3, 3) + shaped rest joints (B, J, 3) -> posed joints and
global rotations. smplx computes posed joints as the rigid chain G_i = G_parent(i) [R_i | J_i - J_parent(i)],
G_0 = [R_0 | J_0], over the rest joints J = J_regressor @ v_shaped, and adds `transl` afterwards; so does this.
"""
from typing import Optional, Sequence, Tuple, Union

import torch


def forward_kinematics(local_rotmats: torch.Tensor, rest_joints: torch.Tensor,
                       parents: Union[Sequence[int], torch.Tensor],
                       root_trans: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pose a skeleton.

    Args:
        local_rotmats: (B, J, 3, 3) rotation of each joint relative to its parent (the root's is global).
        rest_joints: (B, J, 3) or (J, 3) rest-pose joint positions (for smplx: J_regressor @ v_shaped).
        parents: (J,) parent index of each joint, -1 for the root; every parent must precede its children.
        root_trans: (B, 3) translation added to every joint (smplx `transl`), or None.

    Returns:
        global_positions (B, J, 3) and global_rotmats (B, J, 3, 3).
    """
    if local_rotmats.dim() != 4 or local_rotmats.shape[-2:] != (3, 3):
        raise ValueError(f'local_rotmats must be (B, J, 3, 3), got {tuple(local_rotmats.shape)}')
    batch, num_joints = local_rotmats.shape[:2]
    parents = [int(p) for p in parents]
    if len(parents) != num_joints:
        raise ValueError(f'{len(parents)} parents for {num_joints} joints')
    if rest_joints.dim() == 2:
        rest_joints = rest_joints.unsqueeze(0)
    rest_joints = rest_joints.to(local_rotmats.dtype).expand(batch, num_joints, 3)

    # Offsets of each joint from its parent in the rest pose (the root keeps its absolute position).
    offsets = rest_joints.clone()
    parent_index = torch.tensor([max(p, 0) for p in parents], device=rest_joints.device)
    offsets[:, 1:] = rest_joints[:, 1:] - rest_joints[:, parent_index[1:]]

    global_rots = [None] * num_joints
    global_pos = [None] * num_joints
    for j, p in enumerate(parents):
        if p < 0:
            global_rots[j] = local_rotmats[:, j]
            global_pos[j] = offsets[:, j]
        else:
            if p >= j:
                raise ValueError(f'parent {p} of joint {j} must precede it')
            global_rots[j] = global_rots[p] @ local_rotmats[:, j]
            global_pos[j] = global_pos[p] + (global_rots[p] @ offsets[:, j].unsqueeze(-1)).squeeze(-1)
    positions = torch.stack(global_pos, dim=1)
    rotations = torch.stack(global_rots, dim=1)
    if root_trans is not None:
        positions = positions + root_trans.to(positions.dtype).unsqueeze(1)
    return positions, rotations

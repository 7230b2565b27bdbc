"""The typical start state of a data set: the most typical first frame of its training sequences.

Owns `typical_start_state`: the medoid body pose of the sequences' first frames (in the canonical frame, compared
as pelvis-relative joints24) and the median place of the object relative to that body. A checkpoint keeps it
(`HOIDataPreprocessor.start_pose`) so that generation can start from a natural pose when the user gives none.
"""
from typing import Dict

import numpy as np
import torch

from imagin4d.geometry import axis_angle_to_matrix, canonical_transform, matrix_to_axis_angle

__all__ = ['typical_start_state']


def typical_start_state(dataset, max_sequences: int = 4000) -> Dict[str, np.ndarray]:
    """Medoid first-frame pose and median first-frame object centre of a `BaseHOIDataset`'s sequences.

    Returns pose (66,) axis-angle (canonical root orientation: the body faces +Y; then 21 local body rotations)
    and object_xy (2,) (the object centre's xy in the canonical frame of that first frame, median over sequences).
    The medoid is the first frame whose pelvis-relative canonical joints24 have the least summed distance to all
    others; at most `max_sequences` sequences (evenly spaced) are compared.
    """
    sequences = dataset._sequences
    arrays = dataset._frame_arrays()
    step = max(1, len(sequences) // max_sequences)
    rel_joints, poses, object_xy = [], [], []
    for seq in sequences[::step]:
        a = int(seq['offset'])
        joints = torch.from_numpy(np.array(arrays['joints24'][a], dtype=np.float64))
        R, t = canonical_transform(joints)
        joints_c = joints @ R.T + t
        rel_joints.append((joints_c - joints_c[0]).reshape(-1))
        pose = torch.from_numpy(np.array(arrays['pose'][a, :66], dtype=np.float64))
        root = matrix_to_axis_angle(R @ axis_angle_to_matrix(pose[:3]))
        poses.append(torch.cat([root, pose[3:66]]))
        centroid = torch.from_numpy(dataset._objects[seq['object_name']]['centroid'])
        obj_rot = torch.from_numpy(np.array(arrays['obj_rot'][a], dtype=np.float64))
        obj_trans = torch.from_numpy(np.array(arrays['obj_trans'][a], dtype=np.float64))
        com = float(arrays['obj_scale'][a]) * obj_rot @ centroid + obj_trans
        object_xy.append((R @ com + t)[:2])
    rel = torch.stack(rel_joints)                                                   # (N, 72)
    medoid = int(torch.cdist(rel, rel).sum(1).argmin())
    return dict(pose=poses[medoid].numpy(), object_xy=torch.stack(object_xy).median(0).values.numpy())

"""Motion-quality metrics of the CHOIS protocol on plain arrays: joint, vertex, root and object pose errors,
the CHOIS floor estimate and foot sliding.

Owns the CHOIS conventions (see docs/user_guides/evaluation.md):
- positions are in metres on input; position errors are returned in millimetres (x 1000), each the mean
  over frames of an L2 error (one number per sequence; averaging over sequences is the caller's job);
- hand JPE is global (not root-relative), MPJPE and MPVPE are root-relative (joint 0 subtracted per frame);
- rotation errors are CHOIS's mean Frobenius distance ||I - R_pred R_gt^T||_F (unitless, 2.0 at 90 degrees);
  `rotation_geodesic_error` gives the geodesic angle as well (degrees by default), an imagin4d addition;
- foot sliding is CHOIS's weighted horizontal displacement of the ankles (H = 8 cm) and toes (H = 4 cm).
Pure numpy (float64); inputs may be numpy arrays or torch tensors.
"""
from typing import Dict, Sequence

import numpy as np

from imagin4d.body_models.skeletons import ANKLE_JOINTS24, HAND_JOINTS24, TOE_JOINTS24

__all__ = ['hand_jpe', 'mpjpe', 'mpvpe', 'position_error', 'root_translation_error',
           'rotation_frobenius_error', 'rotation_geodesic_error', 'dbscan_1d', 'estimate_floor_height',
           'foot_sliding']

#: metres -> millimetres, the unit of CHOIS's position errors.
M_TO_MM = 1000.0


def as_numpy(x, name: str = 'array') -> np.ndarray:
    """float64 numpy array from an array or a (possibly CUDA / grad) torch tensor; raises on NaN / inf."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f'{name} contains NaN or inf')
    return x


def _check_pair(pred, gt, tail: tuple, name: str):
    pred, gt = as_numpy(pred, f'pred {name}'), as_numpy(gt, f'gt {name}')
    if pred.shape != gt.shape:
        raise ValueError(f'{name}: prediction {pred.shape} and ground truth {gt.shape} differ in shape')
    if pred.ndim != len(tail) + 1 or any(t is not None and s != t for s, t in zip(pred.shape[1:], tail)):
        want = ', '.join(['T'] + [str(t) if t is not None else 'N' for t in tail])
        raise ValueError(f'{name} must be ({want}), got {pred.shape}')
    if pred.shape[0] == 0:
        raise ValueError(f'{name} has no frames')
    return pred, gt


def _mean_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean())


def hand_jpe(pred_joints, gt_joints, hand_joints: Sequence[int] = HAND_JOINTS24) -> Dict[str, float]:
    """Global hand-point errors, mm.  pred_joints, gt_joints: (T, J, 3) metres.

    Returns {'lhand_jpe', 'rhand_jpe', 'hand_jpe'}: mean over frames of the L2 error of the left / right hand
    point (joints24 22 / 23), and their average.
    """
    pred, gt = _check_pair(pred_joints, gt_joints, (None, 3), 'joints')
    left, right = hand_joints
    lh = _mean_l2(pred[:, left], gt[:, left]) * M_TO_MM
    rh = _mean_l2(pred[:, right], gt[:, right]) * M_TO_MM
    return dict(lhand_jpe=lh, rhand_jpe=rh, hand_jpe=0.5 * (lh + rh))


def mpjpe(pred_joints, gt_joints, root: int = 0) -> float:
    """Root-relative mean per-joint position error, mm.  (T, J, 3) metres each.

    Each skeleton has its own joint `root` subtracted per frame; the mean is over T x J (the root
    contributes 0, as in CHOIS).
    """
    pred, gt = _check_pair(pred_joints, gt_joints, (None, 3), 'joints')
    return _mean_l2(pred - pred[:, root:root + 1], gt - gt[:, root:root + 1]) * M_TO_MM


def mpvpe(pred_verts, gt_verts, pred_root, gt_root) -> float:
    """Root-relative mean per-vertex position error, mm.

    pred_verts, gt_verts: (T, V, 3) body vertices; pred_root, gt_root: (T, 3) root joint (joint 0) of the
    same bodies, subtracted per frame (CHOIS subtracts the root joint, not the vertex mean).
    """
    pred, gt = _check_pair(pred_verts, gt_verts, (None, 3), 'vertices')
    pr, gr = _check_pair(pred_root, gt_root, (3,), 'root')
    if pr.shape[0] != pred.shape[0]:
        raise ValueError(f'root has {pr.shape[0]} frames, vertices {pred.shape[0]}')
    return _mean_l2(pred - pr[:, None], gt - gr[:, None]) * M_TO_MM


def position_error(pred_positions, gt_positions) -> float:
    """Mean over frames of the L2 error of one point per frame, mm.  (T, 3) metres each (e.g. object centre)."""
    pred, gt = _check_pair(pred_positions, gt_positions, (3,), 'positions')
    return _mean_l2(pred, gt) * M_TO_MM


def root_translation_error(pred_joints, gt_joints, root: int = 0) -> float:
    """Mean L2 error of the root joint (pelvis), mm.  (T, J, 3) metres each.

    CHOIS uses the body-model `transl`; the pelvis is `transl` + a constant rest offset for a fixed body
    shape, so the error is the same.
    """
    pred, gt = _check_pair(pred_joints, gt_joints, (None, 3), 'joints')
    return _mean_l2(pred[:, root], gt[:, root]) * M_TO_MM


def _relative_rotations(pred_rot, gt_rot) -> np.ndarray:
    pred, gt = _check_pair(pred_rot, gt_rot, (3, 3), 'rotations')
    return pred @ np.swapaxes(gt, -1, -2)  # R_pred R_gt^-1 (rotations: inverse = transpose)


def rotation_frobenius_error(pred_rot, gt_rot) -> float:
    """CHOIS rotation distance: mean over frames of ||I - R_pred R_gt^T||_F.  (T, 3, 3) each.

    Unitless, in [0, 2 sqrt(2)]; equals 2 sqrt(1 - cos(angle)), so 2.0 for a 90-degree error.
    """
    rel = _relative_rotations(pred_rot, gt_rot)
    return float(np.linalg.norm(np.eye(3) - rel, axis=(-2, -1)).mean())


def rotation_geodesic_error(pred_rot, gt_rot, degrees: bool = True) -> float:
    """Mean over frames of the geodesic angle of R_pred R_gt^T (degrees, or radians).  (T, 3, 3) each.

    Angle = atan2(|vee(R - R^T)| / 2, (trace R - 1) / 2): accurate near 0 and pi.
    """
    rel = _relative_rotations(pred_rot, gt_rot)
    cos = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1.0) * 0.5, -1.0, 1.0)
    vee = np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0], rel[:, 1, 0] - rel[:, 0, 1]], -1)
    sin = np.clip(0.5 * np.linalg.norm(vee, axis=-1), 0.0, 1.0)
    angle = np.arctan2(sin, cos).mean()
    return float(np.degrees(angle) if degrees else angle)


def dbscan_1d(values, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN labels of scalar values (same result as scikit-learn's `DBSCAN(eps, min_samples)` in 1-D).

    values: (N,) -> labels (N,) int, -1 for noise. A point is core when at least `min_samples` values
    (itself included) lie within `eps` (inclusive). Clusters are the eps-connected groups of core points,
    numbered in the order of their first core point; a border point joins the lowest-numbered cluster that
    has a core point within eps of it.
    """
    v = as_numpy(values, 'values').reshape(-1)
    n = v.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    near = np.abs(v[:, None] - v[None, :]) <= eps                       # (N, N)
    core = near.sum(1) >= min_samples
    next_label = 0
    for seed in range(n):
        if not core[seed] or labels[seed] != -1:
            continue
        labels[seed] = next_label
        frontier = [seed]
        while frontier:  # grow through core points only; borders are labelled but not expanded
            i = frontier.pop()
            for j in np.flatnonzero(near[i] & (labels == -1)):
                labels[j] = next_label
                if core[j]:
                    frontier.append(j)
        next_label += 1
    return labels


def estimate_floor_height(joints, toe_joints: Sequence[int] = TOE_JOINTS24, static_speed: float = 0.005,
                          eps: float = 0.005, min_samples: int = 3) -> float:
    """CHOIS floor estimate from the toes, metres.  joints: (T, J, 3), Z up.

    A toe is static in frame t when |p_{t+1} - p_t| < `static_speed` (metres per frame; the last frame
    repeats the previous speed). The z of all static toe frames (both toes) are clustered by `dbscan_1d`;
    every label, noise (-1) included as in CHOIS, forms a group, and the floor is the lowest group median.
    0.0 when no toe frame is static or T < 2.
    """
    joints = as_numpy(joints, 'joints')
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f'joints must be (T, J, 3), got {joints.shape}')
    if joints.shape[0] < 2:
        return 0.0
    heights = []
    for j in toe_joints:
        toe = joints[:, j]
        speed = np.linalg.norm(np.diff(toe, axis=0), axis=-1)
        speed = np.append(speed, speed[-1])
        heights.append(toe[speed < static_speed, 2])
    heights = np.concatenate(heights)
    if heights.size == 0:
        return 0.0
    labels = dbscan_1d(heights, eps, min_samples)
    return float(min(np.median(heights[labels == k]) for k in np.unique(labels)))


def foot_sliding(joints, floor_height: float = 0.0, ankle_joints: Sequence[int] = ANKLE_JOINTS24,
                 toe_joints: Sequence[int] = TOE_JOINTS24, ankle_height: float = 0.08,
                 toe_height: float = 0.04) -> float:
    """CHOIS foot sliding of one sequence, weighted mm per frame.  joints: (T, J, 3) metres, Z up.

    Heights are taken relative to `floor_height`. For each of the 4 joints (ankles with H = `ankle_height`,
    toes with H = `toe_height`) and each step t -> t+1 where the joint's height h_t < H, the xy displacement
    |xy_{t+1} - xy_t| is weighted by (2 - 2^(h_t / H)) (1 on the floor, 0 at H, > 1 below the floor); the
    sum is divided by T (the number of frames, not steps) and multiplied by 1000; the result is the average
    over the 4 joints. A toe sliding d metres per frame on the floor for all T - 1 steps gives
    1000 d (T - 1) / T / 4.
    """
    joints = as_numpy(joints, 'joints')
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f'joints must be (T, J, 3), got {joints.shape}')
    T = joints.shape[0]
    if T == 0:
        raise ValueError('foot_sliding: joints has no frames')
    total = 0.0
    for joint, height in [(j, ankle_height) for j in ankle_joints] + [(j, toe_height) for j in toe_joints]:
        p = joints[:, joint]
        z = p[:-1, 2] - floor_height
        step = np.linalg.norm(p[1:, :2] - p[:-1, :2], axis=-1)
        low = z < height
        total += float(np.abs(step * (2.0 - 2.0 ** (z / height)))[low].sum()) / T * M_TO_MM
    return total / (len(ankle_joints) + len(toe_joints))

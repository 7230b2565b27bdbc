"""Posing the shaped SMPL-X skeleton for mini-FBM: torso bend, two-bone leg/arm IK, hand orientation.

Owns the batched numpy kinematics of the synthesis: rotation helpers, `torso_globals` (pelvis/spine/neck
global rotations from heading and bend), `two_bone` (analytic IK with a pole), `solve_pose` (per-frame
targets -> global rotations (T, 22, 3, 3) and joints) and `to_smplx_params` (-> root_orient, pose_body, trans).
World frame: Z up, metres; heading yaw psi makes the body face (-sin psi, cos psi) (psi = 0 faces +Y).
"""
from typing import Dict, Tuple

import numpy as np
import torch

from imagin4d.body_models.fk import forward_kinematics
from imagin4d.geometry import matrix_to_axis_angle

from .body import MODEL_TO_WORLD, ShapedSkeleton

__all__ = ['rot_x', 'rot_z', 'forward_dir', 'right_dir', 'align', 'two_bone', 'finger_direction', 'torso_globals',
           'solve_pose',
           'to_smplx_params', 'joints_from_params', 'BEND', 'HAND_STANDOFF']

#: Bend at s = 1 (a deep reach to the floor): total forward pitch, pelvis drop (fraction of the standing pelvis
#: height) and pelvis shift backwards (metres); the pelvis and head take these shares of the pitch.
BEND = dict(pitch_deg=80.0, crouch_frac=0.5, back=0.14, pelvis_share=0.4, head_share=0.7)
#: Distance of the hand point (middle-finger base) from the surface under the palm, metres.
HAND_STANDOFF = 0.02
#: Fraction of the straight limb length a target may be at (keeps elbows and knees off the singularity).
LEG_REACH, ARM_REACH = 0.995, 0.999


def _unit(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def rot_x(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([i, o, o], -1), np.stack([o, c, -s], -1), np.stack([o, s, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


def forward_dir(psi: np.ndarray) -> np.ndarray:
    """(..., ) yaw -> (..., 3) unit forward on the floor plane."""
    psi = np.asarray(psi, np.float64)
    return np.stack([-np.sin(psi), np.cos(psi), np.zeros_like(psi)], -1)


def right_dir(psi: np.ndarray) -> np.ndarray:
    psi = np.asarray(psi, np.float64)
    return np.stack([np.cos(psi), np.sin(psi), np.zeros_like(psi)], -1)


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frame (..., 3, 3) with columns (primary, secondary orthogonalised, primary x secondary)."""
    e1 = _unit(primary)
    e2 = _unit(secondary - (secondary * e1).sum(-1, keepdims=True) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], -1)


def align(rest_primary, rest_secondary, world_primary, world_secondary) -> np.ndarray:
    """Rotation (..., 3, 3) taking rest_primary exactly onto world_primary's direction and rest_secondary as
    close as possible to world_secondary."""
    rest = _frame(np.asarray(rest_primary, np.float64), np.asarray(rest_secondary, np.float64))
    world = _frame(world_primary, world_secondary)
    return world @ np.swapaxes(rest, -1, -2)


def two_bone(root: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray,
             reach: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analytic two-bone IK.  root, target, pole: (T, 3) -> (middle joint (T, 3), end (T, 3), bend normal).

    The end is the target when |target - root| <= reach * (l1 + l2), otherwise the nearest reachable point on
    the same ray; the middle joint bends towards `pole` (a direction). The bend normal is (target - root) x pole.
    """
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    lo, hi = abs(l1 - l2) + 1e-4, reach * (l1 + l2)
    dist_c = np.clip(dist, lo, hi)
    e = d / np.maximum(dist, 1e-9)
    end = root + e * dist_c
    p = _unit(pole - (pole * e).sum(-1, keepdims=True) * e)
    cos_a = np.clip((l1 ** 2 + dist_c ** 2 - l2 ** 2) / (2 * l1 * dist_c), -1.0, 1.0)
    mid = root + l1 * (cos_a * e + np.sqrt(1 - cos_a ** 2) * p)
    return mid, end, _unit(np.cross(e, p))


def torso_globals(psi: np.ndarray, s: np.ndarray) -> Dict[int, np.ndarray]:
    """Global rotations of pelvis (0), spine1-3 (3, 6, 9), neck (12), head (15) and collars (13, 14) for
    heading psi (T,) and bend s (T,) in [0, 1]: a forward pitch about the body's right axis."""
    theta = np.radians(BEND['pitch_deg']) * np.asarray(s, np.float64)
    base = rot_z(psi)
    share = BEND['pelvis_share']
    pitch = {0: share * theta}
    for k, j in enumerate((3, 6, 9)):
        pitch[j] = share * theta + (1 - share) * theta * (k + 1) / 3
    pitch[12] = pitch[9] * 0.85
    pitch[15] = theta * BEND['head_share']
    out = {j: base @ rot_x(-a) @ MODEL_TO_WORLD for j, a in pitch.items()}
    out[13] = out[14] = out[9]
    return out


def torso_positions(skel: ShapedSkeleton, pelvis: np.ndarray, G: Dict[int, np.ndarray]) -> Dict[int, np.ndarray]:
    """World positions of the torso joints (and hips, shoulders) given the pelvis (T, 3) and `torso_globals`."""
    off = skel.offsets()
    pos = {0: pelvis}
    for j in (1, 2, 3, 6, 9, 12, 13, 14, 15, 16, 17):
        p = int(skel.parents[j])
        pos[j] = pos[p] + np.einsum('tij,j->ti', G[p], off[j])
    return pos


def finger_direction(along: np.ndarray, palm: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Unit finger direction (..., 3): `along` (the forearm) projected off the palm direction; where that
    projection is short, forward and then down (also projected) are blended in smoothly.
    along, palm: (..., 3); psi: heading broadcastable to along[..., 0]."""
    def proj(v):
        return v - (v * palm).sum(-1, keepdims=True) * palm

    f = proj(along)
    for extra in (forward_dir(psi), np.broadcast_to(np.array([0.0, 0.0, -1.0]), along.shape)):
        f = f + np.clip(0.35 - np.linalg.norm(f, axis=-1, keepdims=True), 0.0, None) * proj(
            np.broadcast_to(extra, along.shape))
    return _unit(f)


def _arm(skel: ShapedSkeleton, side: int, shoulder: np.ndarray, hand: np.ndarray, palm: np.ndarray,
         fingers: np.ndarray, psi: np.ndarray):
    """IK of one arm. side 0 = left, 1 = right; hand: (T, 3) hand-point targets; palm: (T, 3) palm directions;
    fingers: (T, 3) finger direction hints (projected off the palm). Returns ({joint: global rotation} for
    shoulder, elbow and wrist, posed hand point (T, 3))."""
    r = skel.rest
    sh, el, wr, hp = (16, 18, 20, 28) if side == 0 else (17, 19, 21, 43)
    u1, u2, u3 = r[el] - r[sh], r[wr] - r[el], r[hp] - r[wr]
    l1, l2 = np.linalg.norm(u1), np.linalg.norm(u2)
    fwd, rgt = forward_dir(psi), right_dir(psi)
    out_dir = -rgt if side == 0 else rgt
    up = np.array([0.0, 0.0, 1.0])
    u = np.clip((hand[:, 2] - shoulder[:, 2] + 0.15) / 0.6, 0.0, 1.0)[:, None]
    rise = u * u * (3 - 2 * u)   # elbows swing from pointing back-down (low hands) to out (high hands)
    pole = (1 - rise) * (-0.6 * fwd - 0.5 * up + 0.45 * out_dir) + rise * (0.9 * out_dir - 0.3 * fwd - 0.2 * up)
    rest_pole = np.array([0.0, 0.0, -1.0])                     # elbows point backwards (model -Z)
    rest_normal = np.cross(_unit(u1 + u2), rest_pole)
    finger_rest, palm_rest = _unit(u3), np.array([0.0, -1.0, 0.0])  # T-pose palms face down (model -Y)
    G_wr = align(finger_rest, palm_rest, finger_direction(fingers, palm, psi), palm)
    wrist_target = hand - np.einsum('tij,j->ti', G_wr, u3)
    elbow, wrist, normal = two_bone(shoulder, wrist_target, l1, l2, pole, ARM_REACH)
    G_sh = align(u1, rest_normal, elbow - shoulder, normal)
    G_el = align(u2, rest_normal, wrist - elbow, normal)
    hand_pos = wrist + np.einsum('tij,j->ti', G_wr, u3)
    return {sh: G_sh, el: G_el, wr: G_wr}, hand_pos


def _leg(skel: ShapedSkeleton, side: int, hip: np.ndarray, ankle: np.ndarray, foot_yaw: np.ndarray):
    """IK of one leg (side 0 = left): hip (T, 3), ankle target (T, 3), foot yaw (T,) -> {joint: global rotation}
    for hip, knee, ankle and foot; the knee bends along the foot, the foot lies flat."""
    r = skel.rest
    hp, kn, an, ft = (1, 4, 7, 10) if side == 0 else (2, 5, 8, 11)
    u1, u2 = r[kn] - r[hp], r[an] - r[kn]
    l1, l2 = np.linalg.norm(u1), np.linalg.norm(u2)
    pole = forward_dir(foot_yaw)                                # knees point along the foot
    rest_normal = np.cross(_unit(u1 + u2), np.array([0.0, 0.0, 1.0]))
    knee, end, normal = two_bone(hip, ankle, l1, l2, pole, LEG_REACH)
    G_foot = rot_z(foot_yaw) @ MODEL_TO_WORLD                  # foot flat on the floor
    return {hp: align(u1, rest_normal, knee - hip, normal), kn: align(u2, rest_normal, end - knee, normal),
            an: G_foot, ft: G_foot}


def solve_pose(skel: ShapedSkeleton, pelvis: np.ndarray, psi: np.ndarray, s: np.ndarray, ankles: np.ndarray,
               foot_yaw: np.ndarray, hands: np.ndarray, palms: np.ndarray,
               fingers: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-frame pose from targets.

    pelvis (T, 3) root joint position; psi (T,) heading; s (T,) bend in [0, 1]; ankles (T, 2, 3) ankle targets
    (left, right); foot_yaw (T, 2); hands (T, 2, 3) hand-point targets; palms (T, 2, 3) palm directions;
    fingers (T, 2, 3) finger direction hints. Returns global_rot (T, 22, 3, 3).
    """
    T = pelvis.shape[0]
    G = torso_globals(psi, s)
    pos = torso_positions(skel, pelvis, G)
    glob = np.tile(np.eye(3), (T, 22, 1, 1))
    for j, R in G.items():
        glob[:, j] = R
    for side in (0, 1):
        glob_leg = _leg(skel, side, pos[1 + side], ankles[:, side], foot_yaw[:, side])
        glob_arm, _ = _arm(skel, side, pos[16 + side], hands[:, side], _unit(palms[:, side]), fingers[:, side], psi)
        for j, R in {**glob_leg, **glob_arm}.items():
            glob[:, j] = R
    return dict(global_rot=glob)


def to_local(global_rot: np.ndarray, parents) -> np.ndarray:
    """(T, J, 3, 3) global -> local rotations (root stays global)."""
    local = global_rot.copy()
    for j in range(1, global_rot.shape[1]):
        local[:, j] = np.swapaxes(global_rot[:, parents[j]], -1, -2) @ global_rot[:, j]
    return local


def to_smplx_params(skel: ShapedSkeleton, global_rot: np.ndarray, pelvis: np.ndarray) -> Dict[str, np.ndarray]:
    """Global body rotations (T, 22, 3, 3) + pelvis joint positions (T, 3) -> FBM/SMPL-X parameters:
    root_orient (T, 3), pose_body (T, 63) axis-angle, trans (T, 3) with pelvis = rest pelvis + trans."""
    local = to_local(global_rot, skel.parents[:22])
    aa = matrix_to_axis_angle(torch.from_numpy(local)).numpy()
    return dict(root_orient=aa[:, 0], pose_body=aa[:, 1:22].reshape(-1, 63), trans=pelvis - skel.rest[0])


def joints_from_params(skel: ShapedSkeleton, root_orient: np.ndarray, pose_body: np.ndarray,
                       trans: np.ndarray) -> np.ndarray:
    """joints24 (T, 24, 3) of SMPL-X parameters with flat hands, via `imagin4d.body_models.fk`.

    The FK runs on the joints24 sub-tree (the 22 body joints and the middle-finger bases, whose flat-hand
    chain is rigid on the wrist), which gives the same positions as the full 55-joint chain."""
    from imagin4d.body_models.skeletons import JOINTS24_FROM_SMPLX, JOINTS24_PARENTS
    from imagin4d.geometry import axis_angle_to_matrix
    T = root_orient.shape[0]
    aa = np.concatenate([root_orient, pose_body], 1).reshape(T, 22, 3)
    local = axis_angle_to_matrix(torch.from_numpy(aa))
    local = torch.cat([local, torch.eye(3, dtype=local.dtype).expand(T, 2, 3, 3)], 1)
    rest = torch.from_numpy(skel.rest[list(JOINTS24_FROM_SMPLX)])
    pos, _ = forward_kinematics(local, rest, JOINTS24_PARENTS, torch.from_numpy(trans))
    return pos.numpy()

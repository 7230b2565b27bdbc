"""Interaction factors read from a motion by simple geometry: which hand grasps, how high the object is carried,
where it is relative to the body.

Owns the factor vocabulary, the rules that define each value (`classify_height`, `classify_layout`,
`classify_hands`), `recover_factors` (used by the mini-FBM generator to check its plans and by the image-adherence
evaluation for any data set) and the mirror of a motion and of its factors. Pure numpy; positions are Z-up metres,
joints are joints24 (pelvis 0, spine3 9, head 15, hands 22 / 23). Definitions: docs/conventions.md.
"""
import math
from typing import Dict, Optional

import numpy as np

from imagin4d.body_models.skeletons import LEFT_RIGHT_JOINTS24

__all__ = ['GRASP_HANDS', 'CARRY_HEIGHTS', 'LAYOUTS', 'FACTOR_NAMES', 'HEIGHT_RULE', 'LAYOUT_FRONT_DEG',
           'HAND_DISTANCE_MARGIN', 'height_band', 'classify_height', 'body_frame_offset', 'classify_layout',
           'classify_hands', 'recover_factors', 'mirror_factors', 'mirror_motion']

GRASP_HANDS = ('left', 'right', 'both')
CARRY_HEIGHTS = ('low', 'hip', 'chest', 'overhead')
LAYOUTS = ('front', 'left', 'right')
FACTOR_NAMES = ('grasp_hand', 'carry_height', 'layout')

PELVIS, CHEST, HEAD, LEFT_HAND, RIGHT_HAND = 0, 9, 15, 22, 23
#: Carry-height bands of the object centre z (metres): low < pelvis - 0.15 <= hip < (pelvis + chest) / 2 <= chest
#: < head + 0.05 <= overhead.
HEIGHT_RULE = dict(low_below_pelvis=0.15, overhead_above_head=0.05)
#: Layout: the object centre's bearing from the pelvis in the body heading frame; |bearing| < 35 deg is front.
LAYOUT_FRONT_DEG = 35.0
#: Grasp without contact labels: a hand holds the object if it is within this margin (metres) of the nearer
#: hand's distance to the object centre.
HAND_DISTANCE_MARGIN = 0.15


def height_band(pelvis_z: float, chest_z: float, head_z: float) -> Dict[str, tuple]:
    """{height: (z_min, z_max)} of the object centre for a body with these joint heights."""
    a = pelvis_z - HEIGHT_RULE['low_below_pelvis']
    b = 0.5 * (pelvis_z + chest_z)
    c = head_z + HEIGHT_RULE['overhead_above_head']
    return dict(low=(-math.inf, a), hip=(a, b), chest=(b, c), overhead=(c, math.inf))


def classify_height(obj_z: float, pelvis_z: float, chest_z: float, head_z: float) -> str:
    for name, (lo, hi) in height_band(pelvis_z, chest_z, head_z).items():
        if lo <= obj_z < hi:
            return name
    return 'overhead'


def _heading(joints: np.ndarray) -> np.ndarray:
    """Unit forward (x, y) of a (24, 3) body: (left hip - right hip) + (left shoulder - right shoulder) x up
    (the same rule as `imagin4d.geometry.body_heading`)."""
    across = joints[1] - joints[2] + joints[16] - joints[17]
    fwd = np.array([across[1], -across[0]])
    return fwd / max(np.linalg.norm(fwd), 1e-9)


def body_frame_offset(joints: np.ndarray, point: np.ndarray) -> np.ndarray:
    """(right, forward) coordinates of `point` (3,) relative to the pelvis in the heading frame of `joints`."""
    fwd = _heading(joints)
    right = np.array([fwd[1], -fwd[0]])
    d = np.asarray(point[:2]) - joints[PELVIS, :2]
    return np.array([d @ right, d @ fwd])


def classify_layout(joints: np.ndarray, obj_centre: np.ndarray) -> str:
    r, f = body_frame_offset(joints, obj_centre)
    bearing = math.degrees(math.atan2(r, f))
    if abs(bearing) < LAYOUT_FRONT_DEG:
        return 'front'
    return 'right' if r > 0 else 'left'


def classify_hands(left: bool, right: bool) -> Optional[str]:
    if left and right:
        return 'both'
    if left or right:
        return 'left' if left else 'right'
    return None


def recover_factors(joints24: np.ndarray, obj_centre: np.ndarray, contacts: Optional[np.ndarray] = None,
                    frame: Optional[int] = None) -> Dict[str, Optional[str]]:
    """Hidden factors of a motion at one frame, by geometry alone.

    joints24: (T, 24, 3) Z-up world or canonical positions; obj_centre: (T, 3) object centre (vertex mean);
    contacts: (T, 4) lh, rh, lf, rf labels (> 0.5 is contact) or None; frame: the depicted frame (default:
    the middle frame).
    - grasp_hand: from the hand contact labels at `frame`; without labels (or when neither hand is in
      contact), the hand(s) within HAND_DISTANCE_MARGIN of the nearer hand's distance to the object centre.
    - carry_height: the object centre z against the body's pelvis / chest (spine3) / head joints (HEIGHT_RULE).
    - layout: bearing of the object centre from the pelvis in the body heading frame (LAYOUT_FRONT_DEG).
    Returns {'grasp_hand', 'carry_height', 'layout'}.
    """
    joints24 = np.asarray(joints24, np.float64)
    obj_centre = np.asarray(obj_centre, np.float64)
    t = joints24.shape[0] // 2 if frame is None else int(frame)
    j, c = joints24[t], obj_centre[t]
    hands = None
    if contacts is not None:
        lab = np.asarray(contacts)[t] > 0.5
        hands = classify_hands(bool(lab[0]), bool(lab[1]))
    if hands is None:
        dl, dr = np.linalg.norm(j[LEFT_HAND] - c), np.linalg.norm(j[RIGHT_HAND] - c)
        m = min(dl, dr) + HAND_DISTANCE_MARGIN
        hands = classify_hands(dl <= m, dr <= m)
    return dict(grasp_hand=hands,
                carry_height=classify_height(c[2], j[PELVIS, 2], j[CHEST, 2], j[HEAD, 2]),
                layout=classify_layout(j, c))


_SWAP = {'left': 'right', 'right': 'left'}


def mirror_factors(factors: Dict[str, str]) -> Dict[str, str]:
    """The factors of the mirror image: hands and layout swap sides, the height stays."""
    return {k: _SWAP.get(v, v) if k in ('grasp_hand', 'layout') else v for k, v in factors.items()}


def mirror_motion(joints24: np.ndarray, obj_centre: np.ndarray, contacts: Optional[np.ndarray] = None,
                  axis: int = 0):
    """Mirror a motion through the plane `axis` = 0 (x -> -x in the canonical frame, where the body faces +Y):
    negate that coordinate and swap left/right joints and contact columns.
    joints24 (T, 24, 3), obj_centre (T, 3), contacts (T, 4) or None -> the same shapes."""
    j = np.array(joints24, np.float64)
    c = np.array(obj_centre, np.float64)
    j[..., axis] *= -1
    c[..., axis] *= -1
    j = j[:, list(LEFT_RIGHT_JOINTS24)]
    k = None if contacts is None else np.asarray(contacts)[:, [1, 0, 3, 2]]
    return j, c, k

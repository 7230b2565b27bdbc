"""Where the object goes relative to the body in a mini-FBM interaction, and what a given body can do.

Owns the body-frame placement of the object (`carry_offset` while carrying / pushing, `pick_offset` on the floor
below it; offsets are (right, forward, base z, yaw)), `stance_radius`, grip targets in the world (`grips_world`),
the spine/knee bend a reach needs (`bend_needed`) and `feasible_options`: the (program, carry height) pairs a body
can perform.
World frame: Z up, metres; heading yaw psi faces (-sin psi, cos psi).
"""
import math
from typing import List, Optional, Tuple

import numpy as np

from imagin4d.geometry.interaction_factors import height_band

from .body import ShapedSkeleton
from .kinematics import (
    BEND,
    HAND_STANDOFF,
    finger_direction,
    forward_dir,
    right_dir,
    rot_z,
    torso_globals,
    torso_positions,
)
from .objects import ObjectSpec, Program

__all__ = ['carry_offset', 'pick_offset', 'stance_radius', 'place', 'grips_world', 'along_arm', 'torso', 'bend_needed',
           'feasible_options', 'REACH_MARGIN', 'MIN_REACH', 'HEIGHT_MARGIN']

#: A wrist target must be within this fraction of the arm's straight length (shoulder to wrist).
REACH_MARGIN = 0.96
#: ... and at least this fraction away (a fully folded arm flips the elbow).
MIN_REACH = 0.25
#: A carry height must sit this far (metres) inside its band for the standing body.
HEIGHT_MARGIN = 0.06


def _depth_width(obj: ObjectSpec, yaw: float) -> Tuple[float, float]:
    ext = obj.extents
    if abs(math.sin(yaw)) > 0.7:
        return float(ext[0]), float(ext[1])
    return float(ext[1]), float(ext[0])


def carry_offset(obj: ObjectSpec, program: Program, height: str, skel: ShapedSkeleton) -> np.ndarray:
    """Object placement in the body frame while carrying or pushing: (right, forward, base z, yaw)."""
    depth, width = _depth_width(obj, program.yaw)
    cz = float(obj.centre[2])
    if program.action == 'push':
        if program.layout == 'front':
            return np.array([0.0, 0.3 + depth / 2, 0.0, program.yaw])
        sign = 1.0 if program.layout == 'right' else -1.0
        return np.array([sign * (0.25 + width / 2), 0.25, 0.0, program.yaw])
    one_side = program.hands != 'both' and program.layout != 'front'
    if height == 'low' and one_side:
        grip_z = next(iter(program.grips.values())).point[2]
        base = skel.stand_shoulder - 0.86 * skel.arm_reach - grip_z
    elif height == 'low':
        base = obj.low_lift
    else:
        band = height_band(skel.stand_pelvis, skel.stand_chest, skel.stand_head)
        target = {'hip': band['hip'][1] - 0.09, 'chest': 0.5 * sum(band['chest']) - 0.04,
                  'overhead': band['overhead'][0] + 0.09}[height]
        base = target - cz
    if program.layout == 'front':
        clear = {'low': 0.3, 'hip': 0.24, 'chest': 0.2, 'overhead': 0.17}[height]
        return np.array([0.0, clear + depth / 2, base, program.yaw])
    sign = 1.0 if program.layout == 'right' else -1.0
    return np.array([sign * (0.23 + width / 2), 0.04, base, program.yaw])


def pick_offset(obj: ObjectSpec, program: Program, height: str, skel: ShapedSkeleton) -> np.ndarray:
    """Object placement on the floor in the body frame at the pick-up stance: straight below its carry placement,
    so that lifting and putting down move it only vertically. (A horizontal move from a common pick-up spot to
    the carry placement would show the layout in the object's path, which the model gets as waypoints.)"""
    off = carry_offset(obj, program, height, skel)
    off[2] = 0.0
    return off


def stance_radius(obj: ObjectSpec, skel: ShapedSkeleton) -> float:
    """The largest floor distance (metres) from the pick-up stance to the object over all of the object's
    programs and carry heights: a body that starts farther away than this must walk to any stance."""
    return max(float(np.linalg.norm(carry_offset(obj, p, h, skel)[:2])) for p in obj.programs for h in p.heights)


def place(xy: np.ndarray, psi: np.ndarray, off: np.ndarray):
    """Body frame (xy (T, 2), psi (T,)) + offsets (T, 4) -> object rotation (T, 3, 3), translation (T, 3)."""
    t = np.zeros((len(psi), 3))
    t[:, :2] = xy + off[:, :1] * right_dir(psi)[:, :2] + off[:, 1:2] * forward_dir(psi)[:, :2]
    t[:, 2] = off[:, 2]
    return rot_z(psi + off[:, 3]), t


def grips_world(R: np.ndarray, t: np.ndarray, program: Program):
    """Hand-point targets, palm and finger directions (each (T, 2, 3)) of the program's grips; unused = 0, and
    fingers = 0 where the grip leaves them along the arm."""
    T = len(t)
    hands, palms, fingers = np.zeros((T, 2, 3)), np.zeros((T, 2, 3)), np.zeros((T, 2, 3))
    for k, side in enumerate(('left', 'right')):
        g = program.grips.get(side)
        if g is None:
            continue
        p = np.einsum('tij,j->ti', R, np.asarray(g.point)) + t
        n = np.einsum('tij,j->ti', R, np.asarray(g.palm))
        hands[:, k], palms[:, k] = p - HAND_STANDOFF * n, n
        if g.fingers is not None:
            fingers[:, k] = np.einsum('tij,j->ti', R, np.asarray(g.fingers))
    return hands, palms, fingers


def torso(skel: ShapedSkeleton, xy: np.ndarray, psi: np.ndarray, s: np.ndarray, z: np.ndarray):
    """Pelvis (T, 3) (shifted back by the bend), torso global rotations and joint positions (see kinematics)
    for nominal pelvis xy (T, 2), heading (T,), bend (T,) and pelvis height (T,)."""
    pelvis = np.concatenate([xy - BEND['back'] * s[:, None] * forward_dir(psi)[:, :2], z[:, None]], 1)
    G = torso_globals(psi, s)
    return pelvis, G, torso_positions(skel, pelvis, G)


def bend_needed(skel: ShapedSkeleton, xy: np.ndarray, psi: np.ndarray, targets: np.ndarray, active: np.ndarray,
                palms: Optional[np.ndarray] = None, fingers: Optional[np.ndarray] = None,
                margin: float = REACH_MARGIN, steps: int = 41):
    """Bend range that reaches the active hand targets (T, 2, 3) with palms and fingers (T, 2, 3) as gripped.

    For each bend s of a grid, the wrist target is the hand target minus the hand, laid along the finger
    direction projected off the palm (as in the IK); a target is reachable when that wrist is within
    `margin` of the arm's straight length (shoulder to wrist) and not closer than MIN_REACH of it.
    Returns (s_min (T,), s_max (T,), reachable (T,)): the smallest reaching bend and the largest bend of the
    same reachable run (s_max = -1 where nothing reaches).
    """
    T = len(psi)
    grid = np.linspace(0.0, 1.0, steps)
    S = np.repeat(grid[None], T, 0).reshape(-1)
    rep = lambda a: np.repeat(a, steps, 0)  # noqa: E731
    _, _, pos = torso(skel, rep(xy), rep(psi), S, skel.stand_pelvis * (1 - BEND['crouch_frac'] * S))
    sh = np.stack([pos[16], pos[17]], 1).reshape(T, steps, 2, 3)
    hand = np.broadcast_to(targets[:, None], sh.shape)
    wrist = hand
    if palms is not None:
        p = np.broadcast_to(palms[:, None], sh.shape)
        f = finger_direction(along_arm(np.broadcast_to(fingers[:, None], sh.shape), hand, sh), p,
                             psi[:, None, None])
        wrist = hand - skel.hand * f
    arm = skel.upper_arm + skel.forearm
    dist = np.linalg.norm(wrist - sh, axis=-1)                            # (T, steps, 2)
    # reachable, and not so close that the arm folds up (bending towards a high hand)
    ok = (((dist <= margin * arm) & (dist >= MIN_REACH * arm)) | ~active[:, None]).all(-1)   # (T, steps)
    any_ok = ok.any(1)
    first = np.where(any_ok, ok.argmax(1), steps - 1)
    after = np.where(np.arange(steps)[None] >= first[:, None], ~ok, False)
    last = np.where(after.any(1), after.argmax(1) - 1, steps - 1)
    return grid[first], np.where(any_ok, grid[last], -1.0), any_ok


def along_arm(fingers: np.ndarray, hand: np.ndarray, shoulder: np.ndarray) -> np.ndarray:
    """Finger hints (..., 3) with the zero ones (grips without a direction) replaced by shoulder -> hand."""
    arm = hand - shoulder
    arm = arm / np.maximum(np.linalg.norm(arm, axis=-1, keepdims=True), 1e-9)
    return np.where(np.linalg.norm(fingers, axis=-1, keepdims=True) > 0.5, fingers, arm)


def _body_boxes(skel: ShapedSkeleton):
    """Boxes (right, forward, z ranges) the carried object must stay out of: torso and head, legs."""
    legs = (-skel.hip_half_width - 0.1, skel.hip_half_width + 0.1)
    knee = skel.stand_pelvis - 0.35
    return [((-skel.shoulder_half_width + 0.03, skel.shoulder_half_width - 0.03), (-0.14, 0.15),
             (skel.stand_pelvis - 0.1, skel.stand_head + 0.16)),       # torso and head
            (legs, (-0.2, 0.2), (knee, skel.stand_pelvis - 0.1)),        # thighs (swinging)
            (legs, (-0.25, 0.3), (0.0, knee))]                           # knees, shins and feet


def _clear_of_body(points: np.ndarray, skel: ShapedSkeleton) -> bool:
    """True if no point (N, 3) (body frame: right, forward, up) is inside one of `_body_boxes`."""
    for xr, yr, zr in _body_boxes(skel):
        inside = ((points[:, 0] > xr[0]) & (points[:, 0] < xr[1]) & (points[:, 1] > yr[0]) & (points[:, 1] < yr[1])
                  & (points[:, 2] > zr[0]) & (points[:, 2] < zr[1]))
        if inside.any():
            return False
    return True


def feasible_options(obj: ObjectSpec, skel: ShapedSkeleton) -> List[Tuple[Program, str]]:
    """(program, carry height) pairs of `obj` that this body can perform: the carry height lands inside its
    band with HEIGHT_MARGIN, the grips are reachable while standing upright (carry) or with a moderate bend
    (push), the object clears the torso and legs, and the floor grips are reachable when bending."""
    band = height_band(skel.stand_pelvis, skel.stand_chest, skel.stand_head)
    verts = obj.mesh()[0][::7]
    out = []
    zero = np.zeros((1, 2))
    for program in obj.programs:
        for height in program.heights:
            off = carry_offset(obj, program, height, skel)
            R, t = place(zero, np.zeros(1), off[None])
            centre_z = float((R[0] @ obj.centre + t[0])[2])
            lo, hi = band[height]
            if not (lo + HEIGHT_MARGIN <= centre_z <= hi - HEIGHT_MARGIN) or off[2] < 0:
                continue
            hands, palms, fingers = grips_world(R, t, program)
            active = np.array([[('left' in program.grips), ('right' in program.grips)]])
            s, _, ok = bend_needed(skel, zero, np.zeros(1), hands, active, palms, fingers, margin=0.92)
            if not ok[0] or s[0] > (0.45 if program.action == 'push' else 0.0):
                continue
            if program.action == 'carry':
                if not _clear_of_body(verts @ R[0].T + t[0], skel):
                    continue
                R0, t0 = place(zero, np.zeros(1), pick_offset(obj, program, height, skel)[None])
                floor = grips_world(R0, t0, program)
                if not bend_needed(skel, zero, np.zeros(1), floor[0], active, floor[1], floor[2])[2][0]:
                    continue
            out.append((program, height))
    return out

"""Whole-body interaction synthesis for mini-FBM (pure numpy/torch, no file I/O).

Owns `SynthSequence` (one generated sequence: SMPL-X parameters, object poses, contacts, factors) and
`synthesize` (object + program + carry height + body -> sequence): approach walk, reach and grasp (arm IK to
the grips, spine and knee bend for low grips), lift, carry or push along an arc, put down, release.
The plan is built in a frame with the pick-up stance at the origin facing +Y (the body starts elsewhere, see
`_approach`), then turned by a random world yaw and shifted. Where the object goes and what a body can reach is
in `placement`. `synthesize(..., start=...)` starts the body at a given floor pose relative to the object (where a
previous segment left it: `end_stance`), for chained sequences; without it the draws are those of the default build.
"""
import copy
import math
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from imagin4d.geometry import contact_centred_frame, geodesic_distance
from imagin4d.geometry.interaction_factors import recover_factors

from .body import ShapedSkeleton
from .gait import Track, arc_path, line_path, lower_envelope, mean_filter, pelvis_height_bound, smoothstep
from .kinematics import (
    BEND,
    forward_dir,
    joints_from_params,
    right_dir,
    rot_z,
    solve_pose,
    to_smplx_params,
    torso_globals,
)
from .objects import ObjectSpec, Program
from .placement import along_arm, bend_needed, carry_offset, grips_world, pick_offset, place, stance_radius, torso

__all__ = ['SynthSequence', 'synthesize', 'SynthesisFailed', 'end_stance', 'TEXTS', 'WINDOW', 'FPS']

FPS = 30
WINDOW = 120   # the CHOIS window; the test protocol keeps frames 0..119
#: A carried object is back on the floor by this frame (so inside the test window)
PUT_DOWN_BY = WINDOW - 2
#: Continuity bounds of a synthesised motion (per frame at 30 fps): joint step (m) and global joint turn (rad)
MAX_JOINT_STEP, MAX_ROTATION_STEP = 0.19, 0.75
#: The carry walk starts this many frames before the lift ends, and the put down as many before the walk ends
WALK_OVERLAP = 8
#: Sentences per action: they name only the action and the object (never hand, height or side).
TEXTS = {
    'carry': ('Lift the {o}, carry it and put it down.', 'Pick up the {o}, move it and put it down.',
              'Lift the {o}, move the {o} and set it down.'),
    'push': ('Push the {o}.', 'Push the {o} across the floor.', 'Push the {o} and let go of it.'),
}


class SynthesisFailed(RuntimeError):
    """The sampled plan could not be realised (unreachable grip, factor not visible at the depicted frame)."""


@dataclass
class SynthSequence:
    """One mini-FBM sequence in the Z-up world (metres, 30 fps).

    SMPL-X parameters: root_orient (T, 3), pose_body (T, 63), trans (T, 3), betas (16,), gender.
    Object: obj_rot (T, 3, 3), obj_trans (T, 3) with world = obj_rot @ v + obj_trans for v in metres in the
    object frame (the release stores v / scale and obj_scale = scale). contacts (T, 4) lh, rh, lf, rf.
    Diagnostics: joints24 (T, 24, 3) by FK of the parameters; obj_centre (T, 3) vertex mean; planted (T, 2)
    feet held fixed; grip_targets (T, 2, 3) hand-point targets; holding (T, 2) hands rigidly attached to the
    object; factors {'grasp_hand', 'carry_height', 'layout'}; phases {name: (start, end)}; info: diagnostics, with
    end_x, end_y, end_psi the body's floor pose (nominal pelvis xy, heading) at the last frame (see `end_stance`).
    """
    object_name: str
    action: str
    factors: Dict[str, str]
    text: str
    gender: str
    betas: np.ndarray
    root_orient: np.ndarray
    pose_body: np.ndarray
    trans: np.ndarray
    obj_rot: np.ndarray
    obj_trans: np.ndarray
    contacts: np.ndarray
    joints24: np.ndarray
    obj_centre: np.ndarray
    planted: np.ndarray
    grip_targets: np.ndarray
    holding: np.ndarray
    phases: Dict[str, Tuple[int, int]]
    depicted_frame: int
    info: Dict[str, float] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.trans.shape[0]


# ------------------------------------------------------------------ synthesis
def _ease_offsets(a: np.ndarray, b: np.ndarray, n: int, vertical_first: bool) -> np.ndarray:
    """(n, 4) body-frame offsets from a to b over n frames; the vertical move spans all of them, the horizontal
    one starts later (lifting: clear the floor first) or ends earlier (putting down: over the spot first)."""
    u = (np.arange(1, n + 1)) / n
    uh = smoothstep((u - 0.25) / 0.75) if vertical_first else smoothstep(u / 0.75)
    uv = smoothstep(u)
    out = a + (b - a) * uh[:, None]
    out[:, 2] = a[2] + (b[2] - a[2]) * uv
    return out


def _approach(obj: ObjectSpec, program: Program, height: str, skel: ShapedSkeleton, rng: np.random.Generator,
              start: Optional[np.ndarray] = None, obj_yaw: float = 0.0):
    """Where the body starts, in the plan frame (pick-up stance at the origin facing +Y): (xy (2,), heading).

    With `start` (x, y, heading of the body in the frame of the object's start pose, see `end_stance`) the body
    starts there: obj_yaw is the object's start yaw in the plan frame; nothing is drawn.

    The start is drawn relative to the object, not to the stance: the object lies at a distance that depends only
    on the object (`stance_radius` + 0.1-0.3 m), in a direction gamma from the start that is also the direction
    of the later carry (up to +-0.3 rad), and about in front of the starting body. So the frame-0 body and the
    object path (the model's non-image conditions) look the same whatever the hand, height and layout; only the
    unseen walk to the stance differs."""
    obj_xy = carry_offset(obj, program, height, skel)[:2]
    if start is not None:
        c, s = math.cos(obj_yaw), math.sin(obj_yaw)
        return obj_xy + np.array([[c, -s], [s, c]]) @ np.asarray(start[:2], np.float64), obj_yaw + float(start[2])
    gamma = rng.uniform(-0.3, 0.3)
    dist = stance_radius(obj, skel) + rng.uniform(0.1, 0.3)
    return obj_xy - dist * forward_dir(gamma)[:2], gamma + rng.uniform(-0.35, 0.35)


def _walk_fitting(track: Track, path_fn, frames: int, length: float, speed: float, max_speed: float,
                  seed: int):
    """`track` extended by a walk along path_fn(length) that ends within `frames` frames: faster (up to max_speed),
    then shorter, until it fits. Returns (extended copy of track, speed, length); raises SynthesisFailed if even a
    short fast walk does not fit."""
    for _ in range(12):
        trial = copy.deepcopy(track)
        trial.walk(*path_fn(length), speed=speed, rng=np.random.default_rng(seed))
        if trial.num_frames - track.num_frames <= frames:
            return trial, speed, length
        need = speed * (trial.num_frames - track.num_frames) / max(frames, 1)
        if speed < max_speed:
            speed = min(max_speed, need)
        else:
            length *= 0.85
    raise SynthesisFailed(f'a walk does not fit in {frames} frames')


def _timeline(obj: ObjectSpec, program: Program, height: str, skel: ShapedSkeleton,
              rng: np.random.Generator, body_start: Optional[np.ndarray] = None) -> dict:
    """Locomotion and phases: idle, approach walk, reach, hold, [lift], carry / push walk, [put down] (or a short
    settle after a push), release, idle. A carried object is back on the floor by frame PUT_DOWN_BY, so the test
    window holds the whole interaction and its last waypoint is on the floor (mid-carry it would tell the carry
    height). Returns the track arrays (xy, psi, feet, foot_yaw, planted), `phases` {name: (start, end)} and the
    durations used; with `body_start` (see `_approach`) also the object's start yaw jitter `yaw_jitter`, drawn here
    (the approach depends on it) instead of in `_object_path`."""
    carry = program.action == 'carry'
    # short phases: a walk takes at least 38 frames, and approach + reach + lift + carry + put down fit in 118
    reach_n, hold_n = int(rng.integers(7, 10)), int(rng.integers(1, 3))
    lift_n = int(rng.integers(19, 23)) if carry else 0   # independent of the height: timing must not tell it
    reach_at = int(rng.integers(39, 43))                  # independent of the walk to the stance
    jitter = None
    if body_start is None:
        start, psi0 = _approach(obj, program, height, skel, rng)
    else:
        jitter = rng.uniform(-0.2, 0.2) if carry else 0.0
        start, psi0 = _approach(obj, program, height, skel, rng, body_start,
                                carry_offset(obj, program, height, skel)[3] + jitter)
        _check_clearance(obj, program, height, skel, start, jitter)
    to_stance = lambda n: line_path(start, np.zeros(2), psi0, 0.0)  # noqa: E731
    walk_seed = int(rng.integers(2 ** 31))
    approach, speed, length = _walk_fitting(_new_track(skel, start, psi0, 0), to_stance, reach_at - 1,
                                            float(np.linalg.norm(start)), rng.uniform(0.8, 1.0), 1.3, walk_seed)
    if length < np.linalg.norm(start):
        raise SynthesisFailed('the walk to the stance does not fit before the reach')
    # the same walk after an idle that makes the reach start at reach_at, whatever the walk's length
    track = _new_track(skel, start, psi0, reach_at - approach.num_frames)
    track.walk(*to_stance(length), speed=speed, rng=np.random.default_rng(walk_seed))
    t = track.num_frames
    phases = {'reach': (t, t + reach_n)}
    if carry:
        phases['lift'] = (t + reach_n + hold_n, t + reach_n + hold_n + lift_n)
        track.stand(reach_n + hold_n + lift_n - WALK_OVERLAP)
        length, turn, speed = rng.uniform(0.4, 0.8), rng.uniform(-0.6, 0.6), rng.uniform(0.6, 0.75)
        frames = PUT_DOWN_BY - (lift_n - WALK_OVERLAP) - track.num_frames
    else:
        track.stand(reach_n + hold_n)
        length, turn, speed = rng.uniform(0.9, 1.5), rng.uniform(-0.4, 0.4), rng.uniform(0.5, 0.65)
        frames = 2 * WINDOW
    t_move = track.num_frames
    xy0, psi_move = track.xy[-1].copy(), track.psi[-1]
    track, _, length = _walk_fitting(track, lambda n: arc_path(xy0, psi_move, n, turn), frames, length, speed,
                                     1.0, int(rng.integers(2 ** 31)))
    phases['carry' if carry else 'push'] = (t_move, track.num_frames)
    t_put = track.num_frames - WALK_OVERLAP if carry else track.num_frames + int(rng.integers(2, 4))
    if carry:
        phases['put_down'] = (t_put, t_put + lift_n)
    phases['release'] = (t_put + lift_n, t_put + lift_n + reach_n)
    track.stand(phases['release'][1] + int(rng.integers(40, 55)) - track.num_frames)
    xy, psi, feet, foot_yaw, planted = track.arrays()
    plan = dict(xy=xy, psi=psi, feet=feet, foot_yaw=foot_yaw, planted=planted, phases=phases,
                info=dict(carry_length=length, carry_turn=turn, approach=float(np.linalg.norm(start))))
    if jitter is not None:
        plan['yaw_jitter'] = jitter
    return plan


def _check_clearance(obj: ObjectSpec, program: Program, height: str, skel: ShapedSkeleton, start: np.ndarray,
                     jitter: float) -> None:
    """A given start must not walk through the object: the straight walk to the stance (the origin) keeps at
    least 0.9 x the nearer end's distance from the object's centre (plan frame)."""
    off = pick_offset(obj, program, height, skel) if program.action == 'carry' else carry_offset(obj, program, height,
                                                                                                   skel)
    R, t = place(np.zeros((1, 2)), np.zeros(1), (off + np.array([0.0, 0.0, 0.0, jitter]))[None])
    centre = (R[0] @ obj.centre + t[0])[:2]
    start = np.asarray(start, np.float64)
    d = -start
    u = float(np.clip(np.dot(centre - start, d) / max(float(d @ d), 1e-12), 0.0, 1.0))
    closest = float(np.linalg.norm(start + u * d - centre))
    if closest < 0.9 * min(float(np.linalg.norm(centre)), float(np.linalg.norm(start - centre))):
        raise SynthesisFailed(f'the walk from the given start passes {closest:.2f} m from the object centre')


def _object_path(obj: ObjectSpec, program: Program, height: str, skel: ShapedSkeleton, plan: dict,
                 rng: np.random.Generator):
    """Object pose per frame (R (T, 3, 3), t (T, 3)) from body-frame offsets: on the floor at the pick-up
    stance, lifted to the carry offset, carried / pushed with the body, put down and left on the floor."""
    xy, psi, phases = plan['xy'], plan['psi'], plan['phases']
    carry_off = carry_offset(obj, program, height, skel)
    start_off = carry_off.copy()
    if program.action == 'carry':
        start_off = pick_offset(obj, program, height, skel)
        start_off[3] += plan['yaw_jitter'] if 'yaw_jitter' in plan else rng.uniform(-0.2, 0.2)
    off = np.repeat(start_off[None], len(psi), 0)
    move = phases.get('carry') or phases['push']
    frame_xy, frame_psi = xy.copy(), psi.copy()     # the body frame the object is placed in
    frame_xy[:move[0]], frame_psi[:move[0]] = xy[move[0] - 1], psi[move[0] - 1]
    frame_xy[move[1]:], frame_psi[move[1]:] = xy[move[1] - 1], psi[move[1] - 1]
    if program.action == 'carry':
        a, b = phases['lift']
        off[a:b] = _ease_offsets(start_off, carry_off, b - a, vertical_first=True)
        off[b:] = carry_off
        down = carry_off.copy()
        down[2] = 0.0
        a, b = phases['put_down']
        off[a:b] = _ease_offsets(carry_off, down, b - a, vertical_first=False)
        off[b:] = down
    return place(frame_xy, frame_psi, off)


def _grasp_weight(T: int, phases: dict) -> np.ndarray:
    """(T,) 0 = hand free, 1 = hand on its grip: eases in over the reach and out over the release."""
    w = np.zeros(T)
    (r0, r1), (q0, q1) = phases['reach'], phases['release']
    w[r0:r1] = smoothstep(np.arange(1, r1 - r0 + 1) / (r1 - r0))
    w[r1:q0] = 1.0
    w[q0:q1] = 1 - smoothstep(np.arange(1, q1 - q0 + 1) / (q1 - q0))
    return w


def _hand_targets(skel: ShapedSkeleton, plan: dict, shoulders: Tuple[np.ndarray, np.ndarray], w: np.ndarray,
                  used: np.ndarray, grip_h: np.ndarray, grip_p: np.ndarray, grip_f: np.ndarray):
    """Hand-point targets, palm and finger directions (each (T, 2, 3)). A free hand hangs from its shoulder
    (palm to the thigh, fingers down) and swings with the opposite leg; a holding hand blends to its grip."""
    xy, psi, feet = plan['xy'], plan['psi'], plan['feet']
    T = len(psi)
    fwd, rgt = forward_dir(psi), right_dir(psi)
    hands, palms, fingers = np.zeros((T, 2, 3)), np.zeros((T, 2, 3)), np.zeros((T, 2, 3))
    down = np.array([0.0, 0.0, -1.0])
    for k in range(2):
        out_dir = -rgt if k == 0 else rgt
        swing = np.clip(0.35 * ((feet[:, 1 - k, :2] - xy) * fwd[:, :2]).sum(-1), -0.15, 0.15)
        drop = np.sqrt((0.93 * skel.arm_reach) ** 2 - 0.07 ** 2 - swing ** 2)
        free = shoulders[k] + 0.07 * out_dir + swing[:, None] * fwd
        free[:, 2] -= drop
        wk = (w * used[k])[:, None]
        hands[:, k] = free + wk * (grip_h[:, k] - free)
        # the palm turns from the thigh to the grip; when those face opposite ways it turns through 'backwards'
        # (a forearm rotation) instead of through zero
        opposite = np.clip((grip_p[:, k] * out_dir).sum(-1, keepdims=True), 0.0, 1.0)
        palm = -out_dir + wk * (grip_p[:, k] + out_dir) - 2.8 * opposite * wk * (1 - wk) * fwd
        palms[:, k] = palm / np.maximum(np.linalg.norm(palm, axis=-1, keepdims=True), 1e-6)
        # fingers hang down, then turn to the grip's direction (through forward when that points up)
        gf = along_arm(grip_f[:, k], grip_h[:, k], shoulders[k])
        up = np.clip(-(gf @ down), 0.0, 1.0)[:, None]
        fingers[:, k] = down + wk * (gf - down) + 2.8 * up * wk * (1 - wk) * fwd
    return hands, palms, fingers


def synthesize(obj: ObjectSpec, program: Program, height: str, skel: ShapedSkeleton, gender: str,
               betas: np.ndarray, rng: np.random.Generator, start: Optional[np.ndarray] = None) -> SynthSequence:
    """Generate one sequence; raises SynthesisFailed when the sampled plan cannot be realised. `start` (3,): the
    body's first floor pose (x, y, heading) in the frame of the object's start pose, e.g. `end_stance` of the
    previous segment of a chain; None (the default build): drawn about in front of the object."""
    plan = _timeline(obj, program, height, skel, rng, start)
    xy, psi, feet, phases = plan['xy'], plan['psi'], plan['feet'], plan['phases']
    T = len(psi)
    obj_R, obj_t = _object_path(obj, program, height, skel, plan, rng)

    # grips and the bend that reaches them
    w = _grasp_weight(T, phases)
    used = np.array([('left' in program.grips), ('right' in program.grips)])
    grip_h, grip_p, grip_f = grips_world(obj_R, obj_t, program)
    active = (w[:, None] > 0) & used[None]
    s_min, s_max, reachable = bend_needed(skel, xy, psi, grip_h, active, grip_p, grip_f)
    if not reachable[active.any(1)].all():
        raise SynthesisFailed('a grip is out of reach even when bending')
    # smooth, but inside [needed, allowed] at every frame
    lo = s_min * smoothstep(w / 0.8)
    hi = np.maximum(np.where(reachable, s_max, 1.0), lo)
    s = lo
    for radius in (4, 2, 1):
        s = np.clip(mean_filter(s, radius), lo, hi)

    # pelvis: bend crouch, and low enough for both ankles to be reachable
    G0 = torso_globals(psi, s)[0]
    off_hips = np.stack([G0 @ skel.offsets()[1], G0 @ skel.offsets()[2]], 1)
    pel_xy = xy - BEND['back'] * s[:, None] * forward_dir(psi)[:, :2]
    bound = pelvis_height_bound(off_hips, pel_xy, feet, 0.99 * (skel.thigh + skel.shin))
    z = lower_envelope(np.minimum(skel.stand_pelvis * (1 - BEND['crouch_frac'] * s), bound), 3)
    pelvis, _, pos = torso(skel, xy, psi, s, z)
    if program.action == 'carry':          # the carried object rides with the pelvis bob (not the lift crouch)
        a, b = phases['lift'][1], phases['put_down'][0]
        bob = (z - skel.stand_pelvis)[a:b]
        obj_t[a:b, 2] += bob
        grip_h[a:b, :, 2] += bob[:, None]
    hands, palms, fingers = _hand_targets(skel, plan, (pos[16], pos[17]), w, used, grip_h, grip_p, grip_f)

    # pose, then a random world yaw and shift of everything
    yaw_w = rng.uniform(-math.pi, math.pi)
    shift = np.array([*rng.uniform(-1.5, 1.5, 2), 0.0])
    Rw = rot_z(np.array(yaw_w))
    pose = solve_pose(skel, pelvis, psi, s, feet, plan['foot_yaw'], hands, palms, fingers)
    params = to_smplx_params(skel, Rw @ pose['global_rot'], pelvis @ Rw.T + shift)
    joints = joints_from_params(skel, params['root_orient'], params['pose_body'], params['trans'])
    _check_continuity(joints, pose['global_rot'])
    obj_R, obj_t = Rw @ obj_R, obj_t @ Rw.T + shift
    grip_h = grip_h @ Rw.T + shift
    centre = np.einsum('tij,j->ti', obj_R, obj.centre) + obj_t

    # contacts: hands holding (grip reached, before release), feet touching the object (< 5 cm)
    holding = (w[:, None] >= 0.97) & used[None]
    hand_err = np.linalg.norm(joints[:, 22:24] - grip_h, axis=-1)
    if holding.any() and hand_err[holding].max() > 0.01:
        bad = int(np.argmax(np.where(holding, hand_err, 0).max(1)))
        where = [k for k, (a, b) in phases.items() if a <= bad < b]
        raise SynthesisFailed(f'hand IK error {hand_err[holding].max():.3f} m at a holding frame ({bad}, {where})')
    contacts = np.zeros((T, 4), np.float32)
    contacts[:, :2] = holding
    contacts[:, 2:] = _feet_contacts(obj, obj_R, obj_t, joints)

    # the factors must be visible at the depicted frame of the first window, once the hold is established
    depicted = _contact_centre(contacts[:WINDOW])
    factors = dict(grasp_hand=program.hands, carry_height=height, layout=program.layout)
    held_by = phases['lift'][1] if program.action == 'carry' else phases['reach'][1]
    if T < WINDOW + 30:
        raise SynthesisFailed(f'{T} frames: too short for a training window after the test window')
    if depicted < held_by + 3:
        raise SynthesisFailed(f'depicted frame {depicted} comes before the hold is established ({held_by})')
    if recover_factors(joints, centre, contacts, depicted) != factors:
        raise SynthesisFailed('the factors are not recovered at the depicted frame')
    text = TEXTS[program.action][int(rng.integers(len(TEXTS[program.action])))].format(o=obj.name)
    return SynthSequence(
        object_name=obj.name, action=program.action, factors=factors, text=text, gender=gender,
        betas=np.asarray(betas, np.float64), root_orient=params['root_orient'], pose_body=params['pose_body'],
        trans=params['trans'], obj_rot=obj_R, obj_trans=obj_t, contacts=contacts, joints24=joints,
        obj_centre=centre, planted=plan['planted'], grip_targets=grip_h, holding=holding, phases=phases,
        depicted_frame=depicted,
        info=dict(world_yaw=yaw_w, max_bend=float(s.max()), **plan['info'],
                  end_x=float(Rw[0, :2] @ xy[-1] + shift[0]), end_y=float(Rw[1, :2] @ xy[-1] + shift[1]),
                  end_psi=float(psi[-1] + yaw_w),
                  hand_error_max=float(hand_err[holding].max()) if holding.any() else 0.0))


def end_stance(seq: SynthSequence, frame: int = -1) -> np.ndarray:
    """(3,) the body's floor pose at the last frame (x, y, heading) in the frame of the object's pose at `frame`
    (its obj_trans xy and yaw): `synthesize(..., start=end_stance(previous))` with the next object start equal to
    this object pose starts the body where the previous segment left it."""
    R, t = np.asarray(seq.obj_rot[frame], np.float64), np.asarray(seq.obj_trans[frame], np.float64)
    yaw = math.atan2(R[1, 0], R[0, 0])
    c, s = math.cos(yaw), math.sin(yaw)
    rel = np.array([[c, s], [-s, c]]) @ (np.array([seq.info['end_x'], seq.info['end_y']]) - t[:2])
    return np.array([rel[0], rel[1], seq.info['end_psi'] - yaw])


def _check_continuity(joints: np.ndarray, global_rot: np.ndarray) -> None:
    """Reject a motion with a joint faster than MAX_JOINT_STEP or turning more than MAX_ROTATION_STEP between
    frames (an IK elbow / shoulder flip on a fast lift); joints (T, 24, 3), global_rot (T, 22, 3, 3)."""
    step = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max()
    rot = torch.from_numpy(np.asarray(global_rot, np.float64))
    turn = float(geodesic_distance(rot[:-1], rot[1:]).max())
    if step > MAX_JOINT_STEP or turn > MAX_ROTATION_STEP:
        raise SynthesisFailed(f'joint step {step:.3f} m / turn {turn:.2f} rad between frames')


def _new_track(skel: ShapedSkeleton, xy: np.ndarray, psi: float, idle: int) -> Track:
    track = Track(half_width=abs(skel.rest[7, 0] - skel.rest[8, 0]) / 2, ankle_height=skel.ankle_height)
    track.start(xy, psi)
    track.stand(idle)
    return track


def _contact_centre(contacts: np.ndarray) -> int:
    """The evaluation's depicted frame: middle of the longest hand-contact run (docs/conventions.md#depicted-frame)."""
    return contact_centred_frame(contacts)


def _feet_contacts(obj: ObjectSpec, R: np.ndarray, t: np.ndarray, joints: np.ndarray,
                   threshold: float = 0.05) -> np.ndarray:
    """(T, 2) left/right foot (ankle or toe joint) closer than `threshold` to an object vertex."""
    from scipy.spatial import cKDTree
    tree = cKDTree(obj.mesh()[0])
    out = np.zeros((len(t), 2), bool)
    for k, ids in enumerate(((7, 10), (8, 11))):
        local = np.einsum('tji,tkj->tki', R, joints[:, ids] - t[:, None])   # R^T (p - t)
        d, _ = tree.query(local.reshape(-1, 3), distance_upper_bound=threshold)
        out[:, k] = (d.reshape(len(t), -1) < threshold).any(-1)
    return out

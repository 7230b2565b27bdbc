"""Whole-body interaction synthesis for mini-FBM (pure numpy/torch, no file I/O).

Owns `SynthSequence` (one generated sequence: SMPL-X parameters, object poses, contacts, factors) and
`synthesize` (object + program + carry height + body -> sequence): approach walk, reach and grasp (arm IK to
the grips, spine and knee bend for low grips), lift, carry or push along an arc, put down, release.
The plan is built in a frame where the body starts at the origin facing +Y, then turned by a random world yaw
and shifted. Where the object goes and what a body can reach is in `placement`.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from .body import ShapedSkeleton
from .factors import recover_factors
from .gait import Track, arc_path, line_path, lower_envelope, mean_filter, pelvis_height_bound, smoothstep
from .kinematics import (BEND, forward_dir, joints_from_params, right_dir, rot_z, solve_pose, to_smplx_params,
                         torso_globals)
from .objects import ObjectSpec, Program
from .placement import along_arm, bend_needed, carry_offset, grips_world, pick_offset, place, torso

__all__ = ['SynthSequence', 'synthesize', 'SynthesisFailed', 'TEXTS', 'WINDOW', 'FPS']

FPS = 30
WINDOW = 120   # the CHOIS window; the test protocol keeps frames 0..119
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
    object; factors {'grasp_hand', 'carry_height', 'layout'}; phases {name: (start, end)}.
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


def _timeline(program: Program, skel: ShapedSkeleton, rng: np.random.Generator) -> dict:
    """Locomotion and phases: [idle, approach walk] reach, hold, [lift], carry / push walk, settle, [put down],
    release, idle. Returns the track arrays (xy, psi, feet, foot_yaw, planted), `phases` {name: (start, end)}
    and the durations used."""
    carry = program.action == 'carry'
    reach_n, hold_n = int(rng.integers(13, 18)), int(rng.integers(2, 4))
    lift_n = int(rng.integers(18, 25))   # independent of the height: the timing must not reveal a factor
    # the hold must be established well before the depicted frame of the first window (middle of the contact)
    budget = WINDOW - 9 - reach_n - 2 * hold_n - 2 * (lift_n if carry else 0)
    # approach (or not: many FBM takes start beside the object): the pick-up stance has the object in front
    phi = rng.uniform(-0.6, 0.6)
    psi1 = phi + rng.uniform(-0.25, 0.25)
    idle = int(rng.integers(3, 12))
    track = None
    if rng.random() < 0.6:
        track = _new_track(skel, 0.0, min(idle, 6))
        p1 = rng.uniform(0.25, 0.6) * forward_dir(phi)[:2]
        track.walk(*line_path(np.zeros(2), p1, 0.0, psi1), speed=rng.uniform(0.75, 0.95), rng=rng)
        if track.num_frames > budget:
            track = None
    if track is None:
        track = _new_track(skel, psi1, max(1, min(idle, budget - 1)))
    t = track.num_frames
    phases = {'reach': (t, t + reach_n)}
    track.stand(reach_n + hold_n + (lift_n if carry else 0))
    if carry:
        phases['lift'] = (t + reach_n + hold_n, t + reach_n + hold_n + lift_n)
        length, turn, speed = rng.uniform(1.4, 2.6), rng.uniform(-1.2, 1.2), rng.uniform(0.6, 0.75)
    else:
        length, turn, speed = rng.uniform(1.4, 2.4), rng.uniform(-0.5, 0.5), rng.uniform(0.5, 0.65)
    t_move = track.num_frames
    track.walk(*arc_path(track.xy[-1].copy(), track.psi[-1], length, turn), speed=speed, rng=rng)
    phases['carry' if carry else 'push'] = (t_move, track.num_frames)
    settle = int(rng.integers(2, 5))
    put_n = lift_n if carry else 0
    t_put = track.num_frames + settle
    track.stand(settle + put_n + reach_n + int(rng.integers(10, 20)))
    if carry:
        phases['put_down'] = (t_put, t_put + put_n)
    phases['release'] = (t_put + put_n, t_put + put_n + reach_n)
    xy, psi, feet, foot_yaw, planted = track.arrays()
    return dict(xy=xy, psi=psi, feet=feet, foot_yaw=foot_yaw, planted=planted, phases=phases,
                info=dict(carry_length=length, carry_turn=turn))


def _object_path(obj: ObjectSpec, program: Program, height: str, skel: ShapedSkeleton, plan: dict,
                 rng: np.random.Generator):
    """Object pose per frame (R (T, 3, 3), t (T, 3)) from body-frame offsets: on the floor at the pick-up
    stance, lifted to the carry offset, carried / pushed with the body, put down and left on the floor."""
    xy, psi, phases = plan['xy'], plan['psi'], plan['phases']
    carry_off = carry_offset(obj, program, height, skel)
    start_off = carry_off.copy()
    if program.action == 'carry':
        start_off = pick_offset(obj, program)
        start_off[3] += rng.uniform(-0.2, 0.2)
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
        if program.layout == 'front':
            down[:2] = start_off[:2]
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
               betas: np.ndarray, rng: np.random.Generator) -> SynthSequence:
    """Generate one sequence; raises SynthesisFailed when the sampled plan cannot be realised."""
    plan = _timeline(program, skel, rng)
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
    if program.action == 'carry':          # the carried object rides with the pelvis bob
        a, b = phases['carry']
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
    if T < WINDOW + 30 or depicted < held_by + 3:
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
                  hand_error_max=float(hand_err[holding].max()) if holding.any() else 0.0))


def _new_track(skel: ShapedSkeleton, psi: float, idle: int) -> Track:
    track = Track(half_width=abs(skel.rest[7, 0] - skel.rest[8, 0]) / 2, ankle_height=skel.ankle_height)
    track.start(np.zeros(2), psi)
    track.stand(idle)
    return track


def _contact_centre(contacts: np.ndarray) -> int:
    """The evaluation's depicted frame: middle of the longest hand-contact run (DESIGN section 3)."""
    from imagin4d.rendering.depicted_frame import contact_centred_frame
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

"""Walking for mini-FBM: pelvis paths, an alternating footstep schedule with pinned planted feet.

Owns `Track` (per-frame nominal pelvis xy, heading, ankle positions, foot yaw, planted flags), `stand`,
`walk` (append a walk along a path to a track) and the leg-reach bound on the pelvis height.
A planted foot does not move at all (position and yaw are held); a swinging foot follows a smooth arc.
"""
from dataclasses import dataclass, field
from typing import Callable, List, Tuple

import numpy as np

from .kinematics import forward_dir, right_dir

__all__ = ['GAIT', 'Track', 'smoothstep', 'line_path', 'arc_path', 'pelvis_height_bound', 'lower_envelope',
           'mean_filter']

#: Step period (frames per step, alternating feet), swing duration (frames), swing apex (m), landing lead.
GAIT = dict(period=13, swing=10, lift=0.07, lead=8)


def smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def smootherstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u ** 3 * (u * (6 * u - 15) + 10)


def line_path(p0: np.ndarray, p1: np.ndarray, psi0: float, psi1: float):
    """Straight path p0 -> p1 (xy); heading turns from psi0 towards the walking direction, then to psi1.
    Returns (f(u) -> (xy (N, 2), psi (N,)) for u in [0, 1], length)."""
    d = np.asarray(p1, float) - np.asarray(p0, float)
    length = float(np.linalg.norm(d))
    walk_psi = np.arctan2(-d[0], d[1]) if length > 1e-6 else psi1
    walk_psi = psi0 + _wrap(walk_psi - psi0)
    psi1 = walk_psi + _wrap(psi1 - walk_psi)

    def f(u):
        u = np.asarray(u, float)
        psi = psi0 + (walk_psi - psi0) * smoothstep(u / 0.35) + (psi1 - walk_psi) * smoothstep((u - 0.6) / 0.4)
        return np.asarray(p0, float) + u[:, None] * d, psi
    return f, length


def arc_path(p0: np.ndarray, psi0: float, length: float, turn: float):
    """Circular arc of `length` starting at p0 with heading psi0 and turning by `turn` radians (left > 0).
    Returns (f(u) -> (xy (N, 2), psi (N,)), length)."""
    p0 = np.asarray(p0, float)

    def f(u):
        u = np.asarray(u, float)
        s = u * length
        if abs(turn) < 1e-4:
            return p0 + s[:, None] * forward_dir(np.full_like(s, psi0))[:, :2], np.full_like(s, psi0)
        k = turn / length
        psi = psi0 + k * s
        xy = p0 + np.stack([np.cos(psi) - np.cos(psi0), np.sin(psi) - np.sin(psi0)], -1) / k
        return xy, psi
    return f, length


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


@dataclass
class Track:
    """Per-frame locomotion state, appended to phase by phase.

    xy (T, 2) nominal pelvis position on the floor; psi (T,) heading; feet (T, 2, 3) left/right ankle target
    (x, y, z); foot_yaw (T, 2); planted (T, 2) bool. `half_width`: lateral ankle offset from the pelvis.
    """
    half_width: float
    ankle_height: float
    xy: List[np.ndarray] = field(default_factory=list)
    psi: List[float] = field(default_factory=list)
    feet: List[np.ndarray] = field(default_factory=list)
    foot_yaw: List[np.ndarray] = field(default_factory=list)
    planted: List[np.ndarray] = field(default_factory=list)

    def home(self, xy: np.ndarray, psi: float) -> np.ndarray:
        """(2, 3) ankle positions of a neutral stance (left, right)."""
        r = right_dir(psi)
        base = np.array([xy[0], xy[1], self.ankle_height])
        return np.stack([base - self.half_width * r, base + self.half_width * r])

    @property
    def num_frames(self) -> int:
        return len(self.xy)

    def start(self, xy, psi: float) -> None:
        self._append(np.asarray(xy, float), psi, self.home(np.asarray(xy, float), psi), np.array([psi, psi]),
                     np.array([True, True]))

    def _append(self, xy, psi, feet, yaw, planted):
        self.xy.append(np.asarray(xy, float))
        self.psi.append(float(psi))
        self.feet.append(np.asarray(feet, float))
        self.foot_yaw.append(np.asarray(yaw, float))
        self.planted.append(np.asarray(planted, bool))

    def stand(self, frames: int) -> None:
        """Hold the last state for `frames` frames."""
        for _ in range(int(frames)):
            self._append(self.xy[-1], self.psi[-1], self.feet[-1], self.foot_yaw[-1], [True, True])

    def walk(self, path: Callable, length: float, speed: float, rng: np.random.Generator) -> None:
        """Walk along `path` (see line_path / arc_path) at about `speed` m/s, ending in a neutral stance.

        The pelvis eases in and out along the path; feet alternate (the first swing is the foot behind, or a
        random one), each landing at the stance position of the pelvis `lead` frames later; steps continue
        after the pelvis stops until both feet are in the final stance.
        """
        P, Ts, lead = GAIT['period'], GAIT['swing'], GAIT['lead']
        D = max(int(np.ceil(length / speed * 30 * 1.25)), 2 * P)
        u = smootherstep(np.arange(1, D + 1) / D)
        xy_w, psi_w = path(u)
        psi_w = self.psi[-1] + np.concatenate([[0.0], np.cumsum(_wrap(np.diff(np.r_[self.psi[-1], psi_w])))])[1:]
        end_xy, end_psi = xy_w[-1], psi_w[-1]
        final = self.home(end_xy, end_psi)

        def pelvis_at(t):
            return (xy_w[min(t, D - 1)], psi_w[min(t, D - 1)])

        feet = self.feet[-1].copy()
        yaw = self.foot_yaw[-1].copy()
        # first swing: the foot farther behind along the walking direction
        fwd = forward_dir(psi_w[D // 2])[:2]
        rel = (feet[:, :2] - self.xy[-1]) @ fwd
        side = int(np.argmin(rel)) if abs(rel[0] - rel[1]) > 0.02 else int(rng.integers(2))
        swings: List[Tuple[int, int, np.ndarray, float]] = []  # (side, start frame, landing xyz, yaw)
        done = [False, False]
        t0 = 1
        pos = feet.copy()
        for _ in range(200):
            if all(done):
                break
            land_t = t0 + Ts + lead
            p_xy, p_psi = pelvis_at(land_t)
            target = self.home(p_xy, p_psi)[side]
            target_yaw = p_psi
            if land_t >= D - 1:
                target, target_yaw = final[side], end_psi
            moved = np.linalg.norm(target[:2] - pos[side, :2]) > 0.01 or abs(_wrap(target_yaw - yaw[side])) > 0.02
            if moved:
                swings.append((side, t0, target, target_yaw))
                pos[side] = target
                yaw[side] = target_yaw
                t0 += P
            if land_t >= D - 1:
                done[side] = True
            side = 1 - side
        total = max(D, (swings[-1][1] + Ts + 1) if swings else D)
        feet_t = np.repeat(feet[None], total, 0)
        yaw_t = np.repeat(self.foot_yaw[-1][None], total, 0)
        planted_t = np.ones((total, 2), bool)
        for side_i, start, target, target_yaw in swings:
            a = feet_t[start - 1, side_i].copy()
            ay = yaw_t[start - 1, side_i]
            k = np.arange(1, Ts + 1)
            w = smoothstep(k / Ts)
            seg = a + w[:, None] * (target - a)
            seg[:, 2] = self.ankle_height + GAIT['lift'] * np.sin(np.pi * k / Ts) * (k < Ts)
            span = slice(start, start + Ts)
            feet_t[span, side_i] = seg
            yaw_t[span, side_i] = ay + w * _wrap(target_yaw - ay)
            planted_t[start:start + Ts - 1, side_i] = False
            feet_t[start + Ts:, side_i] = target
            yaw_t[start + Ts:, side_i] = target_yaw
        for t in range(total):
            p_xy, p_psi = pelvis_at(t)
            self._append(p_xy, p_psi, feet_t[t], yaw_t[t], planted_t[t])

    def arrays(self):
        return (np.stack(self.xy), np.asarray(self.psi), np.stack(self.feet), np.stack(self.foot_yaw),
                np.stack(self.planted))


def pelvis_height_bound(hip_offset: np.ndarray, pelvis_xy: np.ndarray, ankles: np.ndarray, leg: float) -> np.ndarray:
    """Highest pelvis z (T,) at which both ankles (T, 2, 3) are within `leg` of their hips.
    hip_offset: (T, 2, 3) hip position minus pelvis position (depends on the torso rotation only)."""
    hips_xy = pelvis_xy[:, None, :] + hip_offset[..., :2]
    dxy = np.linalg.norm(hips_xy - ankles[..., :2], axis=-1)
    dz = np.sqrt(np.maximum(leg ** 2 - dxy ** 2, 1e-6))
    return (ankles[..., 2] + dz - hip_offset[..., 2]).min(1)


def lower_envelope(x: np.ndarray, radius: int) -> np.ndarray:
    """A smooth curve <= x everywhere: a running minimum, then a running mean, both of width 2r + 1."""
    return mean_filter(_running(x, radius, np.min), radius)


def _running(x: np.ndarray, r: int, op) -> np.ndarray:
    pad = np.pad(x, r, mode='edge')
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * r + 1)
    return op(win, axis=-1)


def mean_filter(x: np.ndarray, r: int) -> np.ndarray:
    """Running mean of width 2r + 1 (edges padded with the end values)."""
    pad = np.pad(x, r, mode='edge')
    return np.lib.stride_tricks.sliding_window_view(pad, 2 * r + 1).mean(-1)

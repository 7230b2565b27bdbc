"""Per-window canonical frame: body heading, the yaw + xy-shift that canonicalises a window, rigid maps.

Owns the canonicalisation convention of docs/conventions.md (world Z-up): rotate about z so that the
frame-0 body faces `CANONICAL_FORWARD` (+Y) and move the frame-0 root xy to the origin (z unchanged);
the object gets the same rigid transform. Rigid transforms are pairs (R (..., 3, 3), t (..., 3))
acting on row-vector points as `p @ R^T + t`. Pure batched torch.
"""
import math
from typing import NamedTuple, Optional

import torch

from .rotations import rotation_about_z

__all__ = [
    'CANONICAL_FORWARD', 'UP', 'ROOT', 'LEFT_HIP', 'RIGHT_HIP', 'LEFT_SHOULDER', 'RIGHT_SHOULDER',
    'body_heading', 'canonical_transform', 'apply_rigid', 'invert_rigid', 'compose_rigid',
    'CanonicalWindow', 'canonicalize_window',
]

# World frame and joints24 indices (SMPL body joints 0..21, then left/right hand points 22, 23).
CANONICAL_FORWARD = (0.0, 1.0, 0.0)  # +Y: the direction the frame-0 body faces after canonicalisation
UP = (0.0, 0.0, 1.0)
ROOT, LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 1, 2, 16, 17


def body_heading(joints: torch.Tensor, use_shoulders: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """Unit forward direction of a body in the xy-plane.  joints: (..., J, 3) joints24 -> (..., 3), z = 0.

    across = (left hip - right hip) [+ (left shoulder - right shoulder)], projected on the xy-plane;
    forward = normalize(across x up). For a person with up = +z, left = up x forward, hence
    forward = left x up. Shoulders are used when present (J > 17) and `use_shoulders`.
    A degenerate body (vertical across vector) gives the zero vector (and `canonical_transform` then
    an arbitrary but finite yaw).
    """
    across = joints[..., LEFT_HIP, :] - joints[..., RIGHT_HIP, :]
    if use_shoulders and joints.shape[-2] > RIGHT_SHOULDER:
        across = across + joints[..., LEFT_SHOULDER, :] - joints[..., RIGHT_SHOULDER, :]
    ax, ay = across[..., 0], across[..., 1]
    # (ax, ay, 0) x (0, 0, 1) = (ay, -ax, 0)
    forward = torch.stack([ay, -ax, torch.zeros_like(ax)], -1)
    return forward / forward.norm(dim=-1, keepdim=True).clamp_min(eps)


def canonical_transform(joints_frame0: torch.Tensor):
    """Rigid map into the canonical frame of a window.

    joints_frame0: (..., J, 3) frame-0 joints24 -> (R (..., 3, 3), t (..., 3)) with R a rotation about z
    such that `apply_rigid(p, R, t)` maps the frame-0 heading to +Y and the frame-0 root xy to the origin,
    leaving heights unchanged (t_z = 0).
    """
    forward = body_heading(joints_frame0)
    target_yaw = math.atan2(CANONICAL_FORWARD[1], CANONICAL_FORWARD[0])
    yaw = target_yaw - torch.atan2(forward[..., 1], forward[..., 0])
    R = rotation_about_z(yaw)
    root = joints_frame0[..., ROOT, :]
    rotated_root = (R @ root[..., None]).squeeze(-1)
    t = torch.cat([-rotated_root[..., :2], torch.zeros_like(rotated_root[..., 2:])], -1)
    return R, t


def apply_rigid(points: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """points: (..., N, 3), R: (..., 3, 3), t: (..., 3) -> (..., N, 3) = points @ R^T + t.

    The leading dims of R and t broadcast against those of `points` without its N axis (pass a single
    point as (..., 1, 3)).
    """
    return points @ R.transpose(-1, -2) + t[..., None, :]


def invert_rigid(R: torch.Tensor, t: torch.Tensor):
    """Inverse of (R, t): (R^T, -R^T t).  R: (..., 3, 3), t: (..., 3)."""
    R_inv = R.transpose(-1, -2)
    return R_inv, -(R_inv @ t[..., None]).squeeze(-1)


def compose_rigid(R2: torch.Tensor, t2: torch.Tensor, R1: torch.Tensor, t1: torch.Tensor):
    """(R2, t2) after (R1, t1): p -> R2 (R1 p + t1) + t2 = (R2 R1) p + (R2 t1 + t2)."""
    return R2 @ R1, (R2 @ t1[..., None]).squeeze(-1) + t2


class CanonicalWindow(NamedTuple):
    """Output of `canonicalize_window`; all arrays in the canonical frame, plus the map used."""
    joints: torch.Tensor             # (..., T, J, 3)
    obj_trans: torch.Tensor          # (..., T, 3)
    obj_rot: torch.Tensor            # (..., T, 3, 3)
    root_rot: Optional[torch.Tensor]  # (..., T, 3, 3) or (..., T, K, 3, 3); None if not given
    R: torch.Tensor                  # (..., 3, 3) world -> canonical rotation (about z)
    t: torch.Tensor                  # (..., 3) world -> canonical translation (t_z = 0)


def _lift(x: torch.Tensor, extra: int) -> torch.Tensor:
    """Insert `extra` singleton axes before the last two axes of x (for broadcasting R over frames)."""
    for _ in range(extra):
        x = x.unsqueeze(-3)
    return x


def canonicalize_window(joints: torch.Tensor, obj_trans: torch.Tensor, obj_rot: torch.Tensor,
                        root_rot: Optional[torch.Tensor] = None) -> CanonicalWindow:
    """Express a window in its canonical frame (from the frame-0 joints); the object moves with it.

    joints: (..., T, J, 3) joints24 positions; obj_trans: (..., T, 3) object translation (the object's
    vertices are `s * obj_rot @ v + obj_trans`); obj_rot: (..., T, 3, 3); root_rot: optional global
    rotations, (..., T, 3, 3) or (..., T, K, 3, 3). Rotations are left-multiplied by R; positions map
    as p @ R^T + t. The object scale is unaffected. Returns a `CanonicalWindow` (tuple-unpackable).
    """
    R, t = canonical_transform(joints[..., 0, :, :])          # (..., 3, 3), (..., 3)
    R_frames, t_frames = R[..., None, :, :], t[..., None, :]  # broadcast over the T axis
    joints_c = apply_rigid(joints, R_frames, t_frames)
    obj_trans_c = apply_rigid(obj_trans, R, t)
    obj_rot_c = R_frames @ obj_rot
    root_rot_c = None
    if root_rot is not None:
        root_rot_c = _lift(R, root_rot.dim() - R.dim()) @ root_rot
    return CanonicalWindow(joints_c, obj_trans_c, obj_rot_c, root_rot_c, R, t)

"""Cross-fades of motions over an overlap: the seam blend of long generation (pure batched torch).

Owns `crossfade_weights` (the C1 ramp over an overlap), `slerp_rotations` (geodesic interpolation of rotation
matrices) and `crossfade` (positions linearly, rotations by slerp, every field of a motion dict at once).
A ramp whose slope vanishes at both ends keeps positions and velocities continuous where the blend starts and ends:
d/dt [(1 - w) a + w b] = (1 - w) a' + w b' + w' (b - a), and w' = 0 there.
"""
from typing import Dict, Sequence

import torch

from .rotations import axis_angle_to_matrix, matrix_to_axis_angle

__all__ = ['crossfade_weights', 'slerp_rotations', 'crossfade']


def crossfade_weights(length: int, dtype=torch.float64) -> torch.Tensor:
    """(length,) weights of the incoming motion over an overlap of `length` frames: smoothstep 3u^2 - 2u^3 at
    u = (i + 1) / (length + 1), so the frame before the overlap has weight 0 and the frame after it 1."""
    if length < 1:
        raise ValueError(f'a cross-fade needs at least 1 frame, got {length}')
    u = torch.arange(1, length + 1, dtype=dtype) / (length + 1)
    return u * u * (3.0 - 2.0 * u)


def slerp_rotations(R0: torch.Tensor, R1: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Geodesic interpolation R0 exp(w log(R0^T R1)): R0, R1 (T, ..., 3, 3), w (T,) in [0, 1] -> (T, ..., 3, 3).

    w = 0 gives R0, w = 1 gives R1, and the path is the shortest rotation between them (angle <= pi)."""
    rel = matrix_to_axis_angle(R0.transpose(-1, -2) @ R1)
    w = w.to(rel).reshape(-1, *([1] * (rel.dim() - 1)))
    return R0 @ axis_angle_to_matrix(w * rel)


def crossfade(outgoing: Dict[str, torch.Tensor], incoming: Dict[str, torch.Tensor], w: torch.Tensor,
              rotations: Sequence[str] = ()) -> Dict[str, torch.Tensor]:
    """Blend two motions frame by frame over an overlap: {key: (T, ...)} each, w (T,) the incoming weight.

    Keys in `rotations` hold (T, ..., 3, 3) rotation matrices and are slerped; every other key is mixed
    linearly, (1 - w) outgoing + w incoming (positions, translations, contact probabilities)."""
    out = {}
    for key, a in outgoing.items():
        b = incoming[key]
        if a.shape != b.shape:
            raise ValueError(f'crossfade: {key} has shape {tuple(a.shape)} and {tuple(b.shape)}')
        if key in rotations:
            out[key] = slerp_rotations(a, b, w)
        else:
            ww = w.to(a).reshape(-1, *([1] * (a.dim() - 1)))
            out[key] = (1.0 - ww) * a + ww * b
    return out

"""Object placement: rest-pose object vertices -> world, `scale * R @ v + t` (FBM obj_scale/rot/trans).

Owns the single formula that places a rigid, uniformly scaled object (pure batched torch) and the area-uniform
sampling of points on an object's surface.
"""
from typing import Union

import numpy as np
import torch

__all__ = ['place_object', 'sample_surface_points']


def place_object(verts: torch.Tensor, scale: Union[torch.Tensor, float], rot: torch.Tensor,
                 trans: torch.Tensor) -> torch.Tensor:
    """World vertices of a placed object.

    verts: (V, 3) rest-pose vertices shared over the batch, or (..., V, 3);
    scale: float, 0-d tensor, or (...) per-pose scale (a trailing singleton axis (..., 1) is accepted);
    rot: (..., 3, 3); trans: (..., 3)  ->  (..., V, 3) = scale * verts @ rot^T + trans.
    """
    rot = torch.as_tensor(rot)
    trans = torch.as_tensor(trans, dtype=rot.dtype, device=rot.device)
    scale = torch.as_tensor(scale, dtype=rot.dtype, device=rot.device)
    batch_shape = rot.shape[:-2]
    if scale.dim() > len(batch_shape) and scale.shape[-1] == 1:
        scale = scale[..., 0]  # (..., 1) -> (...)
    scale = scale.reshape(*scale.shape, 1, 1)  # broadcast over (V, 3)
    verts = torch.as_tensor(verts, dtype=rot.dtype, device=rot.device)
    return scale * (verts @ rot.transpose(-1, -2)) + trans[..., None, :]


def sample_surface_points(verts: np.ndarray, faces: np.ndarray, num_points: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Area-uniform random points on a triangle mesh.  verts (V, 3), faces (F, 3) -> (num_points, 3).

    Faces are drawn with probability proportional to their area, then a uniform barycentric point on each
    (u, v folded back into the triangle when u + v > 1)."""
    tri = np.asarray(verts, np.float64)[np.asarray(faces, np.int64)]                       # (F, 3, 3)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not np.isfinite(area).all() or area.sum() <= 0:
        raise ValueError('sample_surface_points: the mesh has no area (degenerate or non-finite faces)')
    face = rng.choice(len(tri), size=num_points, p=area / area.sum())
    u, v = rng.random(num_points), rng.random(num_points)
    fold = u + v > 1
    u[fold], v[fold] = 1 - u[fold], 1 - v[fold]
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    return a + u[:, None] * (b - a) + v[:, None] * (c - a)

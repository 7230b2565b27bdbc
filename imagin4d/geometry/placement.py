"""Object placement: rest-pose object vertices -> world, `scale * R @ v + t` (FBM obj_scale/rot/trans).

Owns the single formula that places a rigid, uniformly scaled object; pure batched torch.
"""
from typing import Union

import torch

__all__ = ['place_object']


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

"""Non-image cue encoders: text (base stream), object geometry from BPS (base stream), waypoints (own stream).

Owns `TextCueEncoder`, `ObjectGeometryEncoder` and `WaypointEncoder`; each maps frozen or given features
to the conditioning width C of the denoiser. Registered in MODELS.
"""
from typing import Optional, Sequence

import torch
from einops import rearrange
from torch import nn

from imagin4d.models.layers import Dropout
from imagin4d.registry import MODELS

from .base import CueEncoder

__all__ = ['TextCueEncoder', 'ObjectGeometryEncoder', 'WaypointEncoder']


@MODELS.register_module()
class TextCueEncoder(CueEncoder):
    """Pooled sentence feature (B, Dt) -> base-stream vector (B, C): [LayerNorm] -> Linear -> SiLU -> Linear.

    CHOIS uses one Linear 512 -> 512 on CLIP and adds it to the timestep embedding; here the denoiser adds
    the timestep embedding to the base stream, so this vector plays the same role. The token features
    (B, L, Dt) are not consumed here: `FrameAwareImageEncoder` reads them from the batch for its per-frame
    queries.

    Args:
        text_dim: Dt (384 for MiniLM-L6, 512 for CLIP ViT-B/32).
        out_dim: C.
        hidden_dim: MLP hidden width (default C).
        input_norm: LayerNorm the frozen feature first (True; frozen encoders differ in scale).
        dropout: dropout before the last Linear.

    forward(text_pooled (B, Dt)) -> {'base': (B, C)}.
    """

    streams = ('base',)
    input_keys = ('text_pooled',)

    def __init__(self, text_dim: int = 384, out_dim: int = 128, hidden_dim: Optional[int] = None,
                 input_norm: bool = True, dropout: float = 0.0):
        super().__init__()
        self.out_dim = out_dim
        hidden_dim = hidden_dim or out_dim
        self.net = nn.Sequential(nn.LayerNorm(text_dim) if input_norm else nn.Identity(),
                                 nn.Linear(text_dim, hidden_dim), nn.SiLU(), Dropout(dropout),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, text_pooled: torch.Tensor) -> dict:
        return {'base': self.net(text_pooled)}


@MODELS.register_module()
class ObjectGeometryEncoder(CueEncoder):
    """BPS offsets (B, P, 3) -> flatten (B, 3P) -> MLP -> base-stream vector (B, C).

    With the defaults the MLP is CHOIS's 3072 -> 512 -> ReLU -> 256, followed by ReLU -> Linear(256, C).

    Args:
        num_points: P (1024).
        out_dim: C.
        hidden_dims: widths of the hidden layers ((512, 256), CHOIS).

    forward(bps (B, P, 3) or (B, 3P)) -> {'base': (B, C)}.
    """

    streams = ('base',)
    input_keys = ('bps',)

    def __init__(self, num_points: int = 1024, out_dim: int = 128, hidden_dims: Sequence[int] = (512, 256)):
        super().__init__()
        self.out_dim, self.num_points = out_dim, num_points
        layers, width = [], 3 * num_points
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, bps: torch.Tensor) -> dict:
        if bps.dim() == 3:
            bps = rearrange(bps, 'b p xyz -> b (p xyz)')
        if bps.shape[-1] != 3 * self.num_points:
            raise ValueError(f'bps must be (B, {self.num_points}, 3), got {tuple(bps.shape)}')
        return {'base': self.net(bps)}


@MODELS.register_module()
class WaypointEncoder(CueEncoder):
    """Per-frame waypoint embedding: [mask (D) | mask * values (D)] (B, T, 2D) -> MLP -> (B, T, C).

    The condition is the CHOIS masked copy of the clean (normalised) motion; the mask tells the network which
    zeros are "given as zero" and which are "not given". Values are multiplied by the mask again here, so a
    value outside the mask cannot leak in.

    Args:
        motion_dim: D (220).
        out_dim: C.
        hidden_dim: MLP hidden width (256).
        zero_empty_frames: multiply the embedding by "this frame has any given value" (True). Frames without a
            waypoint (and padded frames, whose mask is all False) then contribute exactly zero, so an all-False
            mask (waypoint condition dropped) is the same as omitting the stream.

    forward(waypoint_mask (B, T, D) bool, waypoint_values (B, T, D)) -> {'waypoint': (B, T, C)}.
    """

    streams = ('waypoint',)
    input_keys = ('waypoint_mask', 'waypoint_values')

    def __init__(self, motion_dim: int = 220, out_dim: int = 128, hidden_dim: int = 256,
                 zero_empty_frames: bool = True):
        super().__init__()
        self.out_dim, self.zero_empty_frames = out_dim, zero_empty_frames
        self.net = nn.Sequential(nn.Linear(2 * motion_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, waypoint_mask: torch.Tensor, waypoint_values: torch.Tensor) -> dict:
        mask = waypoint_mask.to(waypoint_values.dtype)
        out = self.net(torch.cat([mask, waypoint_values * mask], dim=-1))
        if self.zero_empty_frames:
            out = out * waypoint_mask.any(dim=-1, keepdim=True).to(out.dtype)
        return {'waypoint': out}

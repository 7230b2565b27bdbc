"""SilhouetteCueEncoder: the silhouette grid of the reference image -> one vector of the denoiser's base stream.

Owns the small conv net of the cue. Registered in imagin4d's MODELS (plain name) and in this plugin's scoped
MODELS (`silhouette_cue.SilhouetteCueEncoder`). `HOIDiffusion(extra_encoders=dict(silhouette=...))` builds it;
the key 'silhouette' is then the condition source (condition dropout acts on it by that name).
"""
from typing import Optional, Sequence

import torch
from einops import rearrange
from torch import nn

from imagin4d.models.cues.base import CueEncoder
from imagin4d.registry import MODELS as IMAGIN4D_MODELS

from .registry import MODELS, register_everywhere

__all__ = ['SilhouetteCueEncoder']


@register_everywhere(IMAGIN4D_MODELS, MODELS)
class SilhouetteCueEncoder(CueEncoder):
    """Silhouette grid (B, S, S) or (B, Cs, S, S) -> {'base': (B, C)}.

    Strided 3x3 convolutions (each halves the grid) keep where the figure is; the flattened map goes through
    Linear -> SiLU -> Linear to the conditioning width C. The vector is summed with the text and object
    vectors in the 'base' AdaLN stream (one vector per sequence: the cue says where the person and the object
    are in the picture, not when).

    Args:
        grid_size: S (as in `LoadReferenceSilhouette`).
        in_channels: Cs: 1 (coverage; the input may then be (B, S, S)) or 2 (`with_shade=True`).
        out_dim: C, the denoiser width.
        conv_channels: output channels of the strided convolutions.
        hidden_dim: width of the MLP (default C).

    forward(silhouette (B, S, S) | (B, Cs, S, S)) -> {'base': (B, C)}.
    """

    streams = ('base',)
    input_keys = ('silhouette',)

    def __init__(self, grid_size: int = 16, in_channels: int = 1, out_dim: int = 128,
                 conv_channels: Sequence[int] = (16, 32), hidden_dim: Optional[int] = None):
        super().__init__()
        self.grid_size, self.in_channels, self.out_dim = int(grid_size), int(in_channels), int(out_dim)
        layers, channels, side = [], self.in_channels, self.grid_size
        for width in conv_channels:
            layers += [nn.Conv2d(channels, width, kernel_size=3, stride=2, padding=1), nn.SiLU()]
            channels, side = width, (side + 1) // 2
        self.conv = nn.Sequential(*layers)
        hidden_dim = hidden_dim or self.out_dim
        self.mlp = nn.Sequential(nn.Linear(channels * side * side, hidden_dim), nn.SiLU(),
                                 nn.Linear(hidden_dim, self.out_dim))

    def forward(self, silhouette: torch.Tensor) -> dict:
        if silhouette.dim() == 3 and self.in_channels == 1:
            silhouette = silhouette[:, None]
        expected = (self.in_channels, self.grid_size, self.grid_size)
        if silhouette.dim() != 4 or tuple(silhouette.shape[1:]) != expected:
            raise ValueError(f"'silhouette': expected (B, {', '.join(map(str, expected))})"
                             f"{' or (B, S, S)' if self.in_channels == 1 else ''}, got {tuple(silhouette.shape)}; "
                             'match grid_size / in_channels to LoadReferenceSilhouette (with_shade -> 2 channels)')
        features = rearrange(self.conv(silhouette.float()), 'b c h w -> b (c h w)')
        return {'base': self.mlp(features)}

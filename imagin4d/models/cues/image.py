"""Single-vector image cue encoders over frozen backbone features: the "CHOIS+Img" and "uniform" baselines.

Owns `GlobalTokenImageEncoder` (pooled feature -> one token in the base stream) and `UniformImageEncoder`
(a Q-Former summary of the patch grid given identically to every frame), plus `masked_mean`, shared by the
image encoders. Inputs are cached features, never images; a sketch model uses the same classes on the
sketch backbone's features (`image_dim` of that backbone, and `feature_key='sketch'` if the batch names
them `sketch_*`).
"""
from typing import Optional

import torch
from einops import rearrange, repeat
from torch import nn

from imagin4d.models.layers import QFormer
from imagin4d.registry import MODELS

from .base import CueEncoder, resolve_frames

__all__ = ['masked_mean', 'GlobalTokenImageEncoder', 'UniformImageEncoder']


def masked_mean(x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean of x (B, N, C) over N, counting only mask (B, N) True entries -> (B, C)."""
    if mask is None:
        return x.mean(dim=1)
    weights = mask.to(x.dtype)[..., None]
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


@MODELS.register_module()
class GlobalTokenImageEncoder(CueEncoder):
    """One global image token in the base stream (the "CHOIS+Img" baseline).

        token = MLP(LN(pooled)),  pooled = backbone pooled feature (or the masked patch mean)

    Args:
        image_dim: Ci, channels of the frozen features.
        out_dim: C.
        hidden_dim: MLP hidden width (default C).
        pool: 'pooled' uses the backbone's pooled vector (CLS / global average), falling back to the patch
            mean when the batch has none; 'mean' always averages the patch grid.
        feature_key: batch prefix of the features ('image'; 'sketch' for a sketch model that keeps both).

    forward(image_patch (B, N, Ci) | None, image_pooled (B, Ci) | None, image_patch_mask (B, N) | None)
        -> {'base': (B, C)}.
    """

    streams = ('base',)
    input_keys = ('image_patch', 'image_pooled', 'image_patch_mask')
    POOLS = ('pooled', 'mean')

    def __init__(self, image_dim: int = 384, out_dim: int = 128, hidden_dim: Optional[int] = None,
                 pool: str = 'pooled', feature_key: str = 'image'):
        super().__init__()
        if pool not in self.POOLS:
            raise ValueError(f'pool must be one of {self.POOLS}, got {pool!r}')
        self.out_dim, self.pool, self.feature_key, self.image_dim = out_dim, pool, feature_key, image_dim
        hidden_dim = hidden_dim or out_dim
        self.net = nn.Sequential(nn.LayerNorm(image_dim), nn.Linear(image_dim, hidden_dim), nn.SiLU(),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, image_patch: Optional[torch.Tensor] = None, image_pooled: Optional[torch.Tensor] = None,
                image_patch_mask: Optional[torch.Tensor] = None) -> dict:
        if self.pool == 'pooled' and image_pooled is not None:
            pooled = image_pooled
        elif image_patch is not None:
            pooled = masked_mean(image_patch, image_patch_mask)
        else:
            raise ValueError('GlobalTokenImageEncoder needs image_pooled or image_patch')
        return {'base': self.net(pooled)}


@MODELS.register_module()
class UniformImageEncoder(CueEncoder):
    """The same image evidence for every frame (the "uniform" ablation of the frame-aware / windowed designs).

    A Q-Former with `num_queries` learned queries reads the patch grid (B, N, Ci) -> (B, Q, dim). How
    "uniform" reaches the denoiser (`output`):
    - 'stream' (default): the Q tokens are flattened and projected to one per-sequence vector u (B, C), and
      every frame of the spatial-image AdaLN stream gets the same copy: stream[b, t] = u[b] for valid t,
      0 on padded frames. This is SFIE's route with the Gaussian window replaced by a constant 1 (and no
      role supervision), so the two ablate exactly the temporal gating.
    - 'tokens': the Q tokens are projected to C and returned as `frame_tokens` (B, Q, C): the denoiser's last
      layer cross-attends to the same Q image tokens from every frame (the ablation of `FrameAwareImageEncoder`,
      which gives each frame its own token). Pass no frame-token mask to the denoiser for them.

    Args:
        image_dim: Ci.
        out_dim: C.
        dim: Q-Former width (128).
        num_queries: Q (4).
        depth, num_heads, mlp_ratio, dropout: Q-Former settings (2, 4, 4.0, 0.0).
        output: 'stream' or 'tokens' (sets `streams` to ('spatial_image',) or ('frame_tokens',)).
        feature_key: batch prefix of the features ('image').
        attn_backend: dispatch backend ('auto').
        patch_positions: the Q-Former knows where each patch is (`PatchPositionEmbedding`; default True).

    forward(image_patch (B, N, Ci), image_patch_mask (B, N) | None, num_frames T | None,
            frame_mask (B, T) | None) -> {'spatial_image': (B, T, C)} or {'frame_tokens': (B, Q, C)}.
    """

    streams = ('spatial_image',)
    input_keys = ('image_patch', 'image_patch_mask', 'num_frames', 'frame_mask')
    OUTPUTS = ('stream', 'tokens')

    def __init__(self, image_dim: int = 384, out_dim: int = 128, dim: int = 128, num_queries: int = 4,
                 depth: int = 2, num_heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 output: str = 'stream', feature_key: str = 'image', attn_backend: str = 'auto',
                 patch_positions: bool = True):
        super().__init__()
        if output not in self.OUTPUTS:
            raise ValueError(f'output must be one of {self.OUTPUTS}, got {output!r}')
        self.out_dim, self.output, self.feature_key, self.image_dim = out_dim, output, feature_key, image_dim
        self.streams = ('spatial_image',) if output == 'stream' else ('frame_tokens',)
        self.qformer = QFormer(dim, image_dim, num_queries=num_queries, depth=depth, num_heads=num_heads,
                               mlp_ratio=mlp_ratio, dropout=dropout, attn_backend=attn_backend,
                               patch_positions=patch_positions)
        in_proj = dim * num_queries if output == 'stream' else dim
        self.proj = nn.Linear(in_proj, out_dim)

    def forward(self, image_patch: torch.Tensor, image_patch_mask: Optional[torch.Tensor] = None,
                num_frames: Optional[int] = None, frame_mask: Optional[torch.Tensor] = None) -> dict:
        tokens = self.qformer(image_patch, context_mask=image_patch_mask)          # (B, Q, dim)
        if self.output == 'tokens':
            return {'frame_tokens': self.proj(tokens)}
        frames = resolve_frames(num_frames, frame_mask)
        vector = self.proj(rearrange(tokens, 'b q d -> b (q d)'))                    # (B, C)
        stream = repeat(vector, 'b c -> b t c', t=frames)
        if frame_mask is not None:
            stream = stream * frame_mask[..., None].to(stream.dtype)
        return {'spatial_image': stream}

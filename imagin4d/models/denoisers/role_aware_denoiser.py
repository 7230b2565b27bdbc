"""RoleAwareDenoiser: the x0-predicting motion transformer with role-aware AdaLN streams (docs/conventions.md).

Owns the denoiser network: input projection of the noisy motion, frame positions, a stack of AdaLN-Zero
transformer blocks modulated by the sum of the active conditioning streams (+ the timestep embedding), the
final-layer cross-attention to frame tokens, and the output head back to the motion features.
"""
from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from imagin4d.models.layers import (
    AdaLNFinalLayer,
    AdaLNTransformerBlock,
    GatedStream,
    TimestepEmbedding,
    sinusoidal_positions,
)
from imagin4d.registry import MODELS

__all__ = ['RoleAwareDenoiser']


@MODELS.register_module()
class RoleAwareDenoiser(nn.Module):
    """Transformer over T motion tokens that predicts the clean motion x0 (B, T, D) from x_t.

        h_0 = Linear([x_t | input_concat]) + P                       P: frame positions (sinusoidal by default)
        c   = TimestepEmbedding(t) + base + waypoint + spatial_image     (per-sequence terms broadcast over T;
                                                                          absent streams add nothing)
        h_l = AdaLNBlock_l(h_{l-1}, c, key_padding_mask)             l = 1 .. depth - k
        h_l = AdaLNBlock_l(h_{l-1}, c, key_padding_mask, frame_tokens)   the last k = num_cross_attention_layers
        x0  = Linear(modulate(LN(h_depth), c))                        (B, T, D)

    Streams (all optional; any subset): 'base' (B, C) text + object geometry + global image factors (the
    denoiser adds the diffusion timestep to it); 'waypoint' (B, T, C); 'spatial_image' (B, T, C) the SFIE
    window-gated evidence. Every stream may also be given per sequence (B, C) or per frame (B, T, C), or as a
    `GatedStream` (K vectors (B, K, C) gated per frame (B, K, T); SFIE's `spatial_stream='gated'`): with 'separate'
    fusion its modulation is the gated per-sequence projection (an outer product over T), with 'sum' it is
    materialized to (B, T, C) first.
    With `stream_fusion='sum'` (default) every block is modulated by the SUM of the active streams, so a
    stream that is omitted and a stream that is all zeros give the same output; `'separate'` gives each
    stream its own modulation projection (outputs summed; see `AdaLNZero`), which keeps that property.
    Frame tokens (B, M, Cf), e.g. FAIE's μ_t (or an `InterpolatedTokens` standing for them: the lean FAIE's few
    query tokens, projected to keys / values before the interpolation), enter ONLY through the cross-attention of
    the last k blocks;
    without them those blocks skip the cross-attention branch. A sample whose frame-token mask is all False
    gets no cross-attention contribution (per-sample image dropout for classifier-free guidance).

    AdaLN-Zero: every block is the identity at initialisation, and the conditioning receives gradients only
    once the (zero-initialised) modulation weights have moved, i.e. from the second optimiser step on.

    Sizes. Defaults suit the mini CPU configs (width 128, 4 layers, 4 heads, MLP 4x). The CHOIS FBM model
    (Li et al. 2024) is a 4-layer, 4-head post-LN transformer with d_model 512, d_k = d_v = 256 per head, FFN
    hidden 512, dropout 0.1, BPS feature 256, T = 120 at 30 fps (about 2.6M parameters per layer). The
    matching FBM-size setting here is width=512, depth=4, num_heads=4, head_dim=256, mlp_ratio=1.0 (CHOIS's
    FFN) or 4.0 (DiT), dropout=0.1, cond_dim=512; IMAGIN-4D's own sizes are not public.

    Args:
        motion_dim: D of the motion features (220, CHOIS codec).
        width: token width of the transformer.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / width.
        head_dim: per-head width (default width // num_heads).
        dropout: dropout on the branch outputs.
        attn_dropout: dropout on the attention weights.
        cond_dim: C, width of the streams and timestep embedding (default: width).
        stream_names: the AdaLN streams this denoiser accepts (('base', 'waypoint', 'spatial_image')).
        stream_fusion: 'sum' (default; the baselines' configs) or 'separate' (the full model's configs: the
            paper's h = LN(x)(1 + sum_s gamma_s) + sum_s beta_s; the paper leaves the choice open; separate
            streams kept the waypoint errors below no image on mini-FBM, see docs/results/results_mini_fbm.md).
        frame_token_dim: Cf of the frame tokens (default C).
        num_cross_attention_layers: k, how many of the last blocks cross-attend to frame tokens (1: the
            paper's "final-layer cross-attention"; 0 disables frame tokens).
        input_concat_dim: extra per-frame features concatenated to x_t before the input projection (0; e.g.
            220 for CHOIS's masked waypoint copy, or 256 + 220 for CHOIS's BPS feature + masked copy).
        timestep_freq_dim: sinusoidal features of the timestep embedding (64, CHOIS).
        pos_embedding: 'sinusoidal' (fixed, CHOIS), 'learned' (max_frames rows) or 'none'.
        max_frames: rows of the learned position table (120).
        zero_init_output: zero the output Linear (DiT) (False: gradients reach every layer from step one).
        attn_backend: dispatch backend of every attention layer ('auto').

    forward(x_t (B, T, D), timesteps (B,) or scalar, streams {name: (B, C) | (B, T, C) | None} | None,
            frame_tokens (B, M, Cf) | None, frame_token_mask (B, M) bool | None (None: all valid),
            padding_mask (B, T) bool | None (True = valid frame; padded frames are masked as self-attention
            keys), input_concat (B, T, input_concat_dim) | None (zeros when None)) -> x0 (B, T, D).
    """

    POS_EMBEDDINGS = ('sinusoidal', 'learned', 'none')

    def __init__(self, motion_dim: int = 220, width: int = 128, depth: int = 4, num_heads: int = 4,
                 mlp_ratio: float = 4.0, head_dim: Optional[int] = None, dropout: float = 0.0,
                 attn_dropout: float = 0.0, cond_dim: Optional[int] = None,
                 stream_names: Sequence[str] = ('base', 'waypoint', 'spatial_image'), stream_fusion: str = 'sum',
                 frame_token_dim: Optional[int] = None, num_cross_attention_layers: int = 1,
                 input_concat_dim: int = 0, timestep_freq_dim: int = 64, pos_embedding: str = 'sinusoidal',
                 max_frames: int = 120, zero_init_output: bool = False, attn_backend: str = 'auto'):
        super().__init__()
        if pos_embedding not in self.POS_EMBEDDINGS:
            raise ValueError(f'pos_embedding must be one of {self.POS_EMBEDDINGS}, got {pos_embedding!r}')
        if not 0 <= num_cross_attention_layers <= depth:
            raise ValueError(f'num_cross_attention_layers must be in [0, depth={depth}], '
                             f'got {num_cross_attention_layers}')
        cond_dim = cond_dim or width
        self.motion_dim, self.width, self.depth, self.cond_dim = motion_dim, width, depth, cond_dim
        self.stream_names, self.stream_fusion = tuple(stream_names), stream_fusion
        self.num_cross_attention_layers = num_cross_attention_layers
        self.input_concat_dim = input_concat_dim
        self.pos_embedding, self.max_frames = pos_embedding, max_frames

        self.input_proj = nn.Linear(motion_dim + input_concat_dim, width)
        if pos_embedding == 'learned':
            self.pos_table = nn.Parameter(torch.randn(max_frames, width) * 0.02)
        self.timestep_embed = TimestepEmbedding(cond_dim, freq_dim=timestep_freq_dim)
        first_cross = depth - num_cross_attention_layers
        self.blocks = nn.ModuleList([
            AdaLNTransformerBlock(width, num_heads, cond_dim=cond_dim, mlp_ratio=mlp_ratio, head_dim=head_dim,
                                  dropout=dropout, attn_dropout=attn_dropout, cross_attention=i >= first_cross,
                                  context_dim=frame_token_dim or cond_dim, fusion=stream_fusion,
                                  stream_names=self.stream_names, attn_backend=attn_backend)
            for i in range(depth)])
        self.final_layer = AdaLNFinalLayer(width, motion_dim, cond_dim=cond_dim, fusion=stream_fusion,
                                           stream_names=self.stream_names, zero_init=zero_init_output)

    # ------------------------------------------------------------------ conditioning
    def _check_streams(self, streams: Mapping[str, Optional[torch.Tensor]], batch: int, frames: int) -> dict:
        active = {k: v for k, v in (streams or {}).items() if v is not None}
        unknown = set(active) - set(self.stream_names)
        if unknown:
            raise KeyError(f'RoleAwareDenoiser got unknown streams {sorted(unknown)}; it accepts '
                           f'{self.stream_names} (frame tokens go to frame_tokens=...)')
        for name, value in active.items():
            ok = (value.dim() == 2 and value.shape == (batch, self.cond_dim)) or \
                 (value.dim() == 3 and value.shape == (batch, frames, self.cond_dim))
            if not ok:
                raise ValueError(f"stream '{name}' must be ({batch}, {self.cond_dim}) or ({batch}, {frames}, "
                                 f'{self.cond_dim}); got {tuple(value.shape)}')
        return active

    def conditioning(self, timesteps, streams: Optional[Mapping[str, Optional[torch.Tensor]]], batch: int,
                     frames: int):
        """The AdaLN conditioning of every block: (B, 1 | T, C) for 'sum', a {stream: tensor} dict for 'separate'."""
        t_emb = self.timestep_embed(timesteps)
        if t_emb.shape[0] == 1 and batch > 1:
            t_emb = t_emb.expand(batch, -1)
        active = self._check_streams(streams, batch, frames)
        if self.stream_fusion == 'separate':
            cond = dict(active)
            cond['base'] = t_emb + cond['base'] if 'base' in cond else t_emb
            return cond
        cond = t_emb[:, None, :]
        for value in active.values():
            value = value.materialize() if isinstance(value, GatedStream) else value
            cond = cond + (value[:, None, :] if value.dim() == 2 else value)
        return cond

    def positions(self, frames: int, like: torch.Tensor) -> Optional[torch.Tensor]:
        """(T, width) position table, or None."""
        if self.pos_embedding == 'sinusoidal':
            return sinusoidal_positions(frames, self.width, device=like.device).to(like.dtype)
        if self.pos_embedding == 'learned':
            if frames > self.max_frames:
                raise ValueError(f'{frames} frames exceed the learned position table of {self.max_frames}')
            return self.pos_table[:frames]
        return None

    # ------------------------------------------------------------------ forward
    def forward(self, x_t: torch.Tensor, timesteps, streams: Optional[Mapping[str, Optional[torch.Tensor]]] = None,
                frame_tokens: Optional[torch.Tensor] = None, frame_token_mask: Optional[torch.Tensor] = None,
                padding_mask: Optional[torch.Tensor] = None,
                input_concat: Optional[torch.Tensor] = None) -> torch.Tensor:
        batch, frames, dim = x_t.shape
        if dim != self.motion_dim:
            raise ValueError(f'x_t must be (B, T, {self.motion_dim}), got {tuple(x_t.shape)}')
        if frame_tokens is not None and self.num_cross_attention_layers == 0:
            raise ValueError('frame_tokens given but num_cross_attention_layers=0')
        if padding_mask is not None and tuple(padding_mask.shape) != (batch, frames):
            raise ValueError(f'padding_mask must be ({batch}, {frames}) bool, got {tuple(padding_mask.shape)}')
        if self.input_concat_dim:
            if input_concat is None:
                input_concat = x_t.new_zeros(batch, frames, self.input_concat_dim)
            x_t = torch.cat([x_t, input_concat], dim=-1)
        elif input_concat is not None:
            raise ValueError('input_concat given but input_concat_dim=0')

        h = self.input_proj(x_t)
        pos = self.positions(frames, h)
        if pos is not None:
            h = h + pos
        cond = self.conditioning(timesteps, streams, batch, frames)
        for block in self.blocks:
            h = block(h, cond, key_padding_mask=padding_mask,
                      context=frame_tokens if block.cross_attention else None, context_mask=frame_token_mask)
        return self.final_layer(h, cond)

"""Frame-Aware Image Encoder (FAIE): one query per generated frame re-reads the frozen patch grid.

Owns `FrameAwareImageEncoder`: queries built from a frame-index embedding and the text condition attend the
text tokens, then the patch grid (Q-Former blocks), giving per-frame visual tokens μ_t (B, T, C) that the
denoiser reads only through the cross-attention of its last layer (IMAGIN-4D paper; docs/conventions.md).
"""
from typing import Optional, Union

import torch
from torch import nn

from imagin4d.models.layers import FrameIndexEmbedding, InterpolatedTokens, QFormer, QFormerBlock
from imagin4d.registry import MODELS

from .base import CueEncoder, resolve_frames
from .storyboard import as_storyboard, nearest_image

__all__ = ['FrameAwareImageEncoder']


@MODELS.register_module()
class FrameAwareImageEncoder(CueEncoder):
    """Per-frame image tokens μ_t from frame-index + text queries over the patch grid.

        q_t  = E_frame(t) + W_text LN(text_pooled)                 (B, T, dim)   (text term only if given)
        q_t += TextAttn(q_t, text_tokens, text_mask)               (attend_text_tokens, tokens given;
                                                                   a QFormerBlock without self-attention)
        μ_t  = W_out QFormer(patch grid, queries=q, query_mask=frame_mask)        (B, T, C)

    The text lets "approach", "contact" and "release" frames of the described action ask different questions
    of the same image; the frame embedding tells each query where in the window it sits. Padded frames are
    excluded from the queries' self-attention (frame_mask); their own tokens are still computed (from the
    frame index and text only) and the denoiser must mask them as keys (pass frame_mask as its
    frame-token mask).

    Args:
        image_dim: Ci of the patch grid.
        text_dim: Dt of the frozen text features (384 MiniLM, 512 CLIP).
        out_dim: C of μ_t (the denoiser's frame-token width).
        dim: query width (128).
        depth: Q-Former blocks over the patches (2).
        num_heads, mlp_ratio, dropout: attention settings (4, 4.0, 0.0).
        frame_embedding: 'sinusoidal' (any T) or 'learned' (T <= max_frames); see `FrameIndexEmbedding`.
        max_frames: table size of the learned frame embedding (120).
        attend_text_tokens: add the text-token cross-attention step (True).
        query_self_attention: frame queries attend to each other in the Q-Former blocks (True).
        feature_key: batch prefix of the image features ('image').
        attn_backend: dispatch backend ('auto').
        patch_positions: the Q-Former knows where each patch is (`PatchPositionEmbedding`; default True).

    Storyboards (K images, image_patch (B, K, N, Ci) with image_mask (B, K)): each frame reads the image whose
    depicted frame is nearest to it (`image_times` (B, K) from SFIE, else the given `image_frames`, else the
    images spread evenly in order); the frames of one image form one query set (they self-attend among
    themselves) reading that image's patches, one Q-Former pass per image. K = 1 is the single-image path.

    Lean options (issue 23; off by default, so existing checkpoints load strictly and give the same outputs):
        patch_dim: P. When set, the Q-Former reads the patch tokens (B, [K,] N, P) that SFIE's shared
            `PatchProjection` provides (`image_tokens`; SFIE's `patch_dim` must be the same P) instead of projecting
            the Ci-wide grid itself; without them in the batch forward raises. None: the raw grid (default).
        num_frame_queries: Q. When set (and Q < T), Q queries at evenly spaced fractional frames
            τ_j = j (T - 1) / (Q - 1) read the image (and the text), and each frame's token is the linear
            interpolation of its two neighbouring query tokens (`interpolation_matrix` (T, Q), rows summing to 1):
            the Q-Former and text attention cost Q / T of the per-frame queries. A query is valid when the frame
            nearest to it is. The frame tokens are returned factored (`InterpolatedTokens`: the Q tokens and the
            matrix; `.materialize()` gives (B, T, C)), so that the denoiser projects Q tokens to keys and values,
            not T (exact: the rows sum to 1). None: one query per frame (default).

    forward(image_patch (B, N, Ci) | (B, K, N, Ci), text_pooled (B, Dt) | None, text_tokens (B, L, Dt) | None,
            text_mask (B, L) | None, image_patch_mask (B, N) | (B, K, N) | None, num_frames T | None,
            frame_mask (B, T) | None, image_mask (B, K) | None, image_frames (B, K) | None,
            image_times (B, K) | None, image_tokens (B, [K,] N, P) | None)
        -> {'frame_tokens': (B, T, C)} (an `InterpolatedTokens` standing for it with num_frame_queries < T).
    """

    streams = ('frame_tokens',)
    per_frame_tokens = True          # token t belongs to frame t: the model masks padded frames' tokens
    input_keys = ('image_patch', 'text_pooled', 'text_tokens', 'text_mask', 'image_patch_mask', 'num_frames',
                  'frame_mask', 'image_mask', 'image_frames', 'image_times', 'image_tokens')
    storyboard = True

    def __init__(self, image_dim: int = 384, text_dim: int = 384, out_dim: int = 128, dim: int = 128,
                 depth: int = 2, num_heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 frame_embedding: str = 'sinusoidal', max_frames: int = 120, attend_text_tokens: bool = True,
                 query_self_attention: bool = True, feature_key: str = 'image', attn_backend: str = 'auto',
                 patch_positions: bool = True, patch_dim: Optional[int] = None,
                 num_frame_queries: Optional[int] = None):
        super().__init__()
        if num_frame_queries is not None and num_frame_queries < 2:
            raise ValueError(f'num_frame_queries must be >= 2 (or None: one query per frame), got {num_frame_queries}')
        self.patch_dim, self.num_frame_queries = patch_dim, num_frame_queries
        self.out_dim, self.feature_key, self.image_dim = out_dim, feature_key, image_dim
        self.frame_embed = FrameIndexEmbedding(dim, mode=frame_embedding, max_frames=max_frames)
        self.text_proj = nn.Sequential(nn.LayerNorm(text_dim), nn.Linear(text_dim, dim))
        self.attend_text_tokens = attend_text_tokens
        if attend_text_tokens:
            self.text_attn = QFormerBlock(dim, num_heads, context_dim=text_dim, mlp_ratio=mlp_ratio,
                                          dropout=dropout, self_attention=False, attn_backend=attn_backend)
        self.qformer = QFormer(dim, patch_dim or image_dim, num_queries=0, depth=depth, num_heads=num_heads,
                               mlp_ratio=mlp_ratio, dropout=dropout, self_attention=query_self_attention,
                               attn_backend=attn_backend, patch_positions=patch_positions and not patch_dim)
        self.out_proj = nn.Linear(dim, out_dim)

    def query_positions(self, frames: int) -> Optional[torch.Tensor]:
        """(Q,) fractional frames of the queries (`num_frame_queries`), or None: one query per frame."""
        if not self.num_frame_queries or self.num_frame_queries >= frames:
            return None
        return torch.linspace(0.0, frames - 1.0, self.num_frame_queries)

    @staticmethod
    def interpolation_matrix(positions: torch.Tensor, frames: int) -> torch.Tensor:
        """(T, Q) linear interpolation from query tokens at increasing `positions` (Q,) to frames 0..T-1: row t
        holds the weights of the two queries around t (hat functions; each row sums to 1)."""
        t = torch.arange(frames, dtype=torch.float32)
        upper = torch.searchsorted(positions, t, right=True).clamp(1, len(positions) - 1)      # (T,)
        lo, hi = positions[upper - 1], positions[upper]
        frac = ((t - lo) / (hi - lo)).clamp(0.0, 1.0)
        weights = torch.zeros(frames, len(positions))
        weights[torch.arange(frames), upper - 1] = 1.0 - frac
        weights[torch.arange(frames), upper] += frac
        return weights

    def frame_queries(self, batch: int, frames: int, text_pooled: Optional[torch.Tensor] = None,
                      text_tokens: Optional[torch.Tensor] = None, text_mask: Optional[torch.Tensor] = None,
                      positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The queries q (B, T, dim) (or (B, Q, dim) at fractional frames `positions`) before they read the image."""
        embedded = self.frame_embed(frames) if positions is None else self.frame_embed.at(positions)
        queries = embedded[None].expand(batch, -1, -1)
        if text_pooled is not None:
            queries = queries + self.text_proj(text_pooled)[:, None, :]
        if self.attend_text_tokens and text_tokens is not None:
            queries = self.text_attn(queries, text_tokens, context_mask=text_mask)
        return queries

    def forward(self, image_patch: torch.Tensor, text_pooled: Optional[torch.Tensor] = None,
                text_tokens: Optional[torch.Tensor] = None, text_mask: Optional[torch.Tensor] = None,
                image_patch_mask: Optional[torch.Tensor] = None, num_frames: Optional[int] = None,
                frame_mask: Optional[torch.Tensor] = None, image_mask: Optional[torch.Tensor] = None,
                image_frames: Optional[torch.Tensor] = None, image_times: Optional[torch.Tensor] = None,
                image_tokens: Optional[torch.Tensor] = None) -> dict:
        frames = resolve_frames(num_frames, frame_mask)
        if self.patch_dim:
            if image_tokens is None:
                raise ValueError(f"{self.condition_key('image_tokens')} missing: FrameAwareImageEncoder(patch_dim="
                                 f'{self.patch_dim}) reads the patch tokens of SFIE (image_encoder.patch_dim='
                                 f'{self.patch_dim}); set both or neither')
            if image_tokens.shape[-1] != self.patch_dim:
                raise ValueError(f'image_tokens have {image_tokens.shape[-1]} channels, patch_dim is {self.patch_dim}')
            image_patch = image_tokens
        positions = self.query_positions(frames)
        query_mask = frame_mask
        if positions is not None and frame_mask is not None:
            query_mask = frame_mask[:, positions.round().long()]                  # (B, Q) the nearest frame's
        queries = self.frame_queries(image_patch.shape[0], frames, text_pooled, text_tokens, text_mask, positions)
        board = as_storyboard(image_patch, image_patch_mask, image_mask, image_frames, frames)
        if board.patches.shape[1] == 1:                        # one image: every frame reads it (today's path)
            patch_mask = None if board.patch_mask is None else board.patch_mask[:, 0]
            tokens = self.qformer(board.patches[:, 0], context_mask=patch_mask, queries=queries,
                                  query_mask=query_mask)
            return {'frame_tokens': self._to_frames(self.out_proj(tokens), positions, frames)}
        nearest = nearest_image(self._image_times(board, image_times, frames), board.mask, frames,
                                positions)                     # (B, T) or (B, Q)
        valid = query_mask if query_mask is not None else torch.ones_like(nearest, dtype=torch.bool)
        tokens = torch.zeros_like(queries)
        for k in range(board.patches.shape[1]):
            reads = nearest == k                               # the frames nearest in time to image k
            group = valid & reads
            group = torch.where(group.any(dim=1, keepdim=True), group, valid)     # a sample with no such frame
            out = self.qformer(board.patches[:, k], context_mask=None if board.patch_mask is None
                               else board.patch_mask[:, k], queries=queries, query_mask=group)
            tokens = torch.where(reads[..., None], out, tokens)
        return {'frame_tokens': self._to_frames(self.out_proj(tokens), positions, frames)}

    def _to_frames(self, tokens: torch.Tensor, positions: Optional[torch.Tensor],
                   frames: int) -> Union[torch.Tensor, InterpolatedTokens]:
        """(B, Q, C) query tokens -> the (B, T, C) frame tokens: themselves with one query per frame, else kept
        factored as `InterpolatedTokens` (the denoiser's key / value projection then runs on the Q tokens)."""
        if positions is None:
            return tokens
        return InterpolatedTokens(tokens, self.interpolation_matrix(positions, frames).to(tokens.device, tokens.dtype))

    @staticmethod
    def _image_times(board, image_times: Optional[torch.Tensor], frames: int) -> torch.Tensor:
        """(B, K) depicted frame of each image: SFIE's (given or predicted) `image_times`, else the given
        `image_frames`, else the images spread evenly over the window in their order ((k + 0.5) T / K)."""
        if image_times is not None:
            return image_times
        batch, k = board.mask.shape
        count = board.mask.sum(dim=1, keepdim=True).clamp_min(1).float()
        spread = (board.mask.float().cumsum(dim=1) - 0.5) * frames / count
        if board.frames is None:
            return spread
        return torch.where(board.frames >= 0, board.frames.float(), spread)

"""Q-Former: a small set of queries that self-attend, then cross-attend to a frozen patch grid (BLIP-2 style).

Owns `QFormerBlock` (one pre-norm layer: query self-attention -> cross-attention to the context -> MLP,
each residual), `QFormer` (learned or caller-given queries, a stack of blocks, output LayerNorm) and
`PatchProjection` (the frozen patch grid normalised and projected once, for several Q-Formers to read).
All attention goes through the dispatch (`MultiHeadAttention`), with bool key-padding masks True = valid.
"""
from typing import Optional

import torch
from einops import repeat
from torch import nn

from .embeddings import PatchPositionEmbedding
from .transformer import Mlp, MultiHeadAttention

__all__ = ['QFormerBlock', 'QFormer', 'PatchProjection']


class QFormerBlock(nn.Module):
    """One Q-Former layer on queries (B, Q, D) reading a context (B, N, Dc):

        q = q + SelfAttn(LN(q))                       (keys masked by query_mask; skipped if self_attention=False)
        q = q + CrossAttn(LN(q), LN_c(context))       (keys masked by context_mask)
        q = q + MLP(LN(q))

    Args:
        dim: D, query width.
        num_heads: attention heads.
        context_dim: Dc (default D).
        mlp_ratio: MLP hidden width / D.
        head_dim: per-head width (default D // num_heads).
        dropout: dropout on the branch outputs.
        attn_dropout: dropout on the attention weights.
        self_attention: include the query self-attention (True, BLIP-2).
        qkv_bias: bias on the q / kv projections.
        attn_backend: dispatch backend ('auto').

    forward(queries (B, Q, D), context (B, N, Dc), context_mask (B, N) bool | None,
            query_mask (B, Q) bool | None) -> (B, Q, D).
    """

    def __init__(self, dim: int, num_heads: int, context_dim: Optional[int] = None, mlp_ratio: float = 4.0,
                 head_dim: Optional[int] = None, dropout: float = 0.0, attn_dropout: float = 0.0,
                 self_attention: bool = True, qkv_bias: bool = True, attn_backend: str = 'auto'):
        super().__init__()
        context_dim = context_dim or dim
        self.self_attention = self_attention
        if self_attention:
            self.norm_self = nn.LayerNorm(dim)
            self.self_attn = MultiHeadAttention(dim, num_heads, head_dim=head_dim, qkv_bias=qkv_bias,
                                                attn_dropout=attn_dropout, proj_dropout=dropout,
                                                attn_backend=attn_backend)
        self.norm_cross = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim)
        self.cross_attn = MultiHeadAttention(dim, num_heads, context_dim=context_dim, head_dim=head_dim,
                                             qkv_bias=qkv_bias, attn_dropout=attn_dropout, proj_dropout=dropout,
                                             attn_backend=attn_backend)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout=dropout)

    def forward(self, queries: torch.Tensor, context: torch.Tensor, context_mask: Optional[torch.Tensor] = None,
                query_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.self_attention:
            queries = queries + self.self_attn(self.norm_self(queries), key_padding_mask=query_mask)
        queries = queries + self.cross_attn(self.norm_cross(queries), context=self.norm_context(context),
                                            key_padding_mask=context_mask)
        return queries + self.mlp(self.norm_mlp(queries))


class QFormer(nn.Module):
    """Queries reading a patch grid through `depth` `QFormerBlock`s, then a LayerNorm.

    Args:
        dim: D, query width (and output width).
        context_dim: Dc, channels of the patch grid (e.g. 384 for DINOv2 ViT-S/14, 320 for EfficientNet-Lite0).
        num_queries: learned queries (default 1). 0 means the caller always passes its own queries.
        depth: number of blocks (2; the paper does not give it).
        num_heads, mlp_ratio, head_dim, dropout, attn_dropout, self_attention, qkv_bias, attn_backend:
            per block, see `QFormerBlock`.
        patch_positions: add a `PatchPositionEmbedding` of the (square, or `grid_hw`) patch grid to the context
            before the blocks read it (False: the context is an unordered set).
        grid_hw: (H, W) of a non-square patch grid.

    forward(context (B, N, Dc), context_mask (B, N) bool | None, queries (B, Q, D) | None,
            query_mask (B, Q) bool | None) -> (B, Q, D). Given `queries` replace the learned ones.
    """

    def __init__(self, dim: int, context_dim: int, num_queries: int = 1, depth: int = 2, num_heads: int = 4,
                 mlp_ratio: float = 4.0, head_dim: Optional[int] = None, dropout: float = 0.0,
                 attn_dropout: float = 0.0, self_attention: bool = True, qkv_bias: bool = True,
                 attn_backend: str = 'auto', patch_positions: bool = False, grid_hw=None):
        super().__init__()
        self.dim, self.num_queries = dim, num_queries
        self.patch_pos = PatchPositionEmbedding(context_dim, grid_hw=grid_hw) if patch_positions else None
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02) if num_queries > 0 else None
        self.blocks = nn.ModuleList([
            QFormerBlock(dim, num_heads, context_dim=context_dim, mlp_ratio=mlp_ratio, head_dim=head_dim,
                         dropout=dropout, attn_dropout=attn_dropout, self_attention=self_attention,
                         qkv_bias=qkv_bias, attn_backend=attn_backend)
            for _ in range(depth)])
        self.out_norm = nn.LayerNorm(dim)

    def forward(self, context: torch.Tensor, context_mask: Optional[torch.Tensor] = None,
                queries: Optional[torch.Tensor] = None, query_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if queries is None:
            if self.queries is None:
                raise ValueError('QFormer(num_queries=0) needs queries from the caller')
            queries = repeat(self.queries, 'q d -> b q d', b=context.shape[0])
        if self.patch_pos is not None:
            context = context + self.patch_pos(context.shape[1])
        for block in self.blocks:
            queries = block(queries, context, context_mask=context_mask, query_mask=query_mask)
        return self.out_norm(queries)


class PatchProjection(nn.Module):
    """The frozen patch grid, normalised and projected once: (..., N, Ci) -> (..., N, P) patch tokens (issue 23).

        tokens = Linear(LN(patches)) + PatchPositionEmbedding        (LN without affine parameters: an affine LN
                                                                      before a Linear is the same family of maps)

    Several Q-Formers (SFIE's role heads, the frame-aware encoder) then read the P-wide tokens instead of each
    normalising, position-embedding and projecting the Ci-wide grid to its keys and values: the Ci x P projection
    runs once per image, and no gradient flows into the frozen features, so its backward is the weight gradient only.

    Args:
        in_dim: Ci of the frozen grid (1280 for EfficientNet-Lite0).
        out_dim: P, the token width the Q-Formers read (their context_dim).
        patch_positions: add the grid position embedding after the projection (True).
        grid_hw: (H, W) of a non-square grid.
    """

    def __init__(self, in_dim: int, out_dim: int, patch_positions: bool = True, grid_hw=None):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.norm = nn.LayerNorm(in_dim, elementwise_affine=False)
        self.proj = nn.Linear(in_dim, out_dim)
        self.patch_pos = PatchPositionEmbedding(out_dim, grid_hw=grid_hw) if patch_positions else None

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        if patches.shape[-1] != self.in_dim:
            raise ValueError(f'PatchProjection expects {self.in_dim}-channel patches, got {tuple(patches.shape)}')
        tokens = self.proj(self.norm(patches))
        if self.patch_pos is not None:
            tokens = tokens + self.patch_pos(patches.shape[-2])
        return tokens

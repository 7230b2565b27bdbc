"""Transformer building blocks whose attention all goes through `attention_dispatch.attention`.

Owns `MultiHeadAttention` (self- or cross-attention, (B, L, D) in and out, bool key-padding masks),
`Mlp`, `AdaLNTransformerBlock` (AdaLN-Zero modulated self-attention + MLP, optional modulated
cross-attention; the identity at initialisation), `AdaLNFinalLayer` (modulated LayerNorm + Linear) and
`set_attn_backend` (switch the backend of every attention layer of a model at once).
"""
import math
from typing import Optional, Sequence

import torch
from einops import einsum, rearrange
from torch import nn

from .adaln import AdaLNZero, Condition, gated_residual, modulate
from .attention_dispatch import attention, available_backends
from .dropout import Dropout, dropout
from .interpolated_tokens import InterpolatedTokens

__all__ = ['MultiHeadAttention', 'Mlp', 'AdaLNTransformerBlock', 'AdaLNFinalLayer', 'set_attn_backend']


def set_attn_backend(module: nn.Module, backend: str) -> nn.Module:
    """Set `attn_backend` on every submodule that has one ('auto' or a registered backend name); returns module."""
    if backend != 'auto' and backend not in available_backends():
        raise ValueError(f"unknown attention backend {backend!r}; registered: {available_backends()} or 'auto'")
    for sub in module.modules():
        if hasattr(sub, 'attn_backend'):
            sub.attn_backend = backend
    return module


class MultiHeadAttention(nn.Module):
    """Multi-head attention of queries x (B, Lq, D) over a context (B, Lk, Dc) (x itself when None).

    Projections: q = x Wq, (k, v) = context Wkv, heads split with einops, `attention(...)` from the
    dispatch (layout (B, L, H, Dh)), output Linear back to D.

    Args:
        dim: D, query width (and output width).
        num_heads: H.
        context_dim: Dc of the keys / values (default D: self-attention).
        head_dim: Dh (default D // H).
        qkv_bias: bias on the q / kv projections.
        attn_dropout: dropout on the attention weights (training only).
        proj_dropout: dropout on the output.
        attn_backend: 'auto' (default), 'sdpa', 'math', 'xformers' or a plugin backend.

    forward(x, context=None, key_padding_mask=None) -> (B, Lq, D). key_padding_mask: bool (B, Lk), True =
    valid key. A batch row whose keys are ALL masked gets a zero output (the dispatch would return NaN):
    "no valid key" means "nothing to attend to", e.g. a sample whose image condition is dropped. The context may be
    an `InterpolatedTokens` (the lean frame-aware tokens): the key / value projection then runs on its few tokens.

    Few queries over a wide context (16 Lq H <= inner, e.g. the FBM-size SFIE role heads: 2 queries x 4 heads,
    inner 256, reading 1280-channel patches) on the CPU with backend 'auto': the projections are absorbed instead
    of applied to every key (`_absorbed_cross_attention`; the same function up to float rounding, with inner /
    (Lq H) times fewer FLOPs in the projections). Below that ratio the passes over the context cost as much as the
    projection saved (measured: 8x fewer FLOPs ran as fast, 32x fewer 2.7x faster; benchmarks/training_step.py).
    """

    def __init__(self, dim: int, num_heads: int, context_dim: Optional[int] = None, head_dim: Optional[int] = None,
                 qkv_bias: bool = True, attn_dropout: float = 0.0, proj_dropout: float = 0.0,
                 attn_backend: str = 'auto'):
        super().__init__()
        if head_dim is None:
            if dim % num_heads:
                raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads} (or pass head_dim)')
            head_dim = dim // num_heads
        inner = head_dim * num_heads
        self.num_heads, self.head_dim = num_heads, head_dim
        self.attn_dropout, self.attn_backend = attn_dropout, attn_backend
        self.to_q = nn.Linear(dim, inner, bias=qkv_bias)
        self.to_kv = nn.Linear(context_dim or dim, 2 * inner, bias=qkv_bias)
        self.to_out = nn.Linear(inner, dim)
        self.out_dropout = Dropout(proj_dropout)

    def absorbs_projections(self, x: torch.Tensor, context: Optional[torch.Tensor]) -> bool:
        """Whether `forward` takes the absorbed path (see the class docstring) for these inputs."""
        inner = self.num_heads * self.head_dim
        return (context is not None and self.attn_backend == 'auto' and context.device.type == 'cpu'
                and 16 * x.shape[1] * self.num_heads <= inner)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None,
                key_padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        has_key = None
        if key_padding_mask is not None:
            has_key = key_padding_mask.any(dim=1)                        # (B,)
            key_padding_mask = key_padding_mask | ~has_key[:, None]      # keep the kernel NaN-free
        q = rearrange(self.to_q(x), 'b l (h d) -> b l h d', h=self.num_heads)
        if self.absorbs_projections(x, context):
            context = context.materialize() if isinstance(context, InterpolatedTokens) else context
            out = self._absorbed_cross_attention(q, context, key_padding_mask)
        else:
            context = x if context is None else context
            kv = context.affine(self.to_kv) if isinstance(context, InterpolatedTokens) else self.to_kv(context)
            k, v = rearrange(kv, 'b l (two h d) -> two b l h d', two=2, h=self.num_heads).unbind(0)
            out = attention(q, k, v, key_padding_mask=key_padding_mask,
                            dropout_p=self.attn_dropout if self.training else 0.0, backend=self.attn_backend)
        out = self.out_dropout(self.to_out(rearrange(out, 'b l h d -> b l (h d)')))
        if has_key is not None:
            out = out * has_key[:, None, None].to(out.dtype)
        return out

    def _absorbed_cross_attention(self, q: torch.Tensor, context: torch.Tensor,
                                  key_padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """softmax(q k^T / sqrt(Dh)) v with k, v = context W_kv + b_kv never formed: (B, Lq, H, Dh).

        q.k_n = (W_k,h^T q).c_n + q.b_k,h, and sum_n a_n v_n = W_v,h (sum_n a_n c_n) + b_v,h sum_n a_n, so the
        scores and the output cost O(N Dc Lq H) instead of O(N Dc 2 inner) for the key / value projection of
        all N context rows (issue 23: the SFIE heads spent most of their time projecting 196 x 1280 patches
        for 2 queries).
        """
        heads, head_dim = self.num_heads, self.head_dim
        inner = heads * head_dim
        w_k = self.to_kv.weight[:inner].reshape(heads, head_dim, -1)                  # (H, Dh, Dc)
        w_v = self.to_kv.weight[inner:].reshape(heads, head_dim, -1)
        q_c = einsum(q, w_k, 'b l h d, h d c -> b h l c')                            # (B, H, Lq, Dc)
        scores = einsum(q_c, context, 'b h l c, b n c -> b h l n')
        bias = self.to_kv.bias
        if bias is not None:
            scores = scores + einsum(q, bias[:inner].reshape(heads, head_dim), 'b l h d, h d -> b h l')[..., None]
        scores = scores.float() / math.sqrt(head_dim)
        if key_padding_mask is not None:
            scores = scores.masked_fill(~key_padding_mask[:, None, None, :], float('-inf'))
        weights = scores.softmax(dim=-1).to(q.dtype)
        if self.training and self.attn_dropout > 0:
            weights = dropout(weights, self.attn_dropout)
        pooled = einsum(weights, context, 'b h l n, b n c -> b h l c')               # (B, H, Lq, Dc)
        out = einsum(pooled, w_v, 'b h l c, h d c -> b l h d')
        if bias is not None:
            mass = rearrange(weights.sum(dim=-1), 'b h l -> b l h')[..., None]         # 1 without dropout
            out = out + mass * bias[inner:].reshape(heads, head_dim)
        return out


class Mlp(nn.Module):
    """Linear(D, hidden) -> GELU(tanh) -> dropout -> Linear(hidden, D_out) -> dropout, on (..., D)."""

    def __init__(self, dim: int, hidden_dim: int, out_dim: Optional[int] = None, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(approximate='tanh'), Dropout(dropout),
                                 nn.Linear(hidden_dim, out_dim or dim), Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AdaLNTransformerBlock(nn.Module):
    """Pre-norm transformer block over (B, T, D) tokens, every branch AdaLN-Zero modulated and gated.

        h = x + g1 * SelfAttn(modulate(LN(x), b1, s1))                    (keys masked by key_padding_mask)
        h = h + gc * CrossAttn(modulate(LN(h), bc, sc), context)           (only with cross_attention=True
                                                                           and a context given)
        y = h + g2 * MLP(modulate(LN(h), b2, s2))

    The (b, s, g) come from `AdaLNZero(cond)`; all are zero at initialisation, so a fresh block is the
    identity. The LayerNorms have no affine parameters (the modulation replaces them, as in DiT).

    Args:
        dim: D, token width.
        num_heads: attention heads.
        cond_dim: C of the conditioning (default D).
        mlp_ratio: MLP hidden width / D.
        head_dim: per-head width (default D // num_heads).
        dropout: dropout on the branch outputs.
        attn_dropout: dropout on the attention weights.
        cross_attention: add the modulated cross-attention branch.
        context_dim: width of the cross-attention context (default D).
        fusion, stream_names: how several conditioning streams are combined (see `AdaLNZero`).
        qkv_bias: bias on the q / kv projections.
        attn_backend: dispatch backend ('auto').
        norm_eps: LayerNorm epsilon.

    forward(x (B, T, D), cond (B, C) | (B, T, C) | {stream: tensor}, key_padding_mask (B, T) bool or None,
            context (B, M, Dc) or None, context_mask (B, M) bool or None) -> (B, T, D).
    """

    def __init__(self, dim: int, num_heads: int, cond_dim: Optional[int] = None, mlp_ratio: float = 4.0,
                 head_dim: Optional[int] = None, dropout: float = 0.0, attn_dropout: float = 0.0,
                 cross_attention: bool = False, context_dim: Optional[int] = None, fusion: str = 'sum',
                 stream_names: Sequence[str] = (), qkv_bias: bool = True, attn_backend: str = 'auto',
                 norm_eps: float = 1e-6):
        super().__init__()
        self.cross_attention = cross_attention
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=norm_eps)
        self.attn = MultiHeadAttention(dim, num_heads, head_dim=head_dim, qkv_bias=qkv_bias,
                                       attn_dropout=attn_dropout, proj_dropout=dropout, attn_backend=attn_backend)
        if cross_attention:
            self.norm_cross = nn.LayerNorm(dim, elementwise_affine=False, eps=norm_eps)
            self.cross_attn = MultiHeadAttention(dim, num_heads, context_dim=context_dim or dim, head_dim=head_dim,
                                                 qkv_bias=qkv_bias, attn_dropout=attn_dropout,
                                                 proj_dropout=dropout, attn_backend=attn_backend)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout=dropout)
        self.adaln = AdaLNZero(cond_dim or dim, dim, num_chunks=9 if cross_attention else 6, fusion=fusion,
                               stream_names=stream_names)

    def forward(self, x: torch.Tensor, cond: Condition, key_padding_mask: Optional[torch.Tensor] = None,
                context: Optional[torch.Tensor] = None, context_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        chunks = self.adaln(cond)
        shift1, scale1, gate1, shift2, scale2, gate2 = chunks[:6]
        x = gated_residual(x, gate1, self.attn(modulate(self.norm1(x), shift1, scale1),
                                               key_padding_mask=key_padding_mask))
        if self.cross_attention and context is not None:
            shift_c, scale_c, gate_c = chunks[6:]
            x = gated_residual(x, gate_c, self.cross_attn(modulate(self.norm_cross(x), shift_c, scale_c),
                                                          context=context, key_padding_mask=context_mask))
        return gated_residual(x, gate2, self.mlp(modulate(self.norm2(x), shift2, scale2)))


class AdaLNFinalLayer(nn.Module):
    """Output head: modulate(LN(x), shift, scale) -> Linear(D, out_dim); (B, T, D) -> (B, T, out_dim).

    shift / scale come from a zero-initialised `AdaLNZero` (2 chunks), so at init this is Linear(LN(x)).
    zero_init: also zero the output Linear (DiT); off by default so gradients reach the whole network from
    the first step.
    """

    def __init__(self, dim: int, out_dim: int, cond_dim: Optional[int] = None, fusion: str = 'sum',
                 stream_names: Sequence[str] = (), zero_init: bool = False, norm_eps: float = 1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=norm_eps)
        self.adaln = AdaLNZero(cond_dim or dim, dim, num_chunks=2, fusion=fusion, stream_names=stream_names)
        self.linear = nn.Linear(dim, out_dim)
        if zero_init:
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor, cond: Condition) -> torch.Tensor:
        shift, scale = self.adaln(cond)
        return self.linear(modulate(self.norm(x), shift, scale))

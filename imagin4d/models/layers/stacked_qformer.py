"""Several Q-Formers of the same shape run as one batched computation (issue 23: SFIE's four role heads).

Owns `stacked_qformers(qformers, context, context_mask)`: the R `QFormer`s' outputs (R, B, Q, D), computed with their
parameters stacked at run time (`torch.stack`, so every gradient reaches the modules' own parameters; names and
state dicts are unchanged) and the roles folded into the batch: one batched matmul per Linear, one LayerNorm per
LayerNorm, one attention call per attention, instead of R of each. The same function as
`[q(context, context_mask) for q in qformers]` up to float rounding (tests/models/layers/test_stacked_qformer.py).
`can_stack` says when it applies (same shapes and settings, learned queries, no dropout in training, no absorbed
cross-attention); callers loop over the modules otherwise.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .attention_dispatch import attention

__all__ = ['can_stack', 'stacked_qformers', 'stacked_linear']


def stacked_linear(x: torch.Tensor, layers: Sequence[nn.Linear]) -> torch.Tensor:
    """R Linears on their own inputs: x (R, M, Din) -> (R, M, Dout), layer r applied to x[r]."""
    weight = torch.stack([layer.weight for layer in layers]).transpose(1, 2)            # (R, Din, Dout)
    if layers[0].bias is None:
        return torch.bmm(x, weight)
    return torch.baddbmm(torch.stack([layer.bias for layer in layers])[:, None], x, weight)


def _layer_norm(x: torch.Tensor, norms: Sequence[nn.LayerNorm]) -> torch.Tensor:
    """R LayerNorms: x (R, M, D) (or (M, D), shared by all R) -> (R, M, D)."""
    normed = F.layer_norm(x, norms[0].normalized_shape, eps=norms[0].eps)
    if norms[0].weight is None:
        return normed.expand(len(norms), *normed.shape[-2:])
    weight = torch.stack([n.weight for n in norms])[:, None]
    bias = torch.stack([n.bias for n in norms])[:, None]
    return torch.addcmul(bias, normed, weight)


def _attention(layers, x: torch.Tensor, context: torch.Tensor, batch: int,
               key_padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """R `MultiHeadAttention`s (standard path): x (R, B Lq, D), context (R, B Lk, Dc), mask (B, Lk) -> (R, B Lq, D)."""
    first, roles = layers[0], len(layers)
    heads, head_dim = first.num_heads, first.head_dim
    has_key = None
    if key_padding_mask is not None:
        has_key = key_padding_mask.any(dim=1)                                            # (B,)
        key_padding_mask = (key_padding_mask | ~has_key[:, None]).repeat(roles, 1)      # (R B, Lk), role-major
    q = stacked_linear(x, [a.to_q for a in layers]).reshape(roles * batch, -1, heads, head_dim)
    kv = stacked_linear(context, [a.to_kv for a in layers]).reshape(roles * batch, -1, 2, heads, head_dim)
    out = attention(q, kv[:, :, 0], kv[:, :, 1], key_padding_mask=key_padding_mask, backend=first.attn_backend)
    out = stacked_linear(out.reshape(roles, x.shape[1], heads * head_dim), [a.to_out for a in layers])
    if has_key is not None:
        out = (out.reshape(roles, batch, -1, out.shape[-1]) * has_key[None, :, None, None].to(out.dtype)
               ).reshape(out.shape)
    return out


def can_stack(qformers: Sequence[nn.Module], context: torch.Tensor) -> bool:
    """Whether `stacked_qformers` computes these Q-Formers' outputs on `context` (B, N, Dc) and pays off: the same
    shapes and settings, learned queries, no dropout in training (its random draws would differ from the loop's),
    no absorbed cross-attention (`MultiHeadAttention.absorbs_projections`: the FBM-size default heads) and no patch
    positions of their own (each head would read its own copy of the context: the stacked form, correct, measured
    1.5x slower than the loop for the mini default heads over 1280 channels; the lean heads share the projected
    tokens and gain)."""
    first = qformers[0]
    if len(qformers) < 2 or first.queries is None or first.patch_pos is not None \
            or first.training and _has_dropout(first):
        return False
    shapes = [[(n, tuple(p.shape)) for n, p in q.named_parameters()] for q in qformers]
    if any(s != shapes[0] for s in shapes[1:]):
        return False
    for q in qformers:
        for block in q.blocks:
            if block.self_attention != first.blocks[0].self_attention \
                    or block.cross_attn.attn_backend != first.blocks[0].cross_attn.attn_backend:
                return False
    probe = first.queries[None].expand(context.shape[0], -1, -1)
    return not any(block.cross_attn.absorbs_projections(probe, context) for block in first.blocks)


def _has_dropout(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Dropout) and m.p > 0 for m in module.modules()) or any(
        getattr(m, 'attn_dropout', 0.0) > 0 for m in module.modules())


def stacked_qformers(qformers: Sequence[nn.Module], context: torch.Tensor,
                     context_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The learned queries of R same-shaped `QFormer`s reading one context (B, N, Dc) -> (R, B, Q, D).

    Each Q-Former adds its own patch positions (if it has them) and its own context LayerNorm, as in its forward;
    context_mask (B, N) bool, True = valid. Use `can_stack` first.
    """
    roles, first = len(qformers), qformers[0]
    batch, patches = context.shape[:2]
    num_queries, dim = first.queries.shape
    if first.patch_pos is not None:                                                   # (R, B, N, Dc)
        positions = torch.stack([q.patch_pos(patches) for q in qformers])
        context = context[None] + positions[:, None]
    context = context.reshape(-1, batch * patches, context.shape[-1])                 # (R | 1, B N, Dc)
    queries = torch.stack([q.queries for q in qformers])                              # (R, Q, D)
    queries = queries[:, None].expand(roles, batch, num_queries, dim).reshape(roles, batch * num_queries, dim)
    for depth, block in enumerate(first.blocks):
        blocks = [q.blocks[depth] for q in qformers]
        if block.self_attention:
            queries = queries + _self_attention(blocks, queries, batch)
        normed_context = _layer_norm(context, [b.norm_context for b in blocks])      # (R, B N, Dc)
        queries = queries + _attention([b.cross_attn for b in blocks], _layer_norm(queries, [
            b.norm_cross for b in blocks]), normed_context, batch, context_mask)
        queries = queries + _mlp([b.mlp for b in blocks], _layer_norm(queries, [b.norm_mlp for b in blocks]))
    out = _layer_norm(queries, [q.out_norm for q in qformers])
    return out.reshape(roles, batch, num_queries, dim)


def _self_attention(blocks, queries: torch.Tensor, batch: int) -> torch.Tensor:
    normed = _layer_norm(queries, [b.norm_self for b in blocks])
    return _attention([b.self_attn for b in blocks], normed, normed, batch, None)


def _mlp(mlps, x: torch.Tensor) -> torch.Tensor:
    """R `Mlp`s (Linear -> GELU(tanh) -> Linear; dropout off): (R, M, D) -> (R, M, D)."""
    hidden = F.gelu(stacked_linear(x, [m.net[0] for m in mlps]), approximate='tanh')
    return stacked_linear(hidden, [m.net[3] for m in mlps])

"""R Q-Formers with the same shapes run as one: stacked parameters, batched matmuls, one shared context (issue 23).

Owns `StackedLinear` (R Linear layers, (R, ..., In) -> (R, ..., Out) in one batched matmul), `StackedLayerNorm`
and `StackedQFormer`, built from R `QFormer`s (their weights copied, so a model that builds the R heads first and
stacks them starts from exactly the same values) and computing the same function: out[r] = QFormer_r(context).

Why: SFIE's four role heads read the same patch tokens with the same shapes, two queries each. Run one after
another, each head projects all N patch tokens to keys and values for its two queries (at the mini size most of
the heads' time), and every layer is four small kernels. Stacked, the query-side layers are one batched matmul
over the R heads, and the cross-attention never forms keys or values: each head's affine context LayerNorm is
folded into its key / value projection,

    k_r = (n(c) * g_r + b_r) W_r^T + β_r = n(c) (W_r diag(g_r))^T + (W_r b_r + β_r),

and the projections are absorbed into the few queries (`StackedQFormerBlock._cross_attend`), so the R Q H query
rows of a sample score the shared normalised context n(c) (B, N, Dc) in one matmul and pool it in another. The
same function as the R heads up to float rounding (tests compare outputs and gradients with the separate heads).
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from .attention_dispatch import attention
from .dropout import dropout
from .qformer import QFormer, QFormerBlock

__all__ = ['StackedLinear', 'StackedLayerNorm', 'StackedQFormer']


def _stack(tensors: Sequence[torch.Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach().clone() for t in tensors]))


class StackedLinear(nn.Module):
    """R Linear layers, each applied to its own input: x (R, ..., In) -> (R, ..., Out); weight (R, Out, In)."""

    def __init__(self, linears: Sequence[nn.Linear]):
        super().__init__()
        self.weight = _stack([layer.weight for layer in linears])
        self.bias = _stack([layer.bias for layer in linears]) if linears[0].bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stacks, middle = x.shape[0], x.shape[1:-1]
        flat = x.reshape(stacks, -1, x.shape[-1])
        weight_t = self.weight.transpose(1, 2)
        out = torch.bmm(flat, weight_t) if self.bias is None else torch.baddbmm(self.bias[:, None], flat, weight_t)
        return out.reshape(stacks, *middle, out.shape[-1])


class StackedLayerNorm(nn.Module):
    """R affine LayerNorms over the last dim: x (R, ..., D) -> (R, ..., D); weight / bias (R, D)."""

    def __init__(self, norms: Sequence[nn.LayerNorm]):
        super().__init__()
        self.eps = norms[0].eps
        self.weight = _stack([norm.weight for norm in norms])
        self.bias = _stack([norm.bias for norm in norms])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)             # (R, 1, ..., 1, D)
        normalised = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return torch.addcmul(self.bias.reshape(shape), normalised, self.weight.reshape(shape))


def _check_alike(blocks: Sequence[QFormerBlock]):
    first = {name: param.shape for name, param in blocks[0].named_parameters()}
    for block in blocks[1:]:
        shapes = {name: param.shape for name, param in block.named_parameters()}
        differ = [name for name in {**first, **shapes} if first.get(name) != shapes.get(name)]
        if differ:
            raise ValueError(f'StackedQFormer needs Q-Formers of the same shapes; parameter {differ[0]!r} differs')
    for block in blocks:
        for attn in ([block.self_attn] if block.self_attention else []) + [block.cross_attn]:
            if attn.to_kv.bias is None or attn.to_q.bias is None:
                raise ValueError('StackedQFormer needs qkv_bias=True')


class StackedQFormerBlock(nn.Module):
    """R `QFormerBlock`s on queries (R, B, Q, D) reading one context (B, N, Dc); see the module docstring."""

    def __init__(self, blocks: Sequence[QFormerBlock]):
        super().__init__()
        _check_alike(blocks)
        first = blocks[0]
        self.self_attention = first.self_attention
        self.num_heads, self.head_dim = first.cross_attn.num_heads, first.cross_attn.head_dim
        self.attn_dropout, self.attn_backend = first.cross_attn.attn_dropout, first.cross_attn.attn_backend
        self.proj_dropout = first.cross_attn.out_dropout.p
        self.mlp_dropout = first.mlp.net[2].p
        if self.self_attention:
            self.norm_self = StackedLayerNorm([b.norm_self for b in blocks])
            self.self_q = StackedLinear([b.self_attn.to_q for b in blocks])
            self.self_kv = StackedLinear([b.self_attn.to_kv for b in blocks])
            self.self_out = StackedLinear([b.self_attn.to_out for b in blocks])
        self.norm_cross = StackedLayerNorm([b.norm_cross for b in blocks])
        self.norm_context = StackedLayerNorm([b.norm_context for b in blocks])
        self.cross_q = StackedLinear([b.cross_attn.to_q for b in blocks])
        self.cross_kv = StackedLinear([b.cross_attn.to_kv for b in blocks])
        self.cross_out = StackedLinear([b.cross_attn.to_out for b in blocks])
        self.norm_mlp = StackedLayerNorm([b.norm_mlp for b in blocks])
        self.fc1 = StackedLinear([b.mlp.net[0] for b in blocks])
        self.fc2 = StackedLinear([b.mlp.net[3] for b in blocks])

    def _self_attend(self, queries: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Every stack's query self-attention through the dispatch: (R, B, Q, D) -> (R, B, Q, D) (the branch, before
        the residual). As `MultiHeadAttention`: a row whose keys are all masked gets a zero output."""
        stacks, heads = queries.shape[0], self.num_heads
        h = self.norm_self(queries)
        q = rearrange(self.self_q(h), 'r b l (h d) -> (r b) l h d', h=heads)
        k, v = rearrange(self.self_kv(h), 'r b l (two h d) -> two (r b) l h d', two=2, h=heads).unbind(0)
        has_key = None
        if mask is not None:
            has_key = mask.any(dim=1)                                                  # (B,)
            mask = (mask | ~has_key[:, None]).repeat(stacks, 1)                        # (R B, Lk)
        out = attention(q, k, v, key_padding_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0,
                        backend=self.attn_backend)
        out = dropout(self.self_out(rearrange(out, '(r b) l h d -> r b l (h d)', r=stacks)),
                      self.proj_dropout if self.training else 0.0, self.training)
        return out if has_key is None else out * has_key[None, :, None, None].to(out.dtype)

    def _folded_context_projection(self):
        """Each stack's key / value projection with its context LayerNorm's affine folded in (module docstring):
        weights (R, H, Dh, Dc) for keys and values, biases (R, H, Dh)."""
        weight, bias = self.cross_kv.weight, self.cross_kv.bias                       # (R, 2 inner, Dc), (R, 2 inner)
        folded_w = weight * self.norm_context.weight[:, None, :]
        folded_b = torch.einsum('roc,rc->ro', weight, self.norm_context.bias) + bias
        w_k, w_v = rearrange(folded_w, 'r (two h d) c -> two r h d c', two=2, h=self.num_heads).unbind(0)
        b_k, b_v = rearrange(folded_b, 'r (two h d) -> two r h d', two=2, h=self.num_heads).unbind(0)
        return w_k, w_v, b_k, b_v

    def _cross_attend(self, queries: torch.Tensor, context: torch.Tensor,
                      mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Every stack's cross-attention to the shared context, projections absorbed: (R, B, Q, D) -> (R, B, Q, D).

        With n = LN(context) (B, N, Dc) (no affine) and the folded projections, q.k_n = (W_k,h^T q).n_n + q.b_k,h and
        sum_n a_n v_n = W_v,h (sum_n a_n n_n) + b_v,h sum_n a_n: the R Q H query rows of a sample score all N
        patches in one matmul, and no key or value of the N patches is ever formed (the queries are few: 2 per head
        and role, so this is the cheaper order; the same function as `MultiHeadAttention` up to rounding). A row
        whose keys are all masked gets a zero output (after the out projection)."""
        stacks, heads, head_dim = queries.shape[0], self.num_heads, self.head_dim
        w_k, w_v, b_k, b_v = self._folded_context_projection()
        q = rearrange(self.cross_q(self.norm_cross(queries)), 'r b l (h d) -> r b l h d', h=heads)
        normalised = F.layer_norm(context, context.shape[-1:], eps=self.norm_context.eps)      # (B, N, Dc)
        q_c = rearrange(torch.einsum('rblhd,rhdc->brlhc', q, w_k), 'b r l h c -> b (r l h) c')
        scores = torch.bmm(q_c, normalised.transpose(1, 2))                                  # (B, R Q H, N)
        scores = scores + rearrange(torch.einsum('rblhd,rhd->brlh', q, b_k), 'b r l h -> b (r l h)')[..., None]
        scores = scores.float() / head_dim ** 0.5
        has_key = None
        if mask is not None:
            has_key = mask.any(dim=1)                                                      # (B,)
            scores = scores.masked_fill(~(mask | ~has_key[:, None])[:, None, :], float('-inf'))
        weights = scores.softmax(dim=-1).to(q.dtype)
        if self.training and self.attn_dropout > 0:
            weights = dropout(weights, p=self.attn_dropout)
        pooled = rearrange(torch.bmm(weights, normalised), 'b (r l h) c -> r b l h c', r=stacks, h=heads)
        out = torch.einsum('rblhc,rhdc->rblhd', pooled, w_v)
        mass = rearrange(weights.sum(dim=-1), 'b (r l h) -> r b l h', r=stacks, h=heads)[..., None]
        out = rearrange(out + mass * b_v[:, None, None], 'r b l h d -> r b l (h d)')
        out = dropout(self.cross_out(out), self.proj_dropout if self.training else 0.0, self.training)
        return out if has_key is None else out * has_key[None, :, None, None].to(out.dtype)

    def forward(self, queries: torch.Tensor, context: torch.Tensor, context_mask: Optional[torch.Tensor] = None,
                query_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.self_attention:
            queries = queries + self._self_attend(queries, query_mask)
        queries = queries + self._cross_attend(queries, context, context_mask)
        drop = self.mlp_dropout if self.training else 0.0
        hidden = dropout(F.gelu(self.fc1(self.norm_mlp(queries)), approximate='tanh'), drop, self.training)
        return queries + dropout(self.fc2(hidden), drop, self.training)


class StackedQFormer(nn.Module):
    """R `QFormer`s with learned queries and no patch positions of their own, as one module.

    Built from the R Q-Formers (`StackedQFormer(qformers)`; their current weights are copied). With dropout the
    random masks are drawn for the stack at once, so they differ from the unstacked heads' draws.

    forward(context (B, N, Dc), context_mask (B, N) bool | None) -> (R, B, Q, D): out[r] = qformers[r](context).
    """

    def __init__(self, qformers: Sequence[QFormer]):
        super().__init__()
        if not qformers:
            raise ValueError('StackedQFormer needs at least one QFormer')
        for qformer in qformers:
            if qformer.queries is None:
                raise ValueError('StackedQFormer needs learned queries (num_queries > 0)')
            if qformer.patch_pos is not None:
                raise ValueError('StackedQFormer reads one shared context: the Q-Formers must not add their own '
                                 'patch positions (give them projected tokens, e.g. PatchProjection)')
            if len(qformer.blocks) != len(qformers[0].blocks) or qformer.queries.shape != qformers[0].queries.shape:
                raise ValueError('StackedQFormer needs Q-Formers of the same depth and queries')
        self.queries = _stack([q.queries for q in qformers])                                  # (R, Q, D)
        self.blocks = nn.ModuleList([StackedQFormerBlock([q.blocks[i] for q in qformers])
                                     for i in range(len(qformers[0].blocks))])
        self.out_norm = StackedLayerNorm([q.out_norm for q in qformers])

    def forward(self, context: torch.Tensor, context_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        queries = repeat(self.queries, 'r q d -> r b q d', b=context.shape[0])
        for block in self.blocks:
            queries = block(queries, context, context_mask=context_mask)
        return self.out_norm(queries)

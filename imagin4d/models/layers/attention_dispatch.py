"""Attention dispatch: one function, `attention(q, k, v, ...)`, over registered backends.

Canonical layout is (B, L, H, D) for q, k and v (xformers' BMHK). `key_padding_mask` is a bool (B, Lk) tensor,
True where a key is valid (padding positions are False). Backends register in ATTENTION_BACKENDS with their
constraints; `backend='auto'` picks the first registered backend whose constraints accept the inputs, in
priority order (xformers on CUDA when it imports, then sdpa). Asking explicitly for a backend whose
constraints fail raises a ValueError that says which constraint failed.
"""
import contextlib
import functools
import math
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from einops import rearrange

from imagin4d.registry import ATTENTION_BACKENDS
from imagin4d.utils.compat import sdpa_dtype

from .dropout import dropout

Constraint = Callable[..., Tuple[bool, str]]


class AttentionBackend:
    """A registered attention implementation: `forward` plus the constraints under which it runs.

    Subclasses implement `forward(q, k, v, key_padding_mask, dropout_p)` on (B, L, H, D) tensors and list
    `constraints`: callables `(q, k, v, key_padding_mask) -> (ok, reason)`. `priority` orders `auto`.
    """
    priority = 0
    constraints: Sequence[Constraint] = ()

    def check(self, q, k, v, key_padding_mask) -> Tuple[bool, str]:
        for constraint in self.constraints:
            ok, reason = constraint(q, k, v, key_padding_mask)
            if not ok:
                return False, reason
        return True, ''

    def forward(self, q, k, v, key_padding_mask, dropout_p):
        raise NotImplementedError


def _same_shape_rules(q, k, v, key_padding_mask):
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        return False, f'q, k, v must be (B, L, H, D); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}'
    if k.shape[:3] != v.shape[:3] or q.shape[0] != k.shape[0] or q.shape[2] != k.shape[2] \
            or q.shape[3] != k.shape[3]:
        return False, f'incompatible shapes q{tuple(q.shape)} k{tuple(k.shape)} v{tuple(v.shape)}'
    if key_padding_mask is not None and (key_padding_mask.dtype != torch.bool
                                         or tuple(key_padding_mask.shape) != (k.shape[0], k.shape[1])):
        return False, (f'key_padding_mask must be bool (B, Lk) = {(k.shape[0], k.shape[1])}; got '
                       f'{key_padding_mask.dtype} {tuple(key_padding_mask.shape)}')
    return True, ''


@ATTENTION_BACKENDS.register_module(name='math')
class MathAttention(AttentionBackend):
    """Reference implementation: explicit softmax(q k^T / sqrt(D)) v, computed in float32."""
    priority = -100
    constraints = (_same_shape_rules,)

    def forward(self, q, k, v, key_padding_mask, dropout_p):
        scores = torch.einsum('bqhd,bkhd->bhqk', q.float(), k.float()) / math.sqrt(q.shape[-1])
        if key_padding_mask is not None:
            scores = scores.masked_fill(~key_padding_mask[:, None, None, :], float('-inf'))
        weights = scores.softmax(dim=-1)
        if dropout_p > 0:
            weights = dropout(weights, dropout_p)
        return torch.einsum('bhqk,bkhd->bqhd', weights, v.float()).to(q.dtype)


@ATTENTION_BACKENDS.register_module(name='sdpa')
class SDPAAttention(AttentionBackend):
    """torch.nn.functional.scaled_dot_product_attention (flash / memory-efficient / cuDNN kernels on GPU). On the CPU,
    bf16 / fp16 inputs (autocast training) are computed in fp32 and the output cast back (`compat.sdpa_dtype`)."""
    priority = 0
    constraints = (_same_shape_rules,)

    def forward(self, q, k, v, key_padding_mask, dropout_p):
        mask = None if key_padding_mask is None else key_padding_mask[:, None, None, :]
        dtype = sdpa_dtype(q)
        with torch.autocast(q.device.type, enabled=False) if dtype != q.dtype else contextlib.nullcontext():
            out = F.scaled_dot_product_attention(
                rearrange(q.to(dtype), 'b l h d -> b h l d'), rearrange(k.to(dtype), 'b l h d -> b h l d'),
                rearrange(v.to(dtype), 'b l h d -> b h l d'), attn_mask=mask, dropout_p=dropout_p)
        return rearrange(out.to(q.dtype), 'b h l d -> b l h d')


@functools.lru_cache(maxsize=1)
def _xformers_ops():
    """Import xformers.ops lazily (CPU machines never print its extension warning); None if unavailable."""
    try:
        import xformers.ops as xops
    except Exception:  # noqa: BLE001 - any import failure means the backend is unavailable
        return None
    return xops


def _on_cuda_with_xformers(q, k, v, key_padding_mask):
    if not q.is_cuda:
        return False, 'xformers runs only on CUDA tensors (got device %s)' % q.device
    if _xformers_ops() is None:
        return False, 'xformers is not installed or failed to import (pip install -r requirements/optional.txt)'
    if q.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        return False, f'xformers does not support dtype {q.dtype}'
    return True, ''


@ATTENTION_BACKENDS.register_module(name='xformers')
class XFormersAttention(AttentionBackend):
    """xformers.ops.memory_efficient_attention (CUDA only). Padding masks become an additive bias."""
    priority = 10
    constraints = (_same_shape_rules, _on_cuda_with_xformers)

    def forward(self, q, k, v, key_padding_mask, dropout_p):
        xops = _xformers_ops()
        bias = None
        if key_padding_mask is not None:
            batch, lk, heads, lq = k.shape[0], k.shape[1], q.shape[2], q.shape[1]
            # xformers wants the bias' last dim padded to a multiple of 8 in memory (facebookresearch/xformers#813).
            padded = (lk + 7) // 8 * 8
            storage = q.new_zeros(batch, heads, lq, padded)
            bias = storage[..., :lk]
            bias.masked_fill_(~key_padding_mask[:, None, None, :], float('-inf'))
        return xops.memory_efficient_attention(q, k, v, attn_bias=bias, p=dropout_p)


_BACKENDS = {}


def get_backend(name: str) -> AttentionBackend:
    """The backend instance registered under `name` (instances are cached)."""
    if name not in _BACKENDS:
        _BACKENDS[name] = ATTENTION_BACKENDS.build(dict(type=name))
    return _BACKENDS[name]


def available_backends() -> list:
    """Registered backend names, highest `auto` priority first."""
    ATTENTION_BACKENDS.import_from_location()
    names = list(ATTENTION_BACKENDS.module_dict)
    return sorted(names, key=lambda n: -get_backend(n).priority)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              key_padding_mask: Optional[torch.Tensor] = None, dropout_p: float = 0.0,
              backend: str = 'sdpa') -> torch.Tensor:
    """Multi-head attention of q (B, Lq, H, D) over k, v (B, Lk, H, D) -> (B, Lq, H, D).

    key_padding_mask: bool (B, Lk), True for keys to attend to. A query whose keys are all masked gets NaN
    from every backend (callers must not produce such rows). backend: a registered name or 'auto'.
    """
    if backend == 'auto':
        for name in available_backends():
            impl = get_backend(name)
            if name != 'math' and impl.check(q, k, v, key_padding_mask)[0]:
                return impl.forward(q, k, v, key_padding_mask, dropout_p)
        backend = 'math'
    impl = get_backend(backend)
    ok, reason = impl.check(q, k, v, key_padding_mask)
    if not ok:
        raise ValueError(f"attention backend '{backend}' cannot run these inputs: {reason}")
    return impl.forward(q, k, v, key_padding_mask, dropout_p)

"""DINOv2 ViT backbone (frozen), weights from a local checkpoint file the user supplies.

Owns a self-contained ViT with the parameter layout of the official DINOv2 checkpoints (timm cannot be
used: `timm.layers` imports torchvision at import time, and PyPI torchvision does not load with this
torch), converters from the timm and Hugging Face layouts, and `DINOv2Backbone`:
(B, 3, S, S) -> patch tokens (B, (S/14)^2, C) + CLS token (B, C). Nothing is ever downloaded.
"""
import hashlib
import math
import re
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from imagin4d.registry import MODELS

from .base import IMAGENET_MEAN, IMAGENET_STD, FrozenImageBackbone, MissingWeightsError, load_state_dict_file

# Architectures of the released DINOv2 ViTs with an MLP feed-forward (ViT-g uses SwiGLU: not supported).
DINOV2_ARCHS = {
    'vits14': dict(embed_dim=384, depth=12, num_heads=6),
    'vitb14': dict(embed_dim=768, depth=12, num_heads=12),
    'vitl14': dict(embed_dim=1024, depth=24, num_heads=16),
}
PATCH_SIZE = 14
# The released checkpoints were trained at 518 px: a 37 x 37 grid of position embeddings.
PRETRAIN_GRID = 37


class LayerScale(nn.Module):
    """Per-channel scale `gamma * x` on (..., C)."""

    def __init__(self, dim: int, init: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection: (B, L, C) -> (B, L, C)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv(x), 'b l (three h d) -> three b h l d', three=3, h=self.num_heads)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(rearrange(out, 'b h l d -> b l (h d)'))


class FeedForward(nn.Module):
    """fc1 -> GELU -> fc2 on (B, L, C)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class ViTBlock(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """(B, 3, H, W) -> (B, (H/p)(W/p), C) with a stride-p convolution."""

    def __init__(self, dim: int, patch_size: int = PATCH_SIZE):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(self.proj(x), 'b c h w -> b (h w) c')


class DINOv2ViT(nn.Module):
    """The DINOv2 vision transformer (official parameter names, so official checkpoints load strictly).

    Tokens are [CLS, registers..., patches]; position embeddings cover CLS and a square pretraining grid
    of patches and are resampled bicubically to other grids (offset 0.1, as in the reference code).
    `forward`: (B, 3, H, W), H and W multiples of 14 -> (cls (B, C), patches (B, h*w, C)) after the final
    LayerNorm.
    """

    def __init__(self, embed_dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0,
                 num_register_tokens: int = 0, pretrain_grid: int = PRETRAIN_GRID,
                 interpolate_offset: float = 0.1):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_register_tokens = num_register_tokens
        self.interpolate_offset = interpolate_offset
        self.patch_embed = PatchEmbed(embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + pretrain_grid ** 2, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # used by DINOv2 pretraining only
        if num_register_tokens:
            self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
        self.blocks = nn.ModuleList(ViTBlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.num_register_tokens:
            nn.init.normal_(self.register_tokens, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def resize_pos_embed_param(self, num_positions: int) -> None:
        """Re-create `pos_embed` with another square grid (to match a checkpoint before loading it)."""
        if num_positions != self.pos_embed.shape[1]:
            self.pos_embed = nn.Parameter(torch.zeros(1, num_positions, self.embed_dim))

    def position_embeddings(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """(1, 1 + grid_h * grid_w, C) position embeddings for a patch grid."""
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        side = math.isqrt(patch_pos.shape[1])
        if (grid_h, grid_w) == (side, side):
            return self.pos_embed
        grid = rearrange(patch_pos, '1 (h w) c -> 1 c h w', h=side).float()
        if self.interpolate_offset:
            scale = ((grid_h + self.interpolate_offset) / side, (grid_w + self.interpolate_offset) / side)
            grid = F.interpolate(grid, scale_factor=scale, mode='bicubic', align_corners=False)
        else:
            grid = F.interpolate(grid, size=(grid_h, grid_w), mode='bicubic', align_corners=False)
        assert grid.shape[-2:] == (grid_h, grid_w), grid.shape
        patch_pos = rearrange(grid, '1 c h w -> 1 (h w) c').to(self.pos_embed.dtype)
        return torch.cat([cls_pos, patch_pos], dim=1)

    def forward(self, pixels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = pixels.shape
        if height % PATCH_SIZE or width % PATCH_SIZE:
            raise ValueError(f'DINOv2 input size must be a multiple of {PATCH_SIZE}, got {height}x{width}')
        tokens = self.patch_embed(pixels)
        tokens = torch.cat([self.cls_token.expand(batch, -1, -1), tokens], dim=1)
        tokens = tokens + self.position_embeddings(height // PATCH_SIZE, width // PATCH_SIZE)
        if self.num_register_tokens:
            tokens = torch.cat([tokens[:, :1], self.register_tokens.expand(batch, -1, -1), tokens[:, 1:]],
                               dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.norm(tokens)
        return tokens[:, 0], tokens[:, 1 + self.num_register_tokens:]


_HF_RENAMES = (
    (r'^embeddings\.cls_token$', 'cls_token'),
    (r'^embeddings\.mask_token$', 'mask_token'),
    (r'^embeddings\.register_tokens$', 'register_tokens'),
    (r'^embeddings\.position_embeddings$', 'pos_embed'),
    (r'^embeddings\.patch_embeddings\.projection\.', 'patch_embed.proj.'),
    (r'^encoder\.layer\.(\d+)\.norm(\d)\.', r'blocks.\1.norm\2.'),
    (r'^encoder\.layer\.(\d+)\.attention\.(?:output\.dense|o_proj)\.', r'blocks.\1.attn.proj.'),
    (r'^encoder\.layer\.(\d+)\.layer_scale(\d)\.lambda1$', r'blocks.\1.ls\2.gamma'),
    (r'^encoder\.layer\.(\d+)\.mlp\.', r'blocks.\1.mlp.'),
    (r'^layernorm\.', 'norm.'),
)
_HF_QKV = re.compile(r'^encoder\.layer\.(\d+)\.attention\.(?:attention\.)?(query|key|value|q_proj|k_proj|v_proj)'
                     r'\.(weight|bias)$')


def to_official_layout(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Convert a DINOv2 state dict in the timm or Hugging Face layout to the official one (else unchanged).

    Strips `module.`/`backbone.` prefixes; timm's `reg_token` becomes `register_tokens`; Hugging Face's
    separate query/key/value projections are concatenated into `qkv`.
    """
    state = {re.sub(r'^(module\.|backbone\.)+', '', k): v for k, v in state.items()}
    if 'reg_token' in state:
        state['register_tokens'] = state.pop('reg_token')
    if not any(k.startswith('embeddings.') for k in state):
        return state
    converted, qkv = {}, {}
    for key, value in state.items():
        match = _HF_QKV.match(key)
        if match:
            layer, part, kind = match.groups()
            qkv.setdefault((layer, kind), {})[part[0]] = value
            continue
        for pattern, replacement in _HF_RENAMES:
            if re.match(pattern, key):
                converted[re.sub(pattern, replacement, key)] = value
                break
        else:
            converted[key] = value
    for (layer, kind), parts in qkv.items():
        converted[f'blocks.{layer}.attn.qkv.{kind}'] = torch.cat([parts['q'], parts['k'], parts['v']], dim=0)
    return converted


@MODELS.register_module()
class DINOv2Backbone(FrozenImageBackbone):
    """Frozen DINOv2 ViT-S/14, B/14 or L/14 from a local checkpoint.

    Args:
        arch: 'vits14', 'vitb14', 'vitl14', or a dict(embed_dim, depth, num_heads[, mlp_ratio]) for custom
            (e.g. tiny test) configurations.
        checkpoint: local weights file (.pth / .safetensors; official, timm or Hugging Face layout).
            Weights are never downloaded: get e.g. `dinov2_vitb14_pretrain.pth` on a machine with
            network access and pass its path.
        num_register_tokens: 4 for the `*_reg` checkpoints.
        allow_random_init: without a checkpoint, build random weights (seeded by `seed`; tests only)
            instead of raising.
        preprocess: overrides of `default_preprocess` (224 px -> a 16 x 16 patch grid).

    forward: (B, 3, S, S) -> {'patch': (B, (S/14)^2, C), 'pooled': (B, C) = the CLS token}.
    """

    default_preprocess = dict(size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize='squash')

    def __init__(self, arch: Union[str, dict] = 'vitb14', checkpoint: Optional[Union[str, Path]] = None,
                 num_register_tokens: int = 0, allow_random_init: bool = False, seed: int = 0,
                 preprocess: Optional[dict] = None, interpolate_offset: float = 0.1):
        super().__init__()
        if isinstance(arch, str):
            if arch not in DINOV2_ARCHS:
                raise ValueError(f'unknown DINOv2 arch {arch!r}; choose one of {sorted(DINOV2_ARCHS)} '
                                 'or pass a dict(embed_dim=, depth=, num_heads=)')
            arch_cfg, self.arch_name = dict(DINOV2_ARCHS[arch]), arch
        else:
            arch_cfg = dict(arch)
            self.arch_name = 'custom-' + '-'.join(f'{k}{arch_cfg[k]}' for k in sorted(arch_cfg))
        self.out_channels = arch_cfg['embed_dim']
        self.num_register_tokens = num_register_tokens
        state = None
        if checkpoint is not None:
            state = to_official_layout(load_state_dict_file(checkpoint))
        elif not allow_random_init:
            raise MissingWeightsError(
                'DINOv2Backbone needs checkpoint=<local weights file>: weights are never downloaded. '
                'Fetch e.g. dinov2_vitb14_pretrain.pth (or facebook/dinov2-base model.safetensors) on a '
                'machine with network access, copy it here and set checkpoint=PATH. '
                'The embedded default backbone with real weights is EfficientNetLite0Backbone.')
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.vit = DINOv2ViT(**arch_cfg, num_register_tokens=num_register_tokens,
                                 interpolate_offset=interpolate_offset)
        if state is not None:
            if 'pos_embed' in state:
                self.vit.resize_pos_embed_param(state['pos_embed'].shape[1])
            state.setdefault('mask_token', self.vit.mask_token.detach().clone())  # timm drops it
            self.vit.load_state_dict(state, strict=True)
            self._set_weights([Path(checkpoint).expanduser()])
        else:
            tag = f'{self.arch_name}-reg{num_register_tokens}-seed{seed}-torch{torch.__version__}'
            self._weights_id = 'random-' + hashlib.sha256(tag.encode()).hexdigest()[:9]
        self.preprocessor = self._build_preprocessor(preprocess)
        if self.preprocessor.size % PATCH_SIZE:
            raise ValueError(f'DINOv2 preprocess size must be a multiple of {PATCH_SIZE}, '
                             f'got {self.preprocessor.size}')
        self._freeze()

    @property
    def feature_name(self) -> str:
        offset = '' if self.vit.interpolate_offset == 0.1 else f'-offset{self.vit.interpolate_offset:g}'
        return f'DINOv2Backbone-{self.arch_name}-reg{self.num_register_tokens}{offset}'

    @property
    def grid_hw(self) -> Tuple[int, int]:
        side = self.preprocessor.size // PATCH_SIZE
        return side, side

    def forward(self, pixels: torch.Tensor) -> Dict[str, torch.Tensor]:
        cls, patches = self.vit(pixels)
        return {'patch': patches, 'pooled': cls}

"""Position and diffusion-timestep embeddings for the motion denoiser and the cue encoders.

Owns `sinusoidal_embedding` (scalar positions -> (..., dim) sin/cos features), `sinusoidal_positions`
(the fixed (T, dim) frame-position table), `TimestepEmbedding` (sinusoidal features -> MLP, the DiT / CHOIS
timestep embedder) and `FrameIndexEmbedding` (frame index -> (T, dim), sinusoidal + MLP or a learned table).
"""
import math

import torch
from torch import nn

__all__ = ['sinusoidal_embedding', 'sinusoidal_positions', 'TimestepEmbedding', 'FrameIndexEmbedding',
           'grid_fourier_features', 'PatchPositionEmbedding']


def sinusoidal_embedding(positions: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sin/cos features of (possibly fractional) positions.

    positions: (...) numbers (diffusion steps, frame indices) -> (..., dim) float32:
    `[cos(p * f_0), ..., cos(p * f_{h-1}), sin(p * f_0), ..., sin(p * f_{h-1})]` with h = dim // 2 and
    f_i = max_period^(-i / h); an odd `dim` gets one trailing zero column.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                           device=positions.device) / max(half, 1))
    angles = positions.float()[..., None] * freqs
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(*emb.shape[:-1], 1)], dim=-1)
    return emb


def sinusoidal_positions(num_positions: int, dim: int, max_period: float = 10000.0,
                         device=None) -> torch.Tensor:
    """The fixed (num_positions, dim) table of `sinusoidal_embedding` at positions 0..num_positions-1."""
    return sinusoidal_embedding(torch.arange(num_positions, device=device), dim, max_period)


class TimestepEmbedding(nn.Module):
    """Diffusion timestep t -> conditioning vector: sinusoidal(t, freq_dim) -> Linear -> SiLU -> Linear.

    CHOIS uses sinusoidal 64 -> Linear 256 -> GELU -> Linear 512; DiT uses 256 -> SiLU MLP. The defaults
    here follow DiT's activation with CHOIS's 64 frequencies.

    Args:
        out_dim: C of the output (the AdaLN conditioning width).
        freq_dim: sin/cos features fed to the MLP (64).
        hidden_dim: MLP hidden width (default: out_dim).
        max_period: longest wavelength of the sinusoid (10000, as in Transformer / DiT).

    forward(t): t (B,) int or float steps (a 0-d tensor or Python number is broadcast to B = 1) -> (B, out_dim).
    """

    def __init__(self, out_dim: int, freq_dim: int = 64, hidden_dim: int = None, max_period: float = 10000.0):
        super().__init__()
        hidden_dim = hidden_dim or out_dim
        self.freq_dim = freq_dim
        self.max_period = max_period
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, t) -> torch.Tensor:
        t = torch.as_tensor(t, device=self.mlp[0].weight.device)
        if t.dim() == 0:
            t = t[None]
        emb = sinusoidal_embedding(t, self.freq_dim, self.max_period).to(self.mlp[0].weight.dtype)
        return self.mlp(emb)


class FrameIndexEmbedding(nn.Module):
    """Frame index -> (T, dim) embedding, used to build per-frame queries.

    Args:
        dim: output width.
        mode: 'sinusoidal' (fixed sin/cos of the index followed by Linear -> SiLU -> Linear; works for any T)
            or 'learned' (a table of `max_frames` rows; T must not exceed it).
        max_frames: rows of the learned table (ignored by 'sinusoidal').
        freq_dim: sin/cos features of the 'sinusoidal' mode (default: dim).

    forward(num_frames) -> (num_frames, dim); at(positions (Q,) fractional frame indices) -> (Q, dim) (sinusoidal:
    the same features at any position, so at(arange(T)) = forward(T); learned: rows interpolated linearly).
    """

    MODES = ('sinusoidal', 'learned')

    def __init__(self, dim: int, mode: str = 'sinusoidal', max_frames: int = 120, freq_dim: int = None):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f'FrameIndexEmbedding mode must be one of {self.MODES}, got {mode!r}')
        self.mode, self.max_frames, self.dim = mode, max_frames, dim
        if mode == 'learned':
            self.table = nn.Parameter(torch.randn(max_frames, dim) * 0.02)
        else:
            self.freq_dim = freq_dim or dim
            self.mlp = nn.Sequential(nn.Linear(self.freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, num_frames: int) -> torch.Tensor:
        if self.mode == 'learned':
            if num_frames > self.max_frames:
                raise ValueError(f'{num_frames} frames exceed the learned table of {self.max_frames}')
            return self.table[:num_frames]
        weight = self.mlp[0].weight
        table = sinusoidal_positions(num_frames, self.freq_dim, device=weight.device).to(weight.dtype)
        return self.mlp(table)

    def at(self, positions: torch.Tensor) -> torch.Tensor:
        """(Q, dim) embeddings of fractional frame indices (e.g. a coarse clock of Q < T frame queries)."""
        if self.mode == 'learned':
            if bool((positions > self.max_frames - 1).any()):
                raise ValueError(f'frame positions up to {float(positions.max())} exceed the learned table of '
                                 f'{self.max_frames}')
            low = positions.floor().long().clamp(max=self.max_frames - 1)
            high = (low + 1).clamp(max=self.max_frames - 1)
            frac = (positions - low.to(positions.dtype))[:, None].to(self.table.dtype)
            return self.table[low] * (1 - frac) + self.table[high] * frac
        weight = self.mlp[0].weight
        return self.mlp(sinusoidal_embedding(positions.to(weight.device), self.freq_dim).to(weight.dtype))


def grid_fourier_features(grid_h: int, grid_w: int, num_bands: int, device=None) -> torch.Tensor:
    """Fixed 2D position features of a patch grid in row-major (h w) order, the order backbones flatten in.

    Coordinates u (column) and v (row) run over [-1, 1] (0 for a single row / column); per band k the features are
    sin(w_k v), cos(w_k v), sin(w_k u), cos(w_k u) with w_k = (pi / 2) 2^k: the lowest band is monotonic over the
    grid (a period of 4, so the two edges never alias). Mirroring the image left-right maps u -> -u, which negates
    the u-sines and keeps everything else. Returns (grid_h * grid_w, 4 * num_bands) float32.
    """
    def axis(n):
        return torch.linspace(-1.0, 1.0, n, device=device) if n > 1 else torch.zeros(1, device=device)
    v, u = torch.meshgrid(axis(grid_h), axis(grid_w), indexing='ij')
    freqs = 0.5 * math.pi * 2.0 ** torch.arange(num_bands, device=device, dtype=torch.float32)
    v, u = v.reshape(-1, 1) * freqs, u.reshape(-1, 1) * freqs
    return torch.cat([v.sin(), v.cos(), u.sin(), u.cos()], dim=-1)


class PatchPositionEmbedding(nn.Module):
    """Where each patch of a frozen feature grid is: Linear(grid_fourier_features) -> (N, context_dim), added to the
    patch features before attention reads them (without it, attention over a patch set cannot tell left from right:
    a CNN grid carries little absolute position, and a mirrored image gives nearly the same set of patches).

    The projection starts at zero, so a new embedding changes nothing until training moves it.

    Args:
        context_dim: channels of the patch grid.
        num_bands: frequencies per axis (4; enough for grids up to about 16 wide).
        grid_hw: (H, W) of the grid; None: a square grid, side sqrt(N).

    forward(num_patches N) -> (N, context_dim).
    """

    def __init__(self, context_dim: int, num_bands: int = 4, grid_hw=None):
        super().__init__()
        self.num_bands, self.grid_hw = num_bands, tuple(grid_hw) if grid_hw is not None else None
        self.proj = nn.Linear(4 * num_bands, context_dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, num_patches: int) -> torch.Tensor:
        if self.grid_hw is not None:
            grid_h, grid_w = self.grid_hw
        else:
            grid_h = grid_w = int(round(math.sqrt(num_patches)))
        if grid_h * grid_w != num_patches:
            raise ValueError(f'{num_patches} patches are not a {grid_h}x{grid_w} grid; pass grid_hw=(H, W) for a '
                             'non-square patch grid')
        weight = self.proj.weight
        return self.proj(grid_fourier_features(grid_h, grid_w, self.num_bands, device=weight.device).to(weight.dtype))

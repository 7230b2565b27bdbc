"""Basis Point Set (BPS) object encoding: the fixed basis and the nearest-point offset features.

Owns `make_bps_basis` (deterministic uniform samples in a ball) and `bps_encode` (for each basis point,
the offset to the nearest centred object point). Pure batched torch; distances are chunked so that
1024 basis points x tens of thousands of object points fit in memory.
"""
from typing import Optional

import numpy as np
import torch

__all__ = ['make_bps_basis', 'bps_encode', 'nearest_neighbors']


def make_bps_basis(num_points: int = 1024, radius: float = 1.0, seed: int = 0) -> torch.Tensor:
    """Uniform samples inside a ball of `radius` centred at 0 -> (num_points, 3) float32.

    Rejection sampling from the cube [-radius, radius]^3 with `numpy.random.default_rng(seed)`: it uses
    only uniform doubles, multiplications and comparisons, so the basis is bit-identical across
    machines for a given seed (no libm-dependent transcendental functions).
    """
    rng = np.random.default_rng(seed)
    accepted, count = [], 0
    while count < num_points:
        cube = rng.random((2 * num_points, 3)) * 2.0 - 1.0
        inside = cube[(cube * cube).sum(1) <= 1.0]
        accepted.append(inside)
        count += len(inside)
    basis = np.concatenate(accepted)[:num_points] * radius
    return torch.from_numpy(basis.astype(np.float32))


def nearest_neighbors(queries: torch.Tensor, points: torch.Tensor, max_pairs: int = 1 << 22):
    """Nearest point of `points` for each query, chunked over points.

    queries: (B, N, 3) or (N, 3); points: (B, P, 3); a batch size of 1 broadcasts ->
    (distance (B, N), index into P (B, N) long). Distances are computed directly from coordinate
    differences (no |a|^2 + |b|^2 - 2ab expansion, which loses precision), and the pairwise block is
    at most ~`max_pairs` entries: chunk = max(1, max_pairs // (B * N)) points at a time.
    """
    if queries.dim() == 2:
        queries = queries[None]
    B = max(queries.shape[0], points.shape[0])
    N, P = queries.shape[1], points.shape[1]
    queries, points = queries.expand(B, N, 3), points.expand(B, P, 3)
    chunk = max(1, max_pairs // max(1, B * N))
    best_d = queries.new_full((B, N), float('inf'))
    best_i = torch.zeros((B, N), dtype=torch.long, device=queries.device)
    for start in range(0, P, chunk):
        block = points[:, start:start + chunk]                                   # (B, C, 3)
        d = torch.cdist(queries, block, compute_mode='donot_use_mm_for_euclid_dist')  # (B, N, C)
        d_min, i_min = d.min(-1)                                                  # (B, N)
        better = d_min < best_d
        best_d = torch.where(better, d_min, best_d)
        best_i = torch.where(better, i_min + start, best_i)
    return best_d, best_i


def bps_encode(points: torch.Tensor, basis: torch.Tensor, centre: Optional[torch.Tensor] = None,
               max_pairs: int = 1 << 22) -> torch.Tensor:
    """BPS offsets of a point cloud.  points: (B, P, 3), basis: (N, 3), centre: (B, 3) -> (B, N, 3).

    The points are first centred (`centre` defaults to their centroid), so the encoding is invariant to
    translations of the object. Output[b, n] = nearest centred point to basis[n] minus basis[n].
    A single cloud (P, 3) gives (N, 3); a centre of shape (3,) is shared by the batch.
    """
    single = points.dim() == 2
    if single:
        points = points[None]
    centre = points.mean(1) if centre is None else centre.reshape(-1, 3)   # (B, 3) or (1, 3)
    centred = points - centre[:, None, :]
    basis = basis.to(centred)
    _, index = nearest_neighbors(basis[None], centred, max_pairs=max_pairs)   # (B, N)
    nearest = torch.gather(centred, 1, index[..., None].expand(*index.shape, 3))
    offsets = nearest - basis[None]
    return offsets[0] if single else offsets

"""Point-to-point-set proximity and contact labels (e.g. hand joints vs object vertices).

Owns `min_distance` (exact nearest distance, chunked) and `contact_labels` (distance < threshold,
CHOIS uses 5 cm from a hand joint to any object vertex). Pure batched torch.
"""
import torch

from .bps import nearest_neighbors

__all__ = ['min_distance', 'contact_labels']


def min_distance(points: torch.Tensor, surface_points: torch.Tensor,
                 max_pairs: int = 1 << 22) -> torch.Tensor:
    """Distance from each point to its nearest surface point.  points: (B, K, 3), surface_points: (B, V, 3)
    -> (B, K). Differentiable w.r.t. both inputs (through the selected pair)."""
    distance, _ = nearest_neighbors(points, surface_points, max_pairs=max_pairs)
    return distance


def contact_labels(points: torch.Tensor, surface_points: torch.Tensor,
                   threshold: float = 0.05) -> torch.Tensor:
    """True where a point is strictly closer than `threshold` (metres) to the surface points.
    points: (B, K, 3), surface_points: (B, V, 3) -> bool (B, K)."""
    return min_distance(points, surface_points) < threshold

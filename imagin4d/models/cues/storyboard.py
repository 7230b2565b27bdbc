"""Storyboards: K reference images per sample, each showing another moment of the interaction (issue 29).

Owns the batch layout of a storyboard (`Storyboard`, `as_storyboard`: one image (B, N, Ci) is the storyboard of
K = 1), how SFIE combines the K gated image streams per frame (`combine_images`) and which image each frame
reads in the frame-aware encoder (`nearest_image`). With K = 1 every function reduces exactly to the single-image
computation (tests/models/cues/test_storyboard.py).

Condition keys (see `CONDITION_KEYS`): image_patch (B, K, N, Ci); image_patch_mask (B, K, N) | (B, N) | None;
image_mask (B, K) bool, True on real images (padding where K varies within a batch); image_frames (B, K) long,
the depicted frame of each image when the user gives it, `NOT_GIVEN` (-1) otherwise.
"""
from typing import NamedTuple, Optional, Tuple, Union

import torch

from imagin4d.models.layers import GatedStream

__all__ = ['NOT_GIVEN', 'Storyboard', 'as_storyboard', 'combine_images', 'nearest_image']

#: `image_frames` value of an image whose depicted frame is not given (SFIE predicts it).
NOT_GIVEN = -1


class Storyboard(NamedTuple):
    patches: torch.Tensor                   # (B, K, N, Ci)
    patch_mask: Optional[torch.Tensor]      # (B, K, N) bool | None
    mask: torch.Tensor                      # (B, K) bool, True on real images
    frames: Optional[torch.Tensor]          # (B, K) long given frames (NOT_GIVEN: predict) | None


def as_storyboard(image_patch: torch.Tensor, image_patch_mask: Optional[torch.Tensor] = None,
                  image_mask: Optional[torch.Tensor] = None, image_frames: Optional[torch.Tensor] = None,
                  num_frames: Optional[int] = None) -> Storyboard:
    """One image (B, N, Ci) or K images (B, K, N, Ci) -> a checked `Storyboard` (K = 1 for one image)."""
    if image_patch.dim() == 3:
        image_patch = image_patch[:, None]
        if image_patch_mask is not None:
            image_patch_mask = image_patch_mask[:, None]
    if image_patch.dim() != 4:
        raise ValueError(f'image_patch must be (B, N, Ci) or (B, K, N, Ci), got {tuple(image_patch.shape)}')
    batch, k = image_patch.shape[:2]
    if image_patch_mask is not None and image_patch_mask.dim() == 2:
        image_patch_mask = image_patch_mask[:, None].expand(-1, k, -1)
    if image_mask is None:
        image_mask = torch.ones(batch, k, dtype=torch.bool, device=image_patch.device)
    elif tuple(image_mask.shape) != (batch, k):
        raise ValueError(f'image_mask must be (B, K) = {(batch, k)}, got {tuple(image_mask.shape)}')
    image_mask = image_mask.bool()
    if image_frames is not None:
        if tuple(image_frames.shape) != (batch, k):
            raise ValueError(f'image_frames must be (B, K) = {(batch, k)}, got {tuple(image_frames.shape)}')
        image_frames = image_frames.long()
        given = image_frames[image_mask]
        if num_frames is not None and bool(((given != NOT_GIVEN) & ((given < 0) | (given >= num_frames))).any()):
            raise ValueError(f'image_frames must be frames in [0, {num_frames}) or {NOT_GIVEN} (not given), got '
                             f'{sorted(set(given.tolist()))}')
    return Storyboard(image_patch, image_patch_mask, image_mask, image_frames)


def combine_images(mask: torch.Tensor, window: torch.Tensor, spatial: torch.Tensor, base: torch.Tensor,
                   gated: bool = False) -> Tuple[Union[torch.Tensor, GatedStream], torch.Tensor]:
    """SFIE's streams from the M = mask.sum() valid images of a storyboard.

    mask (B, K); window (M, T) each image's gate w_k; spatial (M, C) its projected summary v_k; base (M, C).
    Returns spatial_image[b, t] = sum_k (w_k[t] / sum_j w_j[t]) w_k[t] v_k  (B, T, C): each frame takes the
    gated tokens of the images whose windows cover it, in proportion to their gates (one image: w v, today's
    stream; two far-apart images: each its own window; overlapping windows: a convex mix, never a sum), and
    base[b] = the mean over valid images of base_k (B, C). gated=True returns the same stream unmultiplied, as a
    `GatedStream` (value v (B, K, C), gate (w_k / sum_j w_j) w_k (B, K, T); padded images have gate 0).
    """
    batch, k = mask.shape
    gates = window.new_zeros(batch, k, window.shape[1])
    gates[mask] = window
    tokens = spatial.new_zeros(batch, k, spatial.shape[1])
    tokens[mask] = spatial
    total = gates.sum(dim=1, keepdim=True)                                           # (B, 1, T)
    share = torch.where(total > 0, gates / torch.where(total > 0, total, torch.ones_like(total)),
                        torch.zeros_like(gates))                                     # (B, K, T)
    if gated:
        stream = GatedStream(tokens, share * gates)
    else:
        stream = ((share * gates)[..., None] * tokens[:, :, None, :]).sum(dim=1)     # (B, T, C)
    per_image = base.new_zeros(batch, k, base.shape[1])
    per_image[mask] = base
    count = mask.sum(dim=1, keepdim=True).clamp_min(1).to(base.dtype)
    return stream, per_image.sum(dim=1) / count


def nearest_image(times: torch.Tensor, mask: torch.Tensor, num_frames: int,
                  positions: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(B, T) long: for each frame, the valid image whose depicted frame times (B, K) is nearest (ties: the
    earlier image in the storyboard's order). positions (Q,): ask at these (fractional) frames instead -> (B, Q)."""
    frames = torch.arange(num_frames, device=times.device, dtype=torch.float32) if positions is None \
        else positions.to(times.device, torch.float32)
    dist = (frames[None, :, None] - times.float()[:, None, :]).abs()                 # (B, T, K)
    dist = dist.masked_fill(~mask[:, None, :] | torch.isnan(dist), float('inf'))
    return dist.argmin(dim=-1)

"""Storyboard requests (issue 29): K reference images, each showing another moment, with optional depicted frames.

Owns checking a request's `images` / `frames` (`request_images`: one-line `RequestError`s naming the field) and
laying the K images' features out as the model reads a storyboard (`storyboard_inputs`: patch (K_max, N, C),
pooled (K_max, C), mask (K_max,), frames (K_max,) with -1 = not given, padded to the longest storyboard of a call).
"""
from typing import List, Optional, Tuple

import torch

from imagin4d.models.cues.storyboard import NOT_GIVEN

from .requests import RequestError, load_reference_image

__all__ = ['request_images', 'storyboard_inputs']


def request_images(request, where: str, window: int) -> Tuple[list, Optional[List[int]]]:
    """(images as arrays, given frames or None) of a request: `reference_image` (one image) or `images` (a storyboard,
    K >= 1 paths / arrays) with `frames` (K entries, each a frame in 0..window-1 or None: SFIE predicts it)."""
    if request.images is None:
        if request.frames is not None:
            raise RequestError(f'{where}: frames {request.frames!r} given without images (frames[i] is the moment '
                               'images[i] depicts)')
        return ([] if request.reference_image is None else [load_reference_image(request.reference_image)]), None
    if request.reference_image is not None:
        raise RequestError(f'{where}: give reference_image (one image) or images (a storyboard), not both')
    images = request.images
    if isinstance(images, (str, bytes)) or not isinstance(images, (list, tuple)) or not images:
        raise RequestError(f'{where}: images must be a non-empty list of image paths or arrays, got {images!r}')
    loaded = []
    for i, image in enumerate(images):
        try:
            loaded.append(load_reference_image(image))
        except RequestError as err:
            raise RequestError(f'{where}: images[{i}]: {err}') from None
    frames = request.frames
    if frames is None:
        return loaded, None
    if not isinstance(frames, (list, tuple)) or len(frames) != len(images):
        raise RequestError(f'{where}: frames must list one entry per image ({len(images)}: a frame or null), got '
                           f'{frames!r}')
    given = []
    for i, frame in enumerate(frames):
        if frame is None:
            given.append(NOT_GIVEN)
            continue
        if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < window:
            raise RequestError(f'{where}: frames[{i}] = {frame!r}; expected a frame of the first window (an integer '
                               f'in 0..{window - 1}) or null (the model places the image)')
        given.append(int(frame))
    return loaded, given


def storyboard_inputs(patches: torch.Tensor, pooled: torch.Tensor, frames: Optional[List[int]], size: int,
                      key: str = 'image') -> dict:
    """One request's K image features (K, N, C) / (K, C) padded to `size` images, as the window's model inputs."""
    k = patches.shape[0]
    pad = size - k
    frames = list(frames) if frames is not None else [NOT_GIVEN] * k
    return {f'{key}_patch': torch.cat([patches, patches.new_zeros(pad, *patches.shape[1:])]),
            f'{key}_pooled': torch.cat([pooled, pooled.new_zeros(pad, *pooled.shape[1:])]),
            f'{key}_mask': torch.arange(size) < k,
            f'{key}_frames': torch.tensor(frames + [NOT_GIVEN] * pad, dtype=torch.long)}

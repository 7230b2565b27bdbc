"""Storyboard requests (issue 29): K reference images, each showing another moment, with optional depicted frames.

Owns checking a request's `images` / `frames` (`request_images`: one-line `RequestError`s naming the field) and
laying the K images' features out as the model reads a storyboard (`storyboard_inputs`: patch (K_max, N, C),
pooled (K_max, C), mask (K_max,), frames (K_max,) with -1 = not given, padded to the longest storyboard of a call)
and routing the images of a long motion to its windows (`window_image_indices`, `window_storyboard`: an image with
a given frame goes to every window that contains that frame, re-timed; one without goes to every window; a window
with none is sampled with the image source dropped, the model's null-image condition, flagged by `NO_IMAGE`).
"""
from typing import List, Optional, Tuple

import torch

from imagin4d.models.cues.storyboard import NOT_GIVEN

from .requests import RequestError, load_reference_image

__all__ = ['request_images', 'storyboard_inputs', 'window_image_indices', 'window_storyboard', 'NO_IMAGE']

#: Key of a window dict whose sample is generated without the image source (no image of the storyboard lies in it)
NO_IMAGE = 'no_image'


def request_images(request, where: str, num_frames: int) -> Tuple[list, Optional[List[int]]]:
    """(images as arrays, given frames or None) of a request: `reference_image` (one image) or `images` (a storyboard,
    K >= 1 paths / arrays) with `frames` (K entries, each a frame of the motion in 0..num_frames-1 or None: SFIE
    predicts it)."""
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
        if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < num_frames:
            image = f' {images[i]!r}' if isinstance(images[i], str) else ''
            raise RequestError(f'{where}: frames[{i}] = {frame!r} (images[{i}]{image}); expected a frame of the '
                               f'{num_frames}-frame motion (an integer in 0..{num_frames - 1}) or null (the model '
                               'places the image)')
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


def window_image_indices(frames: Optional[List[int]], count: int, start: int, window: int) -> List[int]:
    """The images (indices into the request's `count` images) that the window of frames [start, start + window)
    reads: those whose given frame lies inside it and those without a given frame (frames None: all)."""
    if frames is None:
        return list(range(count))
    return [i for i, f in enumerate(frames) if f == NOT_GIVEN or start <= f < start + window]


def window_storyboard(item: dict, start: int, window: int, size: int, key: str = 'image') -> dict:
    """The storyboard inputs (`storyboard_inputs`, padded to `size`) of the window of frames [start, start + window)
    of a resolved request (image_patch (K, N, C) or (N, C) for one reference image, image_pooled, frames): its images
    with their given frames re-timed (f -> f - start). A window with no image gets every image as a placeholder
    and `NO_IMAGE`: the sampler drops the image source for it."""
    patch, pooled = item['image_patch'], item['image_pooled']
    patch, pooled = (patch, pooled) if item['storyboard'] else (patch[None], pooled[None])
    frames = item['frames']
    chosen = window_image_indices(frames, patch.shape[0], start, window)
    if not chosen:
        return dict(storyboard_inputs(patch, pooled, None, size, key), **{NO_IMAGE: True})
    local = None if frames is None else [frames[i] if frames[i] == NOT_GIVEN else frames[i] - start for i in chosen]
    return storyboard_inputs(patch[chosen], pooled[chosen], local, size, key)

"""Framing and photometric variation of the `degraded` style (an EditImg-like domain made without an editing model).

Owns `DEGRADE_DEFAULTS` (the documented ranges), `vary_camera` (orbit, dolly, zoom and off-centre framing of a
sampled camera, plus the picture window of a non-square photo) and `degrade_image` (colour shift, blur, noise,
JPEG, then the non-square picture padded with white to a square exactly as the inference path pads user
pictures: `ImagePreprocessor(resize='pad')`). Each value is drawn uniformly from its (low, high) range with the
given numpy Generator. Images are (H, W, 3) uint8 RGB.
"""
import math
from typing import Optional, Tuple

import numpy as np

from .camera import Camera, look_at_world_to_cam

__all__ = ['DEGRADE_DEFAULTS', 'vary_camera', 'degrade_image', 'pad_to_square']

# Ranges, in the order they are drawn. Framing: orbit_elevation (degrees added to the sampled camera's
# elevation, result kept in [2, 60]), dolly (factor on the distance to the look-at point), zoom (factor on the
# focal length: > 1 narrows the field of view), shift (principal-point offset, fraction of the image side, per
# axis: subject off-centre, partly cropped when large), aspect (width / height of the picture; drawn on a log
# scale with probability p_nonsquare, else square). Photometric (sizes in pixels of a 224-px image, scaled with
# the width): gain (per-channel white balance), saturation, contrast, brightness (added, in [0, 1] units), gamma,
# blur_sigma, noise_sigma (in 0..255 units), jpeg_quality.
DEGRADE_DEFAULTS = dict(
    orbit_elevation=(-8.0, 15.0), dolly=(0.85, 1.2), zoom=(0.8, 1.3), shift=(-0.12, 0.12), aspect=(0.6, 1.67),
    p_nonsquare=0.5, gain=(0.8, 1.2), saturation=(0.5, 1.3), contrast=(0.75, 1.2), brightness=(-0.08, 0.08),
    gamma=(0.75, 1.35), blur_sigma=(0.0, 1.2), noise_sigma=(0.0, 8.0), jpeg_quality=(20, 85))


def vary_camera(camera: Camera, look_at, rng: np.random.Generator, ranges: Optional[dict] = None
                ) -> Tuple[Camera, Optional[Tuple[int, int, int, int]]]:
    """(camera, window): the sampled camera orbited up or down about `look_at` (3,), moved along its line of
    sight, zoomed and with its principal point shifted; window = (x0, y0, x1, y1) pixel bounds of a non-square
    picture centred in the square image (None: square)."""
    r = {**DEGRADE_DEFAULTS, **(ranges or {})}
    look = np.asarray(look_at, np.float64).reshape(3)
    offset = camera.position - look
    distance = float(np.linalg.norm(offset))
    horizontal = math.hypot(offset[0], offset[1])
    elevation = math.atan2(offset[2], horizontal) + math.radians(rng.uniform(*r['orbit_elevation']))
    elevation = min(max(elevation, math.radians(2.0)), math.radians(60.0))
    azimuth = math.atan2(offset[1], offset[0])
    distance *= rng.uniform(*r['dolly'])
    eye = look + distance * np.array([math.cos(elevation) * math.cos(azimuth),
                                      math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])
    K = camera.K.copy()
    K[:2, :2] *= rng.uniform(*r['zoom'])
    K[0, 2] += rng.uniform(*r['shift']) * camera.width
    K[1, 2] += rng.uniform(*r['shift']) * camera.height
    window = None
    if rng.random() < r['p_nonsquare'] and camera.width == camera.height:
        lo, hi = np.log(r['aspect'])
        aspect = float(np.exp(rng.uniform(lo, hi)))
        w = camera.width if aspect >= 1 else max(1, round(camera.width * aspect))
        h = camera.height if aspect < 1 else max(1, round(camera.height / aspect))
        x0, y0 = (camera.width - w) // 2, (camera.height - h) // 2     # where ImagePreprocessor pads it back
        window = (x0, y0, x0 + w, y0 + h)
    out = Camera(K=K, world_to_cam=look_at_world_to_cam(eye, look), width=camera.width, height=camera.height)
    return out, window


def pad_to_square(picture: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 -> (s, s, 3) uint8, s = max(h, w): padded with white, centred, by the preprocessing the
    inference path uses for a user's non-square picture (`ImagePreprocessor(resize='pad')`)."""
    import torch

    from imagin4d.models.backbones.base import ImagePreprocessor
    side = max(picture.shape[:2])
    pre = ImagePreprocessor(size=side, resize='pad', background=1.0)
    square = pre._square(pre._to_float_rgb(picture))                   # (3, s, s) in [0, 1]
    return torch.round(square * 255.0).to(torch.uint8).permute(1, 2, 0).numpy()


def degrade_image(image: np.ndarray, rng: np.random.Generator, window=None, ranges: Optional[dict] = None
                  ) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) uint8: the picture inside `window` (all of it when None) colour-shifted,
    blurred, noised and JPEG-compressed like a photo, then padded with white back to the square."""
    import cv2
    r = {**DEGRADE_DEFAULTS, **(ranges or {})}
    height, width = image.shape[:2]
    x0, y0, x1, y1 = window or (0, 0, width, height)
    x = image[y0:y1, x0:x1].astype(np.float32) / 255.0
    x = x * rng.uniform(*r['gain'], size=3).astype(np.float32)
    grey = x.mean(-1, keepdims=True)
    x = grey + (x - grey) * rng.uniform(*r['saturation'])
    x = (x - 0.5) * rng.uniform(*r['contrast']) + 0.5 + rng.uniform(*r['brightness'])
    x = np.clip(x, 0.0, 1.0) ** rng.uniform(*r['gamma'])
    scale = width / 224.0
    sigma = rng.uniform(*r['blur_sigma']) * scale
    if sigma > 0.3:
        x = cv2.GaussianBlur(x, (0, 0), sigma)
    x = x * 255.0 + rng.normal(scale=rng.uniform(*r['noise_sigma']), size=x.shape).astype(np.float32)
    picture = np.clip(np.round(x), 0, 255).astype(np.uint8)
    quality = int(round(rng.uniform(*r['jpeg_quality'])))
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(picture[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError('JPEG encoding failed')
    picture = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return pad_to_square(picture) if window is not None else np.ascontiguousarray(picture)

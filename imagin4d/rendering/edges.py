"""Line extraction from a render: normals from depth, silhouettes, occluding contours and creases, inking.

Owns the image math behind the `sketch` style: `normals_from_depth`, `sketch_lines` (per-pixel line strength
from depth and label discontinuities and normal creases) and `ink` (strength -> black-on-white uint8 image).
Every rule looks at both neighbours along an axis, so a horizontally flipped input gives the flipped output.
Pure numpy (+ OpenCV for dilation and blur).
"""
import math

import numpy as np

__all__ = ['BACKGROUND', 'FLOOR', 'BODY', 'OBJECT', 'label_map', 'normals_from_depth', 'sketch_lines', 'ink']

BACKGROUND, FLOOR, BODY, OBJECT = 0, 1, 2, 3
_DIRECTIONS = ((0, -1), (0, 1), (-1, 0), (1, 0))  # (dy, dx): left, right, up, down neighbour


def label_map(render: dict) -> np.ndarray:
    """(H, W) uint8 labels from a render dict: 0 background, 1 floor, 2 body, 3 object."""
    labels = np.zeros(render['depth'].shape, dtype=np.uint8)
    labels[render['floor_mask']] = FLOOR
    labels[render['body_mask']] = BODY
    labels[render['object_mask']] = OBJECT
    return labels


def _shift(a: np.ndarray, dy: int, dx: int, fill=0) -> np.ndarray:
    """out[y, x] = a[y + dy, x + dx] (the neighbour's value), `fill` outside the image."""
    out = np.full_like(a, fill)
    h, w = a.shape[:2]
    ys_dst = slice(max(0, -dy), h - max(0, dy))
    xs_dst = slice(max(0, -dx), w - max(0, dx))
    ys_src = slice(max(0, dy), h - max(0, -dy))
    xs_src = slice(max(0, dx), w - max(0, -dx))
    out[ys_dst, xs_dst] = a[ys_src, xs_src]
    return out


def _continuous(depth: np.ndarray, labels: np.ndarray, dy: int, dx: int, max_rel_jump: float):
    """bool (H, W): the neighbour at (dy, dx) has the same label and no relative depth jump above the limit."""
    zq, lq = _shift(depth, dy, dx), _shift(labels, dy, dx, fill=BACKGROUND)
    return (lq == labels) & (depth > 0) & (zq > 0) & (np.abs(zq - depth) <= max_rel_jump * depth)


def normals_from_depth(depth: np.ndarray, K: np.ndarray, labels: np.ndarray = None,
                       max_rel_jump: float = 0.03) -> np.ndarray:
    """Camera-frame unit normals (facing the camera, n_z < 0) from a depth map.

    depth: (H, W) camera z in metres, 0 = background; K: (3, 3) OpenCV intrinsics; labels: (H, W) region ids
    (differences are never taken across regions). Tangents average the forward and backward differences that
    are continuous (same label, relative depth jump <= max_rel_jump). Returns (H, W, 3) float32, zero where
    undefined (background, or isolated pixels).
    """
    depth = np.asarray(depth, dtype=np.float64)
    if labels is None:
        labels = (depth > 0).astype(np.uint8)
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    points = np.stack([(u - K[0, 2]) * depth / K[0, 0], (v - K[1, 2]) * depth / K[1, 1], depth], axis=-1)

    def tangent(axis_dy, axis_dx):
        fwd_ok = _continuous(depth, labels, axis_dy, axis_dx, max_rel_jump)
        bwd_ok = _continuous(depth, labels, -axis_dy, -axis_dx, max_rel_jump)
        fwd = _shift(points, axis_dy, axis_dx) - points
        bwd = points - _shift(points, -axis_dy, -axis_dx)
        total = fwd * fwd_ok[..., None] + bwd * bwd_ok[..., None]
        count = fwd_ok.astype(np.float64) + bwd_ok
        return total / np.maximum(count, 1.0)[..., None], count > 0

    du, ok_u = tangent(0, 1)
    dv, ok_v = tangent(1, 0)
    normals = np.cross(du, dv)
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    normals = np.where(norm > 1e-12, normals / np.maximum(norm, 1e-12), 0.0)
    normals *= np.where(normals[..., 2:3] > 0, -1.0, 1.0)  # face the camera
    normals[~(ok_u & ok_v)] = 0.0
    return normals.astype(np.float32)


def sketch_lines(depth: np.ndarray, labels: np.ndarray, K: np.ndarray, depth_jump: float = 0.03,
                 crease_angle: float = 40.0, crease_strength: float = 0.85,
                 floor_outline: float = 0.5) -> np.ndarray:
    """Per-pixel line strength in [0, 1] of a line drawing.  depth, labels: (H, W); K: (3, 3) -> (H, W) float32.

    Lines (each drawn on the pixel nearer to the camera, so one pixel wide):
      - silhouettes: a body/object pixel next to background, floor, or a farther pixel of the other region;
      - occluding contours: a body/object pixel whose neighbour of the same region is farther by more than
        `depth_jump` x its depth (e.g. an arm in front of the torso);
      - creases (strength `crease_strength`): the normals of the two neighbours along an axis differ by more
        than `crease_angle` degrees (e.g. box edges);
      - the floor's outline against the background, not along the image border (strength `floor_outline`,
        0 disables it).
    """
    depth = np.asarray(depth, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.uint8)
    strength = np.zeros(depth.shape, dtype=np.float32)
    if floor_outline > 0:  # labels only: cheap on the whole image; the image border is not a rim
        for dy, dx in _DIRECTIONS:
            rim = (labels == FLOOR) & (_shift(labels, dy, dx, fill=FLOOR) == BACKGROUND)
            strength[rim] = floor_outline
    # Body/object lines only occur on body/object pixels: work on their bounding box plus a 3-pixel margin.
    rows, cols = np.flatnonzero((labels >= BODY).any(1)), np.flatnonzero((labels >= BODY).any(0))
    if len(rows) == 0:
        return strength
    margin = 3
    y0, y1 = max(0, rows[0] - margin), min(labels.shape[0], rows[-1] + margin + 1)
    x0, x1 = max(0, cols[0] - margin), min(labels.shape[1], cols[-1] + margin + 1)
    crop_strength = _fg_lines(depth[y0:y1, x0:x1], labels[y0:y1, x0:x1], _crop_intrinsics(K, x0, y0),
                              depth_jump, crease_angle, crease_strength)
    strength[y0:y1, x0:x1] = np.maximum(strength[y0:y1, x0:x1], crop_strength)
    return strength


def _crop_intrinsics(K: np.ndarray, x0: int, y0: int) -> np.ndarray:
    K = np.array(K, dtype=np.float64)
    K[0, 2] -= x0
    K[1, 2] -= y0
    return K


def _fg_lines(depth, labels, K, depth_jump, crease_angle, crease_strength) -> np.ndarray:
    """Silhouettes, occluding contours and creases of the body/object pixels of a crop (see sketch_lines).

    Every pixel these rules read lies within 2 pixels of a body/object pixel, hence inside the crop.
    """
    fg = labels >= BODY
    strength = np.zeros(depth.shape, dtype=np.float32)
    for dy, dx in _DIRECTIONS:
        zq, lq = _shift(depth, dy, dx), _shift(labels, dy, dx, fill=BACKGROUND)
        nearer = (zq == 0) | (depth < zq)
        silhouette = fg & (lq != labels) & ((lq < BODY) | nearer)
        contour = fg & (lq == labels) & (zq > 0) & (zq - depth > depth_jump * depth)
        strength[silhouette | contour] = 1.0
    if crease_strength > 0:
        normals = normals_from_depth(depth, K, labels, max_rel_jump=depth_jump)
        cos_limit = math.cos(math.radians(crease_angle))
        for dy, dx in ((0, 1), (1, 0)):
            ok = fg & _continuous(depth, labels, dy, dx, depth_jump) & _continuous(depth, labels, -dy, -dx, depth_jump)
            n_a, n_b = _shift(normals, dy, dx), _shift(normals, -dy, -dx)
            defined = (np.abs(n_a).sum(-1) > 0) & (np.abs(n_b).sum(-1) > 0)
            crease = ok & defined & ((n_a * n_b).sum(-1) < cos_limit)
            strength[crease] = np.maximum(strength[crease], crease_strength)
    return strength


def ink(strength: np.ndarray, line_width: float = 1.0, blur_sigma: float = 0.5, gain: float = 1.4,
        paper: int = 255, ink_value: int = 20) -> np.ndarray:
    """Draw a line-strength map (H, W) in [0, 1] as dark lines on paper -> (H, W, 3) uint8 grey image.

    `line_width` (pixels) > 1.5 thickens lines with an odd, symmetric elliptical dilation; a Gaussian blur of
    `blur_sigma` pixels anti-aliases them and `gain` brings one-pixel lines back to full darkness.
    """
    import cv2
    lines = np.asarray(strength, dtype=np.float32)
    if line_width >= 1.5:
        size = 2 * int(round((line_width - 1) / 2.0)) + 1
        lines = cv2.dilate(lines, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    if blur_sigma > 0:
        lines = cv2.GaussianBlur(lines, (0, 0), blur_sigma, borderType=cv2.BORDER_REFLECT)
    lines = np.clip(lines * gain, 0.0, 1.0)
    grey = paper - lines * (paper - ink_value)
    grey = np.clip(np.round(grey), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


"""Amodal silhouettes of triangle meshes under a pinhole camera, and their IoU (the image-adherence render scores).

Owns the numpy triangle rasteriser: a pixel (row i, column j) with its centre at uv = (j, i) (OpenCV,
`project_points`) is covered when it lies inside a projected triangle, either winding, edges included
(the three edge functions e_k = (v - u)_x (y - u_y) - (v - u)_y (x - u_x) all >= 0 or all <= 0, not all 0:
a zero-area triangle covers nothing). Triangles with a vertex at depth <= near are dropped (no clipping).

The test runs on the pixel centres of each triangle's bounding box. e_k is a row term (v - u)_x (y - u_y) minus a
column term (v - u)_y (x - u_x), so a triangle's box is an outer difference of its rows and columns: the same
floating-point operations as a test per pixel, hence the same masks bit for bit. Triangles are grouped by padded
box size (padding rows / columns are NaN and never inside), laid out triangle-innermost, in cache-sized runs, and
many meshes (frames) are rasterised in one call (issue 23: about 2x the per-frame rasteriser it replaces, the same
masks; benchmarks/metric_throughput.py). Pure numpy, no framework glue.
"""
from typing import Union

import numpy as np
import torch

from imagin4d.rendering.camera import Camera, project_points

__all__ = ['rasterize_silhouette', 'rasterize_silhouettes', 'silhouette_iou', 'silhouette_ious']

#: Padded box sizes (pixels) of the triangle groups: steps of about sqrt(2), then powers of two.
_BOX_SIZES = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256])


def _np(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _box_bucket(size: np.ndarray) -> np.ndarray:
    """Index into _BOX_SIZES of each box side's padded size (the smallest entry >= size); len(_BOX_SIZES) beyond."""
    return np.searchsorted(_BOX_SIZES, size)


_BUCKETS = len(_BOX_SIZES) + 1
#: Group key of a box from its column and row counts clipped to [0, _BOX_SIZES[-1] + 1] (two look-ups instead of two
#: binary searches): 1 + bucket(columns) * _BUCKETS + bucket(rows), <= 0 for an empty box.
_KEY_COLS = np.concatenate([[-_BUCKETS ** 2], 1 + _box_bucket(np.arange(1, _BOX_SIZES[-1] + 2)) * _BUCKETS])
_KEY_ROWS = np.concatenate([[-_BUCKETS ** 2], _box_bucket(np.arange(1, _BOX_SIZES[-1] + 2))])


def _padded(bucket: int, sizes: np.ndarray) -> int:
    """The padded side of a bucket: its _BOX_SIZES entry, or the largest of `sizes` beyond the table."""
    return int(_BOX_SIZES[bucket]) if bucket < len(_BOX_SIZES) else int(sizes.max())


def _pixel_spans(ux: np.ndarray, uy: np.ndarray, front: np.ndarray, width: int, height: int) -> np.ndarray:
    """Per vertex, packed as 4 int16 in one int64 (one gather per triangle corner): the first pixel centre column at or
    after u (ceil(u - 1e-9)), the last at or before it (floor(u + 1e-9)), and the same rows of v, each clipped to
    [-1, size]; 0 behind the near plane (those faces are dropped). ceil / floor are monotone, so a triangle's box is
    [min of firsts, max of lasts], exactly [ceil(min - 1e-9), floor(max + 1e-9)]; the clipping changes no box
    inside the image."""
    spans = np.zeros((len(ux), 4), dtype=np.int16)
    with np.errstate(invalid='ignore'):
        for k, (coord, limit, step) in enumerate(((ux, width, -1e-9), (ux, width, 1e-9), (uy, height, -1e-9),
                                                  (uy, height, 1e-9))):
            value = np.ceil(coord + step) if step < 0 else np.floor(coord + step)
            np.maximum(value, -1, out=value)                    # NaN (behind the camera) stays NaN
            np.minimum(value, limit, out=value)
            value[~front] = 0
            spans[:, k] = value
    return spans.view(np.int64)[:, 0]


def _fill_group(flat: np.ndarray, width: int, xs: np.ndarray, ys: np.ndarray, lo: np.ndarray, size: np.ndarray,
                base: np.ndarray, box_w: int, box_h: int) -> None:
    """Mark the covered pixels of n triangles whose boxes fit box_h x box_w.

    flat: the masks raveled (N * H * W,) bool, updated in place; width: W; xs, ys (3, n) corner pixel coordinates;
    lo (2, n) first column / row of each box, size (2, n) its columns / rows; base (n,) flat index of pixel lo.
    Arrays are laid out (box row, box column, triangle): the long axis innermost.
    """
    cols = np.arange(box_w)[:, None]
    rows = np.arange(box_h)[:, None]
    x = (lo[0] + cols).astype(np.float64)                         # (box_w, n) pixel centres
    y = (lo[1] + rows).astype(np.float64)                         # (box_h, n)
    if box_w > 1:
        x = np.where(cols < size[0], x, np.nan)                   # padding: every comparison False
    if box_h > 1:
        y = np.where(rows < size[1], y, np.nan)
    low = high = None
    for k in range(3):
        u, v = k, (k + 1) % 3
        row_term = (xs[v] - xs[u]) * (y - ys[u])                  # (box_h, n)
        col_term = (ys[v] - ys[u]) * (x - xs[u])                  # (box_w, n)
        edge = row_term[:, None] - col_term[None]                 # (box_h, box_w, n)
        low = edge if low is None else np.minimum(low, edge)
        high = edge if high is None else np.maximum(high, edge)
    # all >= 0 or all <= 0, not both (all == 0: degenerate); NaN fails both
    inside = (low >= 0) != (high <= 0)
    r, c, t = np.nonzero(inside)
    flat[base[t] + r * width + c] = True


def _fill_triangles(flat: np.ndarray, H: int, W: int, V: int, ux: np.ndarray, uy: np.ndarray, spans: np.ndarray,
                    ids: np.ndarray, max_pairs: int) -> None:
    """Mark the pixels covered by the triangles ids (3, n) (vertex ids into ux, uy, spans of N meshes of V vertices;
    `_pixel_spans`): boxes from the corner spans, then one `_fill_group` per padded box size."""
    corner_spans = [spans[i].view(np.int16).reshape(-1, 4) for i in ids]  # 3 x (n, 4)
    lo = np.stack([np.maximum(np.minimum(np.minimum(corner_spans[0][:, k], corner_spans[1][:, k]),
                                         corner_spans[2][:, k]), 0) for k in (0, 2)])    # (2, n) first column, row
    hi = np.stack([np.minimum(np.maximum(np.maximum(corner_spans[0][:, k], corner_spans[1][:, k]),
                                         corner_spans[2][:, k]), m) for k, m in ((1, W - 1), (3, H - 1))])
    size = hi - lo + 1                                                      # (2, n) columns, rows
    buckets, limit = _BUCKETS, _BOX_SIZES[-1] + 1
    # boxes holding a pixel centre, grouped by padded size (key 0: empty box)
    key = np.maximum(_KEY_COLS[np.clip(size[0], 0, limit)] + _KEY_ROWS[np.clip(size[1], 0, limit)], 0)
    counts = np.bincount(key, minlength=1 + buckets * buckets)
    order = np.argsort(key.astype(np.int16), kind='stable')[counts[0]:]     # radix sort of small integers
    ids, lo, size = ids[:, order], lo[:, order].astype(np.int64), size[:, order]
    base = (ids[0] // V).astype(np.int64) * (H * W) + lo[1] * W + lo[0]    # mesh, first row and column
    ux, uy = ux[ids], uy[ids]                                               # (3, n') corner coordinates
    ends = np.cumsum(counts[1:])
    for k in np.flatnonzero(counts[1:]):
        start, stop = ends[k] - counts[k + 1], ends[k]
        box_w, box_h = _padded(k // buckets, size[0, start:stop]), _padded(k % buckets, size[1, start:stop])
        step = max(1, max_pairs // (box_w * box_h))
        for s in range(start, stop, step):
            m = slice(s, min(s + step, stop))
            _fill_group(flat, W, ux[:, m], uy[:, m], lo[:, m], size[:, m], base[m], box_w, box_h)


def rasterize_silhouettes(camera: Camera, verts: Union[np.ndarray, torch.Tensor], faces,
                          near: float = 0.05, max_pairs: int = 1 << 14, chunk: int = 1 << 17) -> np.ndarray:
    """Amodal silhouettes of N posed copies of one triangle mesh: verts (N, V, 3) world, faces (F, 3) ->
    bool (N, H, W) at the camera's image size (the module docstring's coverage rule).

    Work is chunked (cache-sized): `chunk` triangles at a time, and at most about `max_pairs` pixel-triangle tests
    held at once.
    """
    verts, faces = _np(verts), _np(faces, np.int64)
    if verts.ndim != 3 or verts.shape[-1] != 3 or faces.ndim != 2 or faces.shape[-1] != 3:
        raise ValueError(f'rasterize_silhouettes needs verts (N, V, 3) and faces (F, 3), got {verts.shape} and '
                         f'{faces.shape}')
    (N, V, _), F, H, W = verts.shape, len(faces), camera.height, camera.width
    if max(H, W) >= 1 << 15:
        raise ValueError(f'rasterize_silhouettes: image {W}x{H} too large (pixel spans are int16)')
    flat = np.zeros(N * H * W, dtype=bool)
    if N * F == 0:
        return flat.reshape(N, H, W)
    projected = [project_points(camera, v) for v in verts]               # one mesh at a time, as a single mesh
    ux = np.concatenate([uv[:, 0] for uv, _ in projected])               # (N V,) all meshes' vertices
    uy = np.concatenate([uv[:, 1] for uv, _ in projected])
    front = np.concatenate([depth for _, depth in projected]) > near
    index = np.int32 if N * V < 2 ** 31 else np.int64
    ids = (faces.T.astype(index)[:, None, :] + (np.arange(N, dtype=index) * V)[:, None]).reshape(3, N * F)
    if not front.all():
        ids = ids[:, front[ids].all(0)]
    spans = _pixel_spans(ux, uy, front, W, H)
    for start in range(0, ids.shape[1], chunk):              # cache-sized runs of triangles
        _fill_triangles(flat, H, W, V, ux, uy, spans, ids[:, start:start + chunk], max_pairs)
    return flat.reshape(N, H, W)


def rasterize_silhouette(camera: Camera, verts: Union[np.ndarray, torch.Tensor], faces, near: float = 0.05,
                         max_pairs: int = 1 << 16) -> np.ndarray:
    """Amodal silhouette of one triangle mesh: verts (V, 3) world, faces (F, 3) -> bool (H, W)
    (`rasterize_silhouettes` of one mesh)."""
    return rasterize_silhouettes(camera, _np(verts)[None], faces, near, max_pairs)[0]


def silhouette_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks; NaN when both are empty."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float('nan')


def silhouette_ious(reference: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """IoU of each mask with one reference mask: reference (H, W), masks (N, H, W) bool -> (N,) float64, NaN where
    both are empty (the values of `silhouette_iou`)."""
    inter = np.count_nonzero(np.logical_and(masks, reference).reshape(len(masks), -1), axis=1)
    union = np.count_nonzero(np.logical_or(masks, reference).reshape(len(masks), -1), axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)

"""The silhouette rasteriser against a hand-computed mask and against a straightforward per-triangle, whole-image
reference (the same coverage rule, no bounding boxes, no grouping) on hand-made and random meshes and cameras."""
import math

import numpy as np
import pytest

from imagin4d.evaluation.functional.silhouette import (
    rasterize_silhouette,
    rasterize_silhouettes,
    silhouette_iou,
    silhouette_ious,
)
from imagin4d.rendering.camera import Camera, camera_rng, project_points, sample_camera

# A camera at the origin looking along +z with f = 1 and the principal point at (0, 0): a point (x, y, 1) projects
# exactly to the pixel coordinates uv = (x, y), so triangles can be written in pixels.
PIXEL_K = np.eye(3)


def pixel_camera(width: int, height: int) -> Camera:
    return Camera(PIXEL_K, np.eye(4), width, height)


def pixel_mesh(corners_uv) -> tuple:
    """Triangles given by their pixel corners (F, 3, 2) -> verts (3F, 3) at depth 1, faces (F, 3)."""
    uv = np.asarray(corners_uv, dtype=np.float64).reshape(-1, 2)
    verts = np.concatenate([uv, np.ones((len(uv), 1))], 1)
    return verts, np.arange(len(uv)).reshape(-1, 3)


def reference_silhouette(camera: Camera, verts, faces, near: float = 0.05) -> np.ndarray:
    """Every triangle against every pixel centre of the image: covered when the three edge functions are all >= 0
    or all <= 0 and not all 0; triangles with a corner at depth <= near dropped."""
    H, W = camera.height, camera.width
    uv, depth = project_points(camera, np.asarray(verts, dtype=np.float64))
    y, x = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing='ij')
    mask = np.zeros((H, W), dtype=bool)
    for face in np.asarray(faces):
        if not (depth[face] > near).all():
            continue
        corners = uv[face]
        edges = [(v[0] - u[0]) * (y - u[1]) - (v[1] - u[1]) * (x - u[0])
                 for u, v in ((corners[k], corners[(k + 1) % 3]) for k in range(3))]
        positive = (edges[0] >= 0) & (edges[1] >= 0) & (edges[2] >= 0)
        negative = (edges[0] <= 0) & (edges[1] <= 0) & (edges[2] <= 0)
        zero = (edges[0] == 0) & (edges[1] == 0) & (edges[2] == 0)
        mask |= (positive | negative) & ~zero
    return mask


def test_hand_computed_triangle_both_windings_degenerate_and_behind():
    """Corners (1, 1), (5, 1), (1, 5): the pixel centres (j, i) with j, i >= 1 and (j - 1) + (i - 1) <= 4, edges
    included: rows 1..5 hold 5, 4, 3, 2, 1 pixels (15)."""
    camera = pixel_camera(8, 7)
    expected = np.zeros((7, 8), dtype=bool)
    for i in range(1, 6):
        expected[i, 1:1 + 6 - i] = True
    for corners in ([(1, 1), (5, 1), (1, 5)], [(1, 1), (1, 5), (5, 1)]):
        verts, faces = pixel_mesh([corners])
        np.testing.assert_array_equal(rasterize_silhouette(camera, verts, faces), expected)
    assert expected.sum() == 15
    collinear, faces = pixel_mesh([[(1, 1), (3, 3), (5, 5)]])           # zero area through pixel centres
    assert not rasterize_silhouette(camera, collinear, faces).any()
    point, faces = pixel_mesh([[(2, 2), (2, 2), (2, 2)]])
    assert not rasterize_silhouette(camera, point, faces).any()
    verts, faces = pixel_mesh([[(1, 1), (5, 1), (1, 5)]])
    verts[0, 2] = 0.04                                                   # one corner in front of the near plane
    assert not rasterize_silhouette(camera, verts, faces).any()


def test_triangles_partly_outside_the_image_and_covering_it():
    camera = pixel_camera(10, 6)
    verts, faces = pixel_mesh([[(-3.0, -2.0), (4.0, -2.0), (-3.0, 3.0)],     # clipped at the top-left corner
                               [(-50.0, -50.0), (400.0, -50.0), (-50.0, 400.0)]])   # covers the whole image
    np.testing.assert_array_equal(rasterize_silhouette(camera, verts, faces[:1]),
                                  reference_silhouette(camera, verts, faces[:1]))
    assert rasterize_silhouette(camera, verts, faces).all()
    off, faces = pixel_mesh([[(20.0, 1.0), (30.0, 1.0), (20.0, 5.0)]])     # right of the image
    assert not rasterize_silhouette(camera, off, faces).any()
    camera = pixel_camera(300, 280)                                         # boxes wider than the size table
    verts, faces = pixel_mesh([[(3.2, 1.0), (297.5, 140.0), (10.0, 279.0)], [(0.0, 0.0), (299.0, 0.5), (150.0, 2.0)]])
    expected = reference_silhouette(camera, verts, faces)
    assert expected.sum() > 20000
    np.testing.assert_array_equal(rasterize_silhouette(camera, verts, faces), expected)


@pytest.mark.parametrize('seed', range(6))
def test_random_pixel_triangles_on_the_grid_match_the_reference(seed):
    """Corners on the half-pixel grid (edges through pixel centres, shared edges, slivers, zero-area triangles) and
    sizes from sub-pixel to larger than the image."""
    rng = np.random.default_rng(seed)
    W, H = int(rng.integers(5, 40)), int(rng.integers(5, 40))
    camera = pixel_camera(W, H)
    corners = []
    for scale in (1.0, 3.0, 8.0, 60.0, 700.0):
        centre = rng.uniform(-5, [W + 5, H + 5], size=(12, 1, 2))
        corners.append(np.round(2 * (centre + rng.normal(0, scale, size=(12, 3, 2)))) / 2)
    corners.append(np.repeat(rng.integers(0, [W, H], size=(4, 1, 2)), 3, 1).astype(float))    # points
    verts, faces = pixel_mesh(np.concatenate(corners))
    expected = reference_silhouette(camera, verts, faces)
    np.testing.assert_array_equal(rasterize_silhouette(camera, verts, faces), expected)
    np.testing.assert_array_equal(rasterize_silhouette(camera, verts, faces, max_pairs=7), expected)  # tiny chunks


@pytest.mark.parametrize('seed', range(3))
def test_random_meshes_under_sampled_cameras_match_the_reference_and_batch(seed):
    """Random 3D triangle soups around a body-sized volume under the reference cameras; N meshes in one call give
    the masks of N single calls; some vertices behind the near plane."""
    rng = np.random.default_rng(100 + seed)
    camera = sample_camera(camera_rng(seed), (0.0, 0.0, 1.0), width=48, height=40)
    faces = rng.integers(0, 60, size=(80, 3))
    meshes = rng.normal([0.0, 0.0, 1.0], [0.4, 0.4, 0.6], size=(4, 60, 3))
    meshes[3, :20] = camera.position + 0.01 * camera.forward              # at the camera: dropped triangles
    batch = rasterize_silhouettes(camera, meshes, faces)
    assert batch.shape == (4, 40, 48) and batch.any()
    for verts, mask in zip(meshes, batch):
        np.testing.assert_array_equal(mask, reference_silhouette(camera, verts, faces))
        np.testing.assert_array_equal(mask, rasterize_silhouette(camera, verts, faces))


def test_ious_of_many_masks_are_the_single_ious():
    rng = np.random.default_rng(3)
    reference = rng.random((9, 11)) < 0.4
    masks = rng.random((5, 9, 11)) < 0.4
    masks[1] = reference
    masks[2] = False
    ious = silhouette_ious(reference, masks)
    np.testing.assert_array_equal(ious, [silhouette_iou(reference, m) for m in masks])
    assert ious[1] == 1.0 and ious[2] == 0.0
    empty = silhouette_ious(np.zeros((9, 11), bool), masks[2:3])
    assert math.isnan(empty[0]) and math.isnan(silhouette_iou(masks[2], masks[2]))


def test_bad_shapes_name_what_was_expected():
    with pytest.raises(ValueError, match=r'verts \(N, V, 3\) and faces \(F, 3\)'):
        rasterize_silhouettes(pixel_camera(4, 4), np.zeros((5, 3)), np.zeros((1, 3), int))

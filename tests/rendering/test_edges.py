"""Line extraction math on synthetic depth/label maps (no rendering)."""
import numpy as np

from imagin4d.rendering.edges import BACKGROUND, BODY, FLOOR, OBJECT, ink, normals_from_depth, sketch_lines

K = np.array([[50.0, 0, 31.5], [0, 50.0, 31.5], [0, 0, 1]])


def _plane_depth(normal, offset, size=64):
    """Depth of the plane n . X = offset seen through K (camera frame)."""
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    return offset / (rays @ np.asarray(normal, float))


def test_normals_from_depth_of_a_plane():
    n = np.array([0.3, -0.4, -1.0])
    n /= np.linalg.norm(n)
    depth = _plane_depth(n, -2.0)
    normals = normals_from_depth(depth, K)
    inner = normals[1:-1, 1:-1].reshape(-1, 3)
    assert np.abs(inner - n).max() < 1e-4  # oriented towards the camera (n_z < 0)
    depth[:, :10] = 0.0  # background: undefined normals
    assert np.all(normals_from_depth(depth, K)[:, :10] == 0)


def test_sketch_lines_square_outline_and_box_crease():
    depth = np.zeros((64, 64))
    labels = np.full((64, 64), BACKGROUND, np.uint8)
    labels[20:40, 20:40] = OBJECT
    depth[20:40, 20:40] = 2.0
    s = sketch_lines(depth, labels, K, floor_outline=0.0)
    outline = np.zeros((64, 64), bool)
    outline[20:40, 20:40] = True
    outline[21:39, 21:39] = False
    assert np.array_equal(s > 0, outline)  # one-pixel silhouette on the object side
    # two faces of a "box" meeting at a 90 degree edge along column 31/32: a crease line appears there
    v, u = np.mgrid[0:64, 0:64]
    roof = 2.0 + 0.02 * np.abs(u - 31.5)
    labels[:] = OBJECT
    creases = sketch_lines(roof, labels, K, crease_angle=20.0, floor_outline=0.0)
    cols = np.flatnonzero(creases[32] > 0)
    assert set(cols) - {0, 63} <= {30, 31, 32, 33} and len(set(cols) & {31, 32}) > 0


def test_sketch_lines_occluding_contour_on_the_near_side_and_floor_rim():
    depth = np.full((64, 64), 3.0)
    labels = np.full((64, 64), BODY, np.uint8)
    depth[:, 32:] = 2.0  # the right half is 1 m nearer: a contour on its first column
    s = sketch_lines(depth, labels, K, crease_strength=0.0, floor_outline=0.0)
    inner = s[1:-1]  # the image border is a silhouette (outside counts as background)
    assert np.all(inner[:, 32] == 1.0)
    assert inner[:, 1:32].max() == 0 and inner[:, 33:-1].max() == 0
    floor = np.full((64, 64), FLOOR, np.uint8)
    floor[:20] = BACKGROUND
    rim = sketch_lines(np.where(floor == FLOOR, 4.0, 0.0), floor, K, floor_outline=0.5)
    assert np.all(rim[20] == 0.5) and rim.sum() == 0.5 * 64


def test_sketch_lines_flip_equivariant():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(48, 48)).astype(np.uint8)
    labels = np.repeat(np.repeat(labels[::6, ::6], 6, 0), 6, 1)
    depth = np.where(labels > 0, rng.uniform(1.0, 4.0, size=labels.shape).round(1), 0.0)
    Kc = np.array([[40.0, 0, 23.5], [0, 40.0, 23.5], [0, 0, 1]])
    a = sketch_lines(depth, labels, Kc)
    b = sketch_lines(depth[:, ::-1], labels[:, ::-1], Kc)
    assert np.array_equal(a[:, ::-1], b)


def test_ink_black_lines_on_white():
    s = np.zeros((32, 32), np.float32)
    s[16, 4:28] = 1.0
    img = ink(s)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert img[16, 16].max() <= 40 and img[0, 0].min() == 255 and img[14, 16].min() > 200
    thick = ink(s, line_width=3.0)
    assert thick[15, 16].max() < 100  # dilated by one pixel each side

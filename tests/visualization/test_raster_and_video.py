"""The numpy/OpenCV rasteriser (cameras, occlusion order, mesh simplification) and the video writers."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from imagin4d.body_models.skeletons import JOINTS24_NAMES
from imagin4d.rendering import Camera, intrinsics_from_fov, look_at_world_to_cam, project_points
from imagin4d.visualization import (
    DRAW_STYLE,
    draw_hoi_frame,
    encode_gif,
    overview_camera,
    scale_camera,
    simplify_mesh,
    video_encoder,
    write_video,
)

SIZE = 64


def _camera(size=SIZE, eye=(0.0, -3.0, 1.0), target=(0.0, 0.0, 1.0)):
    return Camera(K=intrinsics_from_fov(50.0, size, size), world_to_cam=look_at_world_to_cam(eye, target),
                  width=size, height=size)


def _standing_joints(x=0.0, y=0.0):
    """A crude joints24 pose in the plane y: joint k at height 0.2 + k / 23 * 1.5 m; the centre joints at x, the
    left ones at x - 0.4, the right ones at x + 0.4 (so the spine bones alone cover x)."""
    joints = np.zeros((24, 3))
    side = np.array([-0.4 if n.startswith('left') else 0.4 if n.startswith('right') else 0.0 for n in JOINTS24_NAMES])
    joints[:, 0], joints[:, 1] = x + side, y
    joints[:, 2] = np.linspace(0.2, 1.7, 24)
    return joints


SPINE_POINT = (0.0, 0.0, 0.2 + 4.5 / 23 * 1.5)                     # between spine1 (3) and spine2 (6)


def _quad(centre, half=0.3):
    """A square facing the y axis (2 triangles) centred at `centre`."""
    cx, cy, cz = centre
    verts = np.array([[cx - half, cy, cz - half], [cx + half, cy, cz - half], [cx + half, cy, cz + half],
                      [cx - half, cy, cz + half]])
    return verts, np.array([[0, 1, 2], [0, 2, 3]])


def test_scale_camera_keeps_pixel_centres():
    camera = _camera(size=96)
    bigger = scale_camera(camera, 192, 144)
    points = np.array([[0.1, 0.2, 1.1], [-0.3, 0.5, 0.7]])
    uv, _ = project_points(camera, points)
    uv2, _ = project_points(bigger, points)
    # pixel centre u maps to (u + 0.5) * scale - 0.5 (OpenCV convention: pixel k covers [k - 0.5, k + 0.5])
    np.testing.assert_allclose(uv2[:, 0], (uv[:, 0] + 0.5) * 2.0 - 0.5, atol=1e-9)
    np.testing.assert_allclose(uv2[:, 1], (uv[:, 1] + 0.5) * 1.5 - 0.5, atol=1e-9)


def test_overview_camera_sees_every_point():
    points = np.random.default_rng(0).uniform([-1, -2, 0], [3, 1, 2], size=(200, 3))
    camera = overview_camera(points, 80, 60)
    uv, depth = project_points(camera, points)
    assert (depth > 0).all()
    assert (uv[:, 0] >= 0).all() and (uv[:, 0] <= 79).all() and (uv[:, 1] >= 0).all() and (uv[:, 1] <= 59).all()


@pytest.mark.parametrize('object_in_front', [True, False])
def test_painter_order_between_object_and_skeleton(object_in_front):
    camera = _camera()
    joints = _standing_joints()
    verts, faces = _quad((0.0, -0.5 if object_in_front else 0.5, SPINE_POINT[2]))   # the camera looks along +y
    canvas = np.full((SIZE, SIZE, 3), 255, np.uint8)
    draw_hoi_frame(canvas, camera, joints, verts, faces, style=dict(bone_radius=0.08))   # bones 4 px wide
    ((u, v),), _ = project_points(camera, [SPINE_POINT])
    pixel = canvas[int(round(v)), int(round(u))].astype(int)
    spine = np.array(DRAW_STYLE['centre'])
    if object_in_front:
        assert pixel[0] > 200 and pixel[2] < 120                 # the (shaded) yellow of the object
    else:
        np.testing.assert_allclose(pixel, spine, atol=3)          # the spine bone


def test_geometry_behind_the_camera_is_skipped():
    camera = _camera()
    verts, faces = _quad((0.0, -3.5, 1.0))                         # behind the camera
    joints = _standing_joints(y=-4.0)
    canvas = np.full((SIZE, SIZE, 3), 255, np.uint8)
    draw_hoi_frame(canvas, camera, joints, verts, faces, contacts=np.ones(4))
    assert (canvas == 255).all()
    draw_hoi_frame(canvas, camera, floor_centre=(0.0, 0.0))      # only a floor grid: some grey lines
    assert (canvas != 255).any() and (canvas[..., 0] == canvas[..., 2]).all()


def test_contact_discs_mark_the_contact_joints():
    camera = _camera()
    joints = _standing_joints()
    joints[22] = [0.4, 0.0, 1.0]                                   # left hand, away from the other joints
    base = draw_hoi_frame(np.full((SIZE, SIZE, 3), 255, np.uint8), camera, joints, contacts=np.zeros(4))
    touch = draw_hoi_frame(np.full((SIZE, SIZE, 3), 255, np.uint8), camera, joints,
                           contacts=np.array([1.0, 0.0, 0.0, 0.0]))
    ((u, v),), _ = project_points(camera, joints[22:23])
    np.testing.assert_allclose(touch[int(round(v)), int(round(u))], DRAW_STYLE['contact'], atol=3)
    assert not np.allclose(base[int(round(v)), int(round(u))], DRAW_STYLE['contact'], atol=30)


def test_simplify_mesh_bounds_faces_and_keeps_shape():
    # a 40 x 40 grid on the unit square: 3200 faces
    n = 40
    xs, ys = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1))
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    same_v, same_f = simplify_mesh(verts, faces, 5000)
    assert same_v is not None and np.array_equal(same_f, faces)
    small_v, small_f = simplify_mesh(verts, faces, 300)
    assert 50 < len(small_f) <= 300 and small_f.max() < len(small_v)
    assert (small_f[:, 0] != small_f[:, 1]).all() and (small_f[:, 1] != small_f[:, 2]).all()
    # merged vertices are means of grid points: inside the square, reaching close to its corners
    assert small_v.min() >= 0 and small_v.max() <= 1 and small_v[:, :2].min() < 0.1 and small_v[:, :2].max() > 0.9
    # winding kept: every face normal still points along +z like the input's
    normals = np.cross(small_v[small_f[:, 1]] - small_v[small_f[:, 0]], small_v[small_f[:, 2]] - small_v[small_f[:, 0]])
    assert (normals[:, 2] > 0).all()


def _clip(frames=6, size=(24, 32)):
    clip = np.zeros((frames, *size, 3), np.uint8)
    for t in range(frames):
        clip[t, :, : 4 * (t + 1)] = (20, 200, 60)
    return clip


def test_gif_round_trip_keeps_mark_colours():
    clip = _clip()
    orange = (255, 128, 0)
    clip[3, :3, :] = orange                                        # a mark on one frame only
    gif = encode_gif(clip, fps=30, extra_colors=[orange])
    image = Image.open(io.BytesIO(gif))
    assert gif[:6] == b'GIF89a' and image.n_frames == len(clip) and image.info['duration'] == 30
    image.seek(3)
    decoded = np.asarray(image.convert('RGB'))
    np.testing.assert_array_equal(decoded[0, 0], orange)
    np.testing.assert_array_equal(decoded[10, 0], (20, 200, 60))


def test_write_video_mp4_or_gif(tmp_path):
    clip = _clip(frames=8, size=(23, 31))                          # odd size: padded for MP4
    fmt, encoder = video_encoder('mp4')
    path, used = write_video(str(tmp_path / 'clip.mp4'), clip, fps=30)
    assert used == encoder and path.endswith(f'.{fmt}')
    if fmt == 'mp4':
        capture = cv2.VideoCapture(path)
        count, frames = 0, []
        ok, frame = capture.read()
        while ok:
            frames.append(frame)
            count += 1
            ok, frame = capture.read()
        assert count == 8 and frames[0].shape[:2] == (24, 32)
        # lossy, but the green bar of frame 7 spans 32 columns and that of frame 0 only 4
        assert frames[7][12, 20, 1] > 150 and frames[0][12, 20, 1] < 60
    path, used = write_video(str(tmp_path / 'clip.gif'), clip, fps=15)
    assert path.endswith('.gif') and used == 'pillow'
    with pytest.raises(ValueError, match='format'):
        write_video(str(tmp_path / 'clip.avi'), clip)
    with pytest.raises(ValueError, match='uint8'):
        write_video(str(tmp_path / 'clip.gif'), clip.astype(np.float32))

"""Mesh video of an HOIResult: frame count and layout, reference panel, depicted-frame mark, body rendered where it
is, the camera frames everything, the MP4 reads back.

The renderer runs in a subprocess (the pytest process must not create an EGL context: later tests fork workers);
this process only computes geometry, cameras and layouts, which need no OpenGL.
"""
import pickle

import numpy as np
import pytest
from testing_utils import REPO, run_tool

pytestmark = pytest.mark.slow  # renders (software EGL on CPU machines)

SIZE, MP4_SIZE = 128, 96
MAGENTA = (255, 0, 255)

SCRIPT = '''
import pickle, sys
import numpy as np
from imagin4d.apis.exporters.video import render_result_frames, render_result_video
with open(sys.argv[1], 'rb') as f:
    job = pickle.load(f)
frames = render_result_frames(job['result'], reference_image=job['reference'], size=job['size'])
np.save(sys.argv[2], frames)
path, encoder = render_result_video(job['result'], sys.argv[3], size=job['mp4_size'])
print(path)
'''


def reference_image():
    """(90, 150, 4) RGBA: an opaque magenta rectangle in a transparent border (which must become white)."""
    image = np.zeros((90, 150, 4), np.uint8)
    image[20:70, 30:120] = (*MAGENTA, 255)
    return image


_RENDERED = {}  # one render per test session (gt_result is function-scoped)


@pytest.fixture
def video(gt_result, tmp_path_factory):
    """gt_result rendered by the real functions in a subprocess: frames (T, H, W, 3) and the MP4 path."""
    if not _RENDERED:
        tmp = tmp_path_factory.mktemp('video')
        with open(tmp / 'job.pkl', 'wb') as f:
            pickle.dump(dict(result=gt_result, reference=reference_image(), size=SIZE, mp4_size=MP4_SIZE), f)
        script = tmp / 'render.py'
        script.write_text(SCRIPT)
        out = run_tool([script, tmp / 'job.pkl', tmp / 'frames.npy', tmp / 'video.mp4'], cwd=REPO, timeout=600)
        _RENDERED.update(result=gt_result, frames=np.load(tmp / 'frames.npy'),
                         path=out.stdout.strip().splitlines()[-1])
    return _RENDERED


@pytest.fixture
def geometry(video):
    from imagin4d.apis.exporters.video import result_geometry
    return result_geometry(video['result'])


def test_frame_count_and_layout(video):
    from imagin4d.apis.exporters.video import video_layout
    frames, layout = video['frames'], video_layout(SIZE, with_reference=True)
    assert frames.dtype == np.uint8
    assert frames.shape == (video['result'].num_frames, layout['height'], layout['width'], 3)
    assert layout['width'] == 2 * SIZE and layout['panel_h'] == SIZE and layout['render_x0'] == SIZE


def test_reference_panel_shows_the_image_padded_not_squashed(video):
    from imagin4d.apis.exporters.video import video_layout
    layout = video_layout(SIZE)
    top, pw, ph = layout['top'], layout['panel_w'], layout['panel_h']
    panel = video['frames'][0, top:top + ph, :pw].astype(int)
    magenta = (np.abs(panel - MAGENTA).sum(-1) < 40)
    rows, cols = np.nonzero(magenta)
    assert magenta.sum() > 0.1 * pw * ph
    # 150 x 90 padded to a square: the 90 x 50 rectangle keeps its 9:5 aspect and is centred
    aspect = (cols.max() - cols.min() + 1) / (rows.max() - rows.min() + 1)
    assert abs(aspect - 90 / 50) < 0.15 and abs((rows.min() + rows.max()) / 2 - ph / 2) < 3
    # transparent pixels and the padding are white; the render panel has no magenta
    assert (panel[5, 5] == 255).all() and (panel[ph // 2, 5] == 255).all()
    render = video['frames'][:, top:top + ph, pw:].astype(int)
    assert not (np.abs(render - MAGENTA).sum(-1) < 40).any()


def test_depicted_frame_is_marked_only_near_t_hat(video):
    from imagin4d.apis.exporters.video import MARK_HALF_WIDTH, video_layout
    from imagin4d.visualization.sample_render import MARK_COLORS
    frames, layout = video['frames'], video_layout(SIZE)
    t_hat, top, ph = int(round(video['result'].t_hat)), layout['top'], layout['panel_h']
    far = (t_hat + len(frames) // 2) % len(frames)
    assert abs(far - t_hat) > MARK_HALF_WIDTH

    def marked(t):   # the purple band along the render panel's left edge
        edge = frames[t, top + 4:top + ph - 4, layout['render_x0']].astype(int)
        return (np.abs(edge - MARK_COLORS['pred_t_star']).sum(-1) < 30).mean() > 0.9
    assert marked(t_hat) and marked(min(t_hat + MARK_HALF_WIDTH, len(frames) - 1))
    assert not marked(far)
    # the caption 't^ = ...' (bottom bar) and the badges (title bar) are written in the mark colour

    def purple_text(t, rows):
        bar = frames[t, rows].astype(int)
        return ((bar[..., 0] > 120) & (bar[..., 1] < 70) & (bar[..., 2] > 120)).sum()
    for rows in (slice(top + ph, None), slice(0, top)):
        assert purple_text(t_hat, rows) > 5 and purple_text(far, rows) == 0


def test_body_is_rendered_where_it_is(video, geometry):
    from imagin4d.apis.exporters.video import result_camera, video_layout
    from imagin4d.rendering import project_points
    frames, layout = video['frames'], video_layout(SIZE)
    camera = result_camera(video['result'], SIZE, SIZE, geometry)
    top, x0 = layout['top'], layout['render_x0']
    for t in (0, len(frames) // 2, len(frames) - 1):
        panel = frames[t, top:top + SIZE, x0:x0 + SIZE].astype(int)
        coloured = (panel.max(-1) - panel.min(-1)) > 40          # body (blue) or object (yellow): not white/grey
        assert coloured.sum() > 0.02 * SIZE * SIZE
        (u, v), = np.round(project_points(camera, geometry['joints24'][t, :1])[0]).astype(int)
        patch = coloured[v - 1:v + 2, u - 1:u + 2]
        assert patch.mean() > 0.5, f'frame {t}: pelvis pixel ({u}, {v}) is background'
    # the render changes with the motion
    assert not np.array_equal(frames[0, top:, x0:], frames[-1, top:, x0:])


def test_camera_frames_every_vertex_of_every_frame(video, geometry):
    from imagin4d.apis.exporters.video import result_camera
    from imagin4d.rendering import points_in_view
    camera = result_camera(video['result'], SIZE, SIZE, geometry)
    for t in range(video['result'].num_frames):
        assert points_in_view(camera, geometry['body_verts'][t]).all(), t
        assert points_in_view(camera, geometry['obj_verts'][t]).all(), t
    # it looks from above and from the body's front side
    assert camera.position[2] > geometry['body_verts'][..., 2].max()
    joints = geometry['joints24'][0]
    across = joints[1] - joints[2]
    facing = np.array([across[1], -across[0], 0.0])
    assert np.dot(camera.position - joints[0], facing) > 0


def test_mp4_is_written_and_reads_back(video):
    import cv2
    path = video['path']
    assert path.endswith('.mp4')
    capture = cv2.VideoCapture(path)
    count, shape = 0, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count, shape = count + 1, frame.shape
    capture.release()
    from imagin4d.apis.exporters.video import video_layout
    layout = video_layout(MP4_SIZE, with_reference=False)
    assert count == video['result'].num_frames
    assert shape[:2] == (layout['height'] + layout['height'] % 2, layout['width'] + layout['width'] % 2)


def test_bad_input_is_refused_before_rendering(gt_result):
    import dataclasses

    from imagin4d.apis.exporters.video import _reference_panel, render_result_frames
    with pytest.raises(ValueError, match='reference_image must be'):
        render_result_frames(gt_result, reference_image=np.zeros((8, 8, 3), np.float64))
    with pytest.raises(ValueError, match='t_hat must be a finite'):
        render_result_frames(dataclasses.replace(gt_result, t_hat=float('nan')))
    with pytest.raises(TypeError, match='HOIResult'):
        render_result_frames(dict(gt_result.__dict__))
    with pytest.raises(ValueError, match='reference_image must be'):
        _reference_panel(np.zeros((10, 10, 2), np.uint8), 32, 32)
    with pytest.raises(ValueError, match='uint8'):
        _reference_panel(np.zeros((10, 10, 3), np.float32), 32, 32)
    gray = _reference_panel(np.full((10, 20), 7, np.uint8), 32, 32)
    assert gray.shape == (32, 32, 3) and (gray[16, 16] == 7).all() and (gray[0, 16] == 255).all()

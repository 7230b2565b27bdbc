"""The docs picture and video of a long interaction generated from a storyboard: each picture of the storyboard
beside the moment of the generated motion it depicts.

    python tools/analysis/storyboard_long_picture.py [--config work_dirs/demo/mini_fbm_sfie.py]
        [--checkpoint work_dirs/demo/iter_500.pth] [--long-root work_dirs/storyboard_picture/long] [--sequence 0]
        [--steps S] [--seed 0] [--out docs/storyboard_long.png] [--video docs/storyboard_long.mp4]
    # with a storyboard-trained checkpoint (scripts/storyboard_study.sh trains them)
    python tools/analysis/storyboard_long_picture.py --config projects/imagin4d/mini_fbm_storyboard.py \
        --checkpoint work_dirs/storyboard_study/storyboard/seed0/iter_2000.pth

The request is a mini-FBM long test sequence (written into --long-root if missing: `make_mini_fbm.py --long-test`,
3 chained carry-and-place segments, seed 0): its first sentence, object, waypoints and start body, and a storyboard
of one mesh-style picture per segment at that segment's depicted frame, each with its frame given
(`tools/generate.py --image P --image-frame F ...`; the pictures are `storyboard_study_long.long_requests`'s). The
picture (PNG): the storyboard on top, under each picture the generated motion at its frame (the camera in front of
the body, as the picture's), and at the bottom the whole motion from above-side with the object's path and the
body at each depicted frame. The video: the motion (a fixed camera over the whole motion) beside the picture of
the current segment, framed when the motion is within 10 frames of its depicted frame, with a timeline whose ticks
are the depicted frames. Writes the PNG, the video (MP4, or GIF where no MP4 encoder exists) and a JSON summary
(the request, windows, which images each window read, where each window placed them) next to the PNG.
"""
import argparse
import json
import math
import os
import os.path as osp
import shlex
import sys

import numpy as np

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

PANEL = 300
HIGHLIGHT = (230, 120, 20)
NEAR_FRAMES = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='work_dirs/demo/mini_fbm_sfie.py')
    parser.add_argument('--checkpoint', default='work_dirs/demo/iter_500.pth')
    parser.add_argument('--long-root', default='work_dirs/storyboard_picture/long',
                        help='a data root with long_test/ (written there if missing)')
    parser.add_argument('--sequence', type=int, default=0, help='which long test sequence (sorted by name)')
    parser.add_argument('--steps', type=int, default=None, help="sampling steps (default: the config's)")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--body-model-root', default=os.environ.get('IMAGIN4D_BODY_MODEL_DIR', 'data/body_models'))
    parser.add_argument('--out', default='docs/storyboard_long.png')
    parser.add_argument('--video', default='docs/storyboard_long.mp4', help='"none": no video')
    parser.add_argument('--video-step', type=int, default=2, help='every n-th frame in the video (15 fps for 2)')
    return parser.parse_args(argv)


def _label(image: np.ndarray, text: str, bar: int = 24) -> np.ndarray:
    """The image with a dark title bar on top (the project's video style)."""
    from imagin4d.visualization.sample_render import _BAR_COLOR, _put_text
    out = np.empty((image.shape[0] + bar, image.shape[1], 3), np.uint8)
    out[:bar] = _BAR_COLOR
    out[bar:] = image
    _put_text(out, text, 6, bar)
    return out


def _timeline(width: int, num_frames: int, frames, t=None) -> np.ndarray:
    """A 22-pixel bar over the whole motion with a tick at each storyboard frame (and a dot at frame t)."""
    import cv2
    bar = np.full((22, width, 3), 255, np.uint8)
    cv2.line(bar, (0, 11), (width - 1, 11), (190, 190, 190), 3)
    for f in frames:
        x = int(f / (num_frames - 1) * (width - 1))
        cv2.line(bar, (x, 2), (x, 20), HIGHLIGHT, 3)
    if t is not None:
        cv2.circle(bar, (int(t / (num_frames - 1) * (width - 1)), 11), 6, (40, 40, 40), -1)
    return bar


def strip_frames(num_frames: int, frames, count: int) -> list:
    """`count` evenly spaced frames of the motion, the nearest one to each storyboard frame replaced by it."""
    out = [int(round(v)) for v in np.linspace(0, num_frames - 1, count)]
    for f in frames:
        out[int(np.argmin([abs(v - f) for v in out]))] = int(f)
    return out


def _frame(image: np.ndarray, color=HIGHLIGHT, width: int = 5) -> np.ndarray:
    out = image.copy()
    out[:width], out[-width:], out[:, :width], out[:, -width:] = color, color, color, color
    return out


def _object_verts(result, mesh, t: int) -> np.ndarray:
    return result.obj_scale * np.asarray(mesh.vertices) @ result.obj_rot[t].T + result.obj_trans[t]


def _moment(result, mesh, faces, t: int, size: int) -> np.ndarray:
    """The generated state at frame t seen from in front of the body (azimuth 25 degrees off its facing)."""
    import torch

    from imagin4d.geometry import body_heading
    from imagin4d.visualization.raster import draw_hoi_frame, overview_camera
    verts = _object_verts(result, mesh, t)
    facing = body_heading(torch.as_tensor(result.joints[t])).numpy()
    azimuth = math.degrees(math.atan2(facing[1], facing[0])) + 25.0
    camera = overview_camera(np.concatenate([result.joints[t], verts]), size, size, azimuth_deg=azimuth,
                             elevation_deg=18.0, margin=1.25)
    canvas = np.full((size, size, 3), 255, np.uint8)
    return draw_hoi_frame(canvas, camera, result.joints[t], verts, faces, result.contacts[t],
                          floor_centre=result.joints[t, 0, :2])


def _overview(result, width: int, height: int):
    """A camera seeing the whole motion and the object's path."""
    from imagin4d.visualization.raster import overview_camera
    points = np.concatenate([result.joints.reshape(-1, 3), np.asarray(result.meta['object_centre'])])
    return overview_camera(points, width, height, azimuth_deg=60.0, elevation_deg=40.0, margin=1.0)


def picture(result, mesh, faces, pictures, frames, strip: int = 9) -> np.ndarray:
    """The docs picture (see the module docstring)."""
    import cv2
    top = [_label(cv2.resize(p[..., :3], (PANEL, PANEL), interpolation=cv2.INTER_AREA),
                  f'storyboard {k + 1}: frame {f}') for k, (p, f) in enumerate(zip(pictures, frames))]
    middle = [_label(_moment(result, mesh, faces, f, PANEL), f'generated, frame {f}') for f in frames]
    width = PANEL * len(frames)
    thumb = width // strip
    shots = strip_frames(result.num_frames, frames, strip)
    row = [_moment(result, mesh, faces, t, thumb) for t in shots]
    row = [_frame(img, width=3) if t in frames else img for img, t in zip(row, shots)]
    film = np.full((thumb, width, 3), 255, np.uint8)
    film[:, :thumb * strip] = np.concatenate(row, 1)
    bottom = _label(film, f'the whole motion, {result.num_frames} frames ({result.num_frames / 30:.1f} s); framed: '
                          'the storyboard frames')
    return np.concatenate([np.concatenate(top, 1), np.concatenate(middle, 1), bottom,
                           _timeline(width, result.num_frames, frames)], 0)


def video_frames(result, mesh, faces, pictures, frames, step: int) -> np.ndarray:
    """(T', H, W, 3) frames of the video (see the module docstring)."""
    import cv2

    from imagin4d.visualization.raster import draw_hoi_frame
    size = 360
    camera = _overview(result, size, size)
    floor = (result.joints[:, 0, :2].min(0) + result.joints[:, 0, :2].max(0)) / 2
    small = [cv2.resize(p[..., :3], (size, size), interpolation=cv2.INTER_AREA) for p in pictures]
    bounds = [0] + [(a + b) // 2 for a, b in zip(frames, frames[1:])] + [result.num_frames]
    out = []
    T = result.num_frames
    for t in range(0, T, step):
        motion = draw_hoi_frame(np.full((size, size, 3), 255, np.uint8), camera, result.joints[t],
                                _object_verts(result, mesh, t), faces, result.contacts[t], floor_centre=floor)
        k = next(i for i in range(len(frames)) if bounds[i] <= t < bounds[i + 1])
        shown = _frame(small[k]) if abs(t - frames[k]) <= NEAR_FRAMES else small[k]
        row = np.concatenate([_label(motion, f'generated, frame {t}'),
                              _label(shown, f'storyboard {k + 1} (frame {frames[k]})')], 1)
        bar = _timeline(row.shape[1], T, frames, t)
        out.append(np.concatenate([row, bar], 0))
    return np.stack(out)


def main(argv=None):
    args = parse_args(argv)
    import trimesh

    import imagin4d  # noqa: F401
    from imagin4d.apis import HOIInferencer
    from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR, LONG_TEST_VERSION, build_long_test
    from imagin4d.engine.storyboard_study_long import long_requests
    from imagin4d.visualization.video_io import write_image, write_video
    index_file = osp.join(args.long_root, LONG_TEST_DIR, 'index.json')
    version = json.load(open(index_file)).get('version') if osp.isfile(index_file) else None
    if version != LONG_TEST_VERSION:
        build_long_test(args.long_root, args.body_model_root, num=args.sequence + 1, segments=3, seed=0)
    cache = osp.join(osp.dirname(osp.abspath(args.long_root)), 'pictures')
    request = long_requests(args.long_root, 'board', args.sequence + 1, cache, args.body_model_root,
                            args.steps)[args.sequence]
    request.seed = args.seed
    inferencer = HOIInferencer(args.config, args.checkpoint, body_model_root=args.body_model_root)
    result = inferencer([request])[0][0]
    mesh = trimesh.load(request.object_mesh, force='mesh', process=False)
    faces = np.asarray(mesh.faces)
    from PIL import Image
    pictures = [np.asarray(Image.open(p).convert('RGB')) for p in request.images]
    frames = list(request.frames)
    png = write_image(args.out, picture(result, mesh, faces, pictures, frames))
    written = [png]
    if args.video != 'none':
        path, encoder = write_video(args.video, video_frames(result, mesh, faces, pictures, frames, args.video_step),
                                    fps=30 / args.video_step)
        written.append(f'{path} ({encoder}, {os.path.getsize(path) / 1e6:.2f} MB)')
    summary = dict(command=shlex.join(['python', 'tools/analysis/storyboard_long_picture.py',
                                       *(sys.argv[1:] if argv is None else argv)]),
                   config=args.config, checkpoint=args.checkpoint, sequence=request.name, text=request.text,
                   num_frames=int(result.num_frames), images=[osp.basename(p) for p in request.images],
                   frames=frames, windows=result.meta.get('windows'), window_images=result.meta.get('window_images'),
                   window_t_hat=result.meta.get('window_t_hat'), seed=args.seed)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(summary, f, indent=1, default=lambda v: np.asarray(v).tolist())
    print('storyboard picture: ' + '; '.join(written))


if __name__ == '__main__':
    from imagin4d.engine.runner_setup import run_cli
    run_cli(main)

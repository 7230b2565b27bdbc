"""Render evaluated samples (a tools/test.py --dump file) as videos: reference image | ground truth | generated.

    python tools/visualize.py RESULTS.npz --out DIR [--index i ...|--limit N] [--format mp4|gif] [--fps 30]
        [--panel-size 256] [--camera reference|overview] [--no-gt]
    python tools/visualize.py --pair A.npz B.npz --out DIR [--names original mirrored] [...]

Writes per sample `<k>_<seq_name>.mp4` (or .gif) and `<k>_<seq_name>.png` (the depicted frame t*, bordered in
orange; SFIE's predicted frame t^ is bordered in purple in the video), plus `contact_sheet.png`: the depicted frames
of all written samples, one row each. MP4 is written with imageio-ffmpeg (H.264) when installed, else with OpenCV's
FFmpeg ('mp4v'), else a GIF is written instead; the tool prints which.
`--pair` puts two dumps of the same windows side by side (A: reference | generated, B: reference | generated),
e.g. tools/analysis/mirror_test.py --dump-dir's original.npz and mirrored.npz; samples are matched by window.
"""
import argparse
import os
import os.path as osp
import re
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import numpy as np  # noqa: E402

from imagin4d.engine.runner_setup import run_cli  # noqa: E402
from imagin4d.evaluation.metrics import read_dump  # noqa: E402
from imagin4d.utils.errors import UserError  # noqa: E402
from imagin4d.visualization import MARK_COLORS, render_hoi_sample, video_encoder, write_image, write_video  # noqa: E402
from imagin4d.visualization.hoi_visualizer import HOIVisualizer  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('results', nargs='?', help='a tools/test.py --dump file')
    parser.add_argument('--pair', nargs=2, metavar=('A.npz', 'B.npz'), help='two dumps side by side')
    parser.add_argument('--names', nargs=2, metavar=('A', 'B'), help='panel titles of --pair (default: file stems)')
    parser.add_argument('--out', required=True, help='output folder')
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--index', type=int, nargs='+', help='sample indices to render')
    which.add_argument('--limit', type=int, help='render the first N samples')
    parser.add_argument('--format', choices=('mp4', 'gif'), default='mp4', help='video format (default mp4)')
    parser.add_argument('--fps', type=float, default=30.0, help='playback frame rate (default 30)')
    parser.add_argument('--panel-size', type=int, default=256, help='panel width in pixels (default 256)')
    parser.add_argument('--camera', choices=('reference', 'overview'), default='reference',
                        help='draw the motions from the reference camera (default) or an overview camera')
    parser.add_argument('--no-gt', action='store_true', help='leave out the ground-truth panel')
    args = parser.parse_args(argv)
    if (args.results is None) == (args.pair is None):
        parser.error('give either RESULTS.npz or --pair A.npz B.npz')
    if args.names and not args.pair:
        parser.error('--names goes with --pair')
    return args


def load_results(path: str) -> list:
    """The list of sample dicts of a dump, checked."""
    if not osp.isfile(path):
        raise UserError(f'{path} does not exist (write it with tools/test.py CONFIG CKPT --dump {path})')
    samples = read_dump(path)                     # arrays and plain values only: no code runs
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise UserError(f'{path} is not a results dump: expected a list of sample dicts (tools/test.py --dump), '
                        f'got {type(samples).__name__}')
    if not samples:
        raise UserError(f'{path} holds no samples')
    return samples


def select(count: int, index=None, limit=None) -> list:
    if index is not None:
        bad = [i for i in index if not -count <= i < count]
        if bad:
            raise UserError(f'--index {bad} out of range for {count} samples')
        return [i % count for i in index]
    return list(range(count if limit is None else min(limit, count)))


def window_key(sample: dict):
    return sample.get('seq_name'), sample.get('window_start')


def file_stem(k: int, sample: dict) -> str:
    return f"{k:03d}_" + re.sub(r'[^A-Za-z0-9_.-]+', '_', str(sample.get('seq_name', 'sample')))


def stack_rows(images: list) -> np.ndarray:
    """Images (H_i, W_i, 3) stacked vertically, narrower ones padded with white on the right."""
    width = max(im.shape[1] for im in images)
    return np.concatenate([np.pad(im, ((0, 0), (0, width - im.shape[1]), (0, 0)), constant_values=255)
                           for im in images])


def render_pair(a: dict, b: dict, names, options: dict) -> np.ndarray:
    """Frames of A (reference | generated) next to B (reference | generated), cut to the shorter clip."""
    clips = [render_hoi_sample(s, panels=('reference', 'pred'), titles=dict(reference=f'{n}: reference',
                                                                            pred=f'{n}: generated'), **options)
             for s, n in zip((a, b), names)]
    length = min(len(c) for c in clips)
    height = max(c.shape[1] for c in clips)
    clips = [np.pad(c[:length], ((0, 0), (0, height - c.shape[1]), (0, 0), (0, 0)), constant_values=255)
             for c in clips]
    return np.concatenate(clips, axis=2)


def main(argv=None):
    args = parse_args(argv)
    options = dict(panel_size=args.panel_size, camera=args.camera)
    if args.pair:
        first, second = (load_results(p) for p in args.pair)
        by_window = {window_key(s): s for s in second}
        missing = [window_key(s) for s in first if window_key(s) not in by_window]
        if missing:
            raise UserError(f'{args.pair[1]} lacks the windows {missing[:5]} of {args.pair[0]} (--pair matches '
                            'samples by seq_name and window_start)')
        samples = [(s, by_window[window_key(s)]) for s in first]
        names = args.names or [osp.splitext(osp.basename(p))[0] for p in args.pair]
    else:
        samples = [(s, None) for s in load_results(args.results)]
    chosen = select(len(samples), args.index, args.limit)

    fmt, encoder = video_encoder(args.format)
    if fmt != args.format:
        print(f'no MP4 encoder here (install imageio-ffmpeg for H.264): writing GIF ({encoder}) instead')
    print(f'writing {len(chosen)} {fmt.upper()} video(s) with {encoder} to {args.out}')
    os.makedirs(args.out, exist_ok=True)
    stills = []
    for k in chosen:
        sample, partner = samples[k]
        start = time.perf_counter()
        if partner is None:
            panels = ('reference', 'pred') if args.no_gt else ('reference', 'gt', 'pred')
            frames = render_hoi_sample(sample, panels=panels, **options)
        else:
            frames = render_pair(sample, partner, names, options)
        stem = osp.join(args.out, file_stem(k, sample))
        video, _ = write_video(f'{stem}.{fmt}', frames, args.fps, extra_colors=list(MARK_COLORS.values()))
        still = frames[HOIVisualizer.still_index(sample, len(frames))]
        write_image(f'{stem}.png', still)
        stills.append(still)
        print(f'  [{k}] {sample.get("seq_name")}: {len(frames)} frames {frames.shape[2]}x{frames.shape[1]} -> '
              f'{video} ({time.perf_counter() - start:.1f} s)')
    sheet = write_image(osp.join(args.out, 'contact_sheet.png'), stack_rows(stills))
    print(f'contact sheet (depicted frames): {sheet}')


if __name__ == '__main__':
    run_cli(main)

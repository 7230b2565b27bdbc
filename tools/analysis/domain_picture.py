"""The same depicted frame in every image domain, side by side: one row per test window, one column per style.

    python tools/analysis/domain_picture.py --data-root data/mini_fbm --out docs/mini_fbm_domains.png

For --windows test windows (different objects) the contact-centred frame is rendered in each of --styles (default
mesh, sketch, scene, degraded) exactly as tools/data/render_references.py renders it (same seed, camera ranges
and visibility checks), without a cache: nothing is written but the picture.
"""
import argparse
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import imagin4d  # noqa: E402,F401
from imagin4d.engine.runner_setup import run_cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--styles', nargs='+', default=['mesh', 'sketch', 'scene', 'degraded'])
    parser.add_argument('--windows', type=int, default=3, help='rows: test windows of different objects')
    parser.add_argument('--size', type=int, default=448, help='render size (the references are 448 px)')
    parser.add_argument('--tile', type=int, default=256, help='size of each picture in the grid')
    parser.add_argument('--distance', type=float, nargs=2, default=[2.8, 4.0], metavar=('MIN', 'MAX'),
                        help='camera distance range (render_references.py default)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='docs/mini_fbm_domains.png')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.registry import init_default_scope
    from reference_grid import labelled

    from imagin4d.geometry.depicted_frame import contact_centred_frame
    from imagin4d.registry import DATASETS
    from imagin4d.rendering import ReferenceRenderer
    from imagin4d.rendering.dataset_references import render_window_reference
    init_default_scope('imagin4d')
    dataset = DATASETS.build(dict(type='FBMDataset', data_root=args.data_root, split='test', pipeline=[]))
    renderers = [ReferenceRenderer(style, width=args.size, height=args.size, seed=args.seed,
                                   camera_ranges=dict(distance_range=tuple(args.distance))) for style in args.styles]
    rows, objects = [], set()
    for idx in range(len(dataset)):
        window = dataset.assemble_window(dataset.get_data_info(idx))
        if window['object_name'] in objects:
            continue
        t_star = contact_centred_frame(np.asarray(window['contacts']))
        tiles = []
        for renderer in renderers:
            image = render_window_reference(dataset, renderer, window, t_star).image
            image = cv2.resize(image, (args.tile, args.tile), interpolation=cv2.INTER_AREA)
            tiles.append(labelled(image, [f'{renderer.style.name}: {window["seq_name"]} t*={t_star}']))
        rows.append(np.concatenate(tiles, axis=1))
        objects.add(window['object_name'])
        if len(rows) == args.windows:
            break
    cv2.imwrite(args.out, np.concatenate(rows, axis=0)[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f'wrote {args.out} ({len(rows)} windows x {len(args.styles)} styles, {osp.getsize(args.out) / 1e6:.2f} MB)')


if __name__ == '__main__':
    run_cli(main)

"""Render the reference images of a data set split (cached; a second run renders nothing) and write the index.

  python tools/data/render_references.py --data-root data/mini_fbm --split test --style mesh
  python tools/data/render_references.py --data-root data/mini_fbm --split train --frames-per-window 3
  python tools/data/render_references.py --data-root data/behave --dataset BEHAVEDataset --split test

tools/data/prepare_dataset.py CONFIG runs this for every split and style a config reads, then caches the features.

Images and cameras go to the render cache `<out>/cache`, the index to `<out>/<split>_<style>.json`
(default out: `<data-root>/references`).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import imagin4d  # noqa: E402,F401
from imagin4d.engine.runner_setup import run_cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--dataset', default=None,
                        help='registered data set type: FBMDataset (default) or BEHAVEDataset')
    parser.add_argument('--split', default='test', choices=['train', 'test'])
    parser.add_argument('--style', default='mesh', help="mesh | sketch | scene | degraded (registered styles)")
    parser.add_argument('--size', type=int, default=448, help='image size (the configs read 448 px)')
    parser.add_argument('--frames-per-window', type=int, default=None,
                        help='training: depicted frames per window (default: 3 for train, the contact-centred '
                             'frame for test)')
    parser.add_argument('--body-model-root', default=None,
                        help="folder with smplx/ (FBM) or smplh/ (BEHAVE) (default: $IMAGIN4D_BODY_MODEL_DIR, else the "
                             "data set's: <data-root>/smpl_all_models for FBM, <data-root> for BEHAVE)")
    parser.add_argument('--distance', type=float, nargs=2, default=[2.8, 4.0], metavar=('MIN', 'MAX'),
                        help='camera distance range in metres (tall or lifted objects need room)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--workers', type=int, default=1,
                        help='render processes; this one poses the bodies, so the images are the same for any N '
                             '(see docs/user_guides/mini_fbm.md)')
    parser.add_argument('--out', default=None)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.registry import init_default_scope

    from imagin4d.registry import DATASETS
    from imagin4d.rendering import ReferenceRenderer
    from imagin4d.rendering.dataset_references import render_dataset_references
    init_default_scope('imagin4d')
    if args.dataset is None:
        from imagin4d.datasets import BEHAVEDataset, FBMDataset
        from imagin4d.utils.errors import UserError
        if not FBMDataset.holds_release(args.data_root) and BEHAVEDataset.holds_release(args.data_root):
            raise UserError(f'--data-root {args.data_root} holds a BEHAVE release (split.json, '
                            'behave-30fps-params-v1/), not FBM: add --dataset BEHAVEDataset')
        args.dataset = 'FBMDataset'
    dataset = DATASETS.build(dict(type=args.dataset, data_root=args.data_root, split=args.split, pipeline=[],
                                  body_model_root=args.body_model_root))
    out = args.out or osp.join(args.data_root, 'references')
    frames = args.frames_per_window if args.frames_per_window is not None else (3 if args.split == 'train' else None)
    renderer = ReferenceRenderer(style=args.style, width=args.size, height=args.size, seed=args.seed,
                                 cache_root=osp.join(out, 'cache'),
                                 camera_ranges=dict(distance_range=tuple(args.distance)))
    index = osp.join(out, f'{args.split}_{args.style}.json')
    counts = render_dataset_references(dataset, renderer, index, frames_per_window=frames, seed=args.seed,
                                       workers=args.workers)
    print(f"{counts['images']} reference images for {counts['windows']} windows: {counts['rendered']} rendered "
          f"({counts['workers']} render processes), {counts['cached']} from the cache; index {index}")
    if counts['failed']:
        print(f"{len(counts['failed'])} depicted frames had no camera showing the whole interaction and are "
              'not indexed:\n  ' + '\n  '.join(counts['failed']))


if __name__ == '__main__':
    run_cli(main)

"""Build the embedded data set from nothing: mini-FBM motion, reference images, frozen feature caches.

    python tools/data/prepare_mini_fbm.py [--out data/mini_fbm] [--num-train N --num-test M] [--size 448]
        [--seed S] [--train-frames K] [--body-model-dir DIR] [--backbone-cfg JSON] [--styles S ...]
        [--mixture S ...] [--storyboard-test [--storyboard-frames 3]]
    # the image domains of the transfer study on an existing mini-FBM (mesh and sketch are not touched)
    python tools/data/prepare_mini_fbm.py --styles scene degraded --mixture mesh scene degraded

Runs, in order and each only for what is missing: make_mini_fbm.py, render_references.py (train: 3 depicted
frames per window; test: the contact-centred frame; the --styles, default mesh and sketch: only those are
rendered, and cached images are reused), `references/train_mixture.json` (with --mixture: every image of those
styles' train indexes, so choice='random' draws a style per sample), with --storyboard-test the storyboard test
references (render_references.py on the test split with --storyboard-frames depicted frames per window, 3 by
default, into their own list `<out>/references_storyboard/test_<style>.json` and render cache; the ordinary
test references keep their one contact-centred frame), cache_features.py (the image
backbone and text encoder the mini-FBM configs read, `projects/imagin4d/_base_/datasets/mini_fbm.py`: EfficientNet-Lite0
patch features of every reference image at 448 px, MiniLM features of every sentence) into `<out>/feature_cache`.
A failed step stops the build with one line naming it (its own error is printed above).
"""
import argparse
import glob
import os.path as osp
import subprocess
import sys

TOOLS = osp.dirname(osp.abspath(__file__))
DATA_CONFIG = osp.join(osp.dirname(osp.dirname(TOOLS)), 'projects', 'imagin4d', '_base_', 'datasets', 'mini_fbm.py')
sys.path.insert(0, osp.dirname(osp.dirname(TOOLS)))
#: the storyboard test references' folder under the data root (its own index and render cache)
STORYBOARD_REFERENCES = 'references_storyboard'


def run(*args):
    """Run one step; a failed one has printed its own error, so stop with one line naming the step (no traceback)."""
    print('+', ' '.join(map(str, args)), flush=True)
    code = subprocess.run([sys.executable, *map(str, args)]).returncode
    if code:
        sys.exit(f'error: prepare_mini_fbm: step {osp.basename(str(args[0]))} failed (exit code {code}; its error is '
                 f'above): {" ".join(map(str, args))}')


def check_generator_version(root):
    """Refuse to add images and features to a mini-FBM written by another generator version (its motions differ
    from what this code would write; rebuilding it is the user's call, nothing is deleted here)."""
    import json

    from imagin4d.datasets.synthetic.writer import FACTORS_FILE, GENERATOR_VERSION
    path = osp.join(root, FACTORS_FILE)
    version = None
    if osp.isfile(path):
        with open(path) as f:
            version = json.load(f).get('version')
    if version != GENERATOR_VERSION:
        sys.exit(f'error: {path}: field "version" is {version!r}, this code writes mini-FBM version '
                 f'{GENERATOR_VERSION}; move or delete {root} and run this command again to rebuild it')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='data/mini_fbm')
    parser.add_argument('--num-train', type=int, default=None)
    parser.add_argument('--num-test', type=int, default=None)
    parser.add_argument('--size', type=int, default=448, help='reference image size (the configs read 448 px)')
    parser.add_argument('--styles', nargs='+', default=['mesh', 'sketch'],
                        help='registered render styles to render (mesh, sketch, scene, degraded)')
    parser.add_argument('--mixture', nargs='+', default=None, metavar='STYLE',
                        help='write references/train_mixture.json from these styles\' train indexes (rendered before)')
    parser.add_argument('--seed', type=int, default=0, help='mini-FBM generation seed')
    parser.add_argument('--train-frames', type=int, default=3, help='depicted frames per training window')
    parser.add_argument('--storyboard-test', action='store_true',
                        help=f'also render --storyboard-frames depicted frames per test window into '
                             f'OUT/{STORYBOARD_REFERENCES}/test_<style>.json (storyboard evaluation) and cache them')
    parser.add_argument('--storyboard-frames', type=int, default=3, help='images per storyboard test window (3)')
    parser.add_argument('--body-model-dir', default=None, help='free body model folder (make_mini_fbm default)')
    parser.add_argument('--backbone-cfg', default=None,
                        help="JSON overrides of the configs' image backbone for the feature cache (cache_features.py), "
                             'e.g. \'{"preprocess": {"size": 224}}\' for features read at 224 px')
    args = parser.parse_args(argv)
    if args.storyboard_frames < 1:
        parser.error(f'--storyboard-frames {args.storyboard_frames}: expected >= 1')

    if not osp.isfile(osp.join(args.out, 'train_diffusion_manip_seq_joints24.p')):
        sizes = [f for flag, n in (('--num-train', args.num_train), ('--num-test', args.num_test)) if n is not None
                 for f in (flag, n)]
        extra = ['--body-model-dir', args.body_model_dir] if args.body_model_dir else []
        run(osp.join(TOOLS, 'make_mini_fbm.py'), '--out', args.out, '--seed', args.seed, '--no-progress', *sizes,
            *extra)
    else:
        check_generator_version(args.out)
        print(f'mini-FBM already in {args.out}')
    for split in ('train', 'test'):
        for style in args.styles:
            frames = ['--frames-per-window', args.train_frames] if split == 'train' else []
            run(osp.join(TOOLS, 'render_references.py'), '--data-root', args.out, '--split', split,
                '--style', style, '--size', args.size, *frames)
    images = [osp.join(args.out, 'references', 'cache')]
    if args.storyboard_test:
        storyboard = osp.join(args.out, STORYBOARD_REFERENCES)
        for style in args.styles:
            run(osp.join(TOOLS, 'render_references.py'), '--data-root', args.out, '--split', 'test', '--style', style,
                '--size', args.size, '--frames-per-window', args.storyboard_frames, '--out', storyboard)
        images.append(osp.join(storyboard, 'cache'))
    if args.mixture:
        from imagin4d.rendering.dataset_references import write_mixture_index
        refs = osp.join(args.out, 'references')
        missing = [s for s in args.mixture if not osp.isfile(osp.join(refs, f'train_{s}.json'))]
        if missing:
            sys.exit(f'error: --mixture: {", ".join(osp.join(refs, f"train_{s}.json") for s in missing)} missing; '
                     f'render them first (--styles {" ".join(missing)})')
        counts = write_mixture_index([osp.join(refs, f'train_{s}.json') for s in args.mixture],
                                     osp.join(refs, 'train_mixture.json'))
        print(f'mixture index {osp.join(refs, "train_mixture.json")}: {counts}')
    texts = sorted(glob.glob(osp.join(args.out, 'omomo_text_anno_json_data', '*.json')))
    run(osp.join(TOOLS, 'cache_features.py'), '--config', DATA_CONFIG,
        '--images', *images, '--texts', *texts,
        '--out', osp.join(args.out, 'feature_cache'),
        *(['--backbone-cfg', args.backbone_cfg] if args.backbone_cfg else []))
    print(f'prepare_mini_fbm: done; data root {args.out}')


if __name__ == '__main__':
    main()

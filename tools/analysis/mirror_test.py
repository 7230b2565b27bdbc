"""Mirrored-reference test: flip each test reference image horizontally, generate again, check the sides flip.

    python tools/analysis/mirror_test.py CONFIG CKPT [--out mirror.json] [--dump-dir DIR] [--limit N]
        [--cfg-options model.test_cfg.num_steps=20 ...]

For every test window: the reference image is flipped (written once as `<image>_mirrored.png` next to it, with its
camera mirrored by `rendering.mirror_camera`), its features are computed with the config's image backbone into the
feature cache (only the missing ones), and the model generates from the original and from the mirrored reference
with the same seed and all other conditions unchanged. The hidden factors of both generations are recovered at t*
with the geometry that labels mini-FBM (`recover_factors`, hand contacts from the predicted contact labels).
Reports, over the windows whose original generation is one-sided (left or right):
  contact_side_flip_rate: the mirrored generation grasps with the other hand,
  layout_flip_rate: the mirrored generation places the object on the other side;
and over all windows `mirror_consistency` (grasp hand and layout both equal the mirror of the original's).
--dump-dir writes original.npz and mirrored.npz (the tools/test.py --dump format) for tools/visualize.py --pair.

Storyboards (issue 29; a config whose test pipeline reads several images, max_images): --flip-image K mirrors only
the K-th image of each storyboard (0 = the earliest) and checks that only its moment follows: the flip rates above
at the flipped image's depicted frame, and at every other image's depicted frame `others_unchanged_rate` (grasp
hand and layout both equal to the original generation's; `others_grasp_unchanged_rate`, `others_layout_...` each
alone). Windows with fewer than K + 1 images are left out.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmengine.config import DictAction  # noqa: E402

from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE  # noqa: E402
from imagin4d.engine.runner_setup import load_config, prepare_runtime, run_cli  # noqa: E402
from imagin4d.utils.errors import UserError  # noqa: E402
from imagin4d.utils.paths import resolve_data_path  # noqa: E402

SIDES = ('left', 'right')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', help='JSON with the rates and per-window factors')
    parser.add_argument('--dump-dir', help='write original.npz / mirrored.npz for tools/visualize.py --pair')
    parser.add_argument('--limit', type=int, default=None, help='first N test windows only')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--flip-image', type=int, default=None, metavar='K',
                        help='storyboards: mirror only image K of each storyboard (0 = earliest) and check that only '
                             'its moment follows')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def write_mirrored_references(index_file: str, feature_cache: str, image_backbone: dict) -> int:
    """Flip every indexed image into `<image>_mirrored.png` (if missing) and cache its features; returns the count
    of images written."""
    from PIL import Image

    from imagin4d.datasets.transforms import mirrored_image_path
    from imagin4d.models.backbones.feature_cache import FeatureCache
    from imagin4d.registry import MODELS
    from imagin4d.rendering.dataset_references import load_reference_index
    from imagin4d.utils.fileio import atomic_open
    written, paths = 0, []
    for entry in load_reference_index(index_file):
        target = mirrored_image_path(entry['image'])
        if not osp.isfile(target):     # atomically: concurrent runs never read half an image
            with atomic_open(target) as f:
                Image.open(entry['image']).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(f, format='PNG')
            written += 1
        paths.append(target)
    FeatureCache(feature_cache).compute(paths, MODELS.build(dict(image_backbone)), config=dict(image_backbone))
    return written


def factors_of(motion, t_star: int) -> dict:
    from imagin4d.geometry.interaction_factors import recover_factors
    from imagin4d.models.codecs import CHOISMotionCodec
    dec = CHOISMotionCodec().decode(motion)
    return recover_factors(dec['joints'].numpy(), dec['obj_com'].numpy(), dec['contacts'].numpy(), frame=t_star)


def flip_rates(pairs) -> dict:
    """pairs: [(factors of the original generation, factors of the mirrored one)] -> rates and counts."""
    from imagin4d.geometry.interaction_factors import mirror_factors
    out = {}
    for name, key in (('contact_side', 'grasp_hand'), ('layout', 'layout')):
        sided = [(a, b) for a, b in pairs if a[key] in SIDES]
        flipped = sum(b[key] == mirror_factors(a)[key] for a, b in sided)
        out[f'{name}_flip_rate'] = flipped / len(sided) if sided else float('nan')
        out[f'{name}_windows'] = len(sided)
    consistent = [mirror_factors(a)['grasp_hand'] == b['grasp_hand'] and mirror_factors(a)['layout'] == b['layout']
                  for a, b in pairs]
    out['mirror_consistency'] = sum(consistent) / len(consistent) if consistent else float('nan')
    out['windows'] = len(pairs)
    return out


def storyboard_rates(flipped, others) -> dict:
    """flipped: [(original, mirrored factors)] at the flipped image's depicted frame; others: the same at the other
    images' depicted frames -> flip rates of the flipped moment and unchanged rates of the others."""
    out = flip_rates(flipped)
    for name, keys in (('', ('grasp_hand', 'layout')), ('grasp_', ('grasp_hand',)), ('layout_', ('layout',))):
        same = [all(a[k] == b[k] for k in keys) for a, b in others]
        out[f'others_{name}unchanged_rate'] = sum(same) / len(same) if same else float('nan')
    out['other_moments'] = len(others)
    return out


def main(argv=None):
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from imagin4d.evaluation.metrics.dump_results import plain_sample, write_samples
    from imagin4d.registry import DATASETS, MODELS

    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise UserError(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_config(args.config, args.cfg_options)
    prepare_runtime(cfg, 'none')
    init_default_scope('imagin4d')
    ds_cfg = cfg.test_dataloader.dataset
    loaders = [t for t in ds_cfg.pipeline if t['type'] == 'LoadReferenceFeatures' and t.get('reference_index')]
    if not loaders:
        raise UserError(f'{args.config}: the test pipeline has no LoadReferenceFeatures with a reference_index; '
                        'the mirror test needs an image-conditioned config')
    ref = loaders[0]
    if args.flip_image is not None and (not ref.get('max_images') or not 0 <= args.flip_image < ref['max_images']):
        raise UserError(f"--flip-image {args.flip_image}: the test pipeline of {args.config} reads "
                        f"{ref.get('max_images') or 'one'} image(s) per window (max_images); a storyboard position "
                        f"in 0..{(ref.get('max_images') or 1) - 1} is expected")
    flip = True if args.flip_image is None else [args.flip_image]
    written = write_mirrored_references(resolve_data_path(ref['reference_index'], ds_cfg.data_root),
                                        resolve_data_path(ref['feature_cache'], ds_cfg.data_root),
                                        ref.get('image_backbone') or DEFAULT_IMAGE_BACKBONE)
    print(f'mirrored references: {written} written')

    datasets = {}
    for name, mirror in (('original', False), ('mirrored', True)):
        pipeline = [dict(t, mirror=flip if mirror else False) if t is ref else t for t in ds_cfg.pipeline]
        datasets[name] = DATASETS.build(dict(ds_cfg, pipeline=pipeline))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu', logger='current')
    model.eval()
    count = len(datasets['original']) if args.limit is None else min(args.limit, len(datasets['original']))
    results = {name: [] for name in datasets}
    with torch.no_grad():
        for start in range(0, count, args.batch_size):
            idx = range(start, min(start + args.batch_size, count))
            for name, dataset in datasets.items():
                batch = pseudo_collate([dataset[i] for i in idx])
                results[name] += model.test_step(batch)
    pairs, others, rows = [], [], []
    for a, b in zip(results['original'], results['mirrored']):
        t_stars = [int(a.t_star)] if args.flip_image is None else list(a.reference_t_stars)
        if args.flip_image is not None and len(t_stars) <= args.flip_image:
            continue
        for k, t in enumerate(t_stars):
            fa, fb = factors_of(a.pred_motion, t), factors_of(b.pred_motion, t)
            flipped = args.flip_image is None or k == args.flip_image
            (pairs if flipped else others).append((fa, fb))
            rows.append(dict(seq_name=a.seq_name, t_star=t, flipped=flipped, original=fa, mirrored=fb))
    report = flip_rates(pairs) if args.flip_image is None else storyboard_rates(pairs, others)
    print(json.dumps(report, indent=1))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(report, per_window=rows), f, indent=1)
    if args.dump_dir:
        os.makedirs(args.dump_dir, exist_ok=True)
        for name, samples in results.items():
            write_samples(osp.join(args.dump_dir, f'{name}.npz'), [plain_sample(s.to_dict()) for s in samples])
        print(f'dumps written to {args.dump_dir}')


if __name__ == '__main__':
    run_cli(main)

"""What can the reference image tell? Predict each mini-FBM hidden factor from the frozen reference features alone.

    python tools/analysis/reference_probe.py [--data-root data/mini_fbm] [--references DIR] [--style mesh]
        [--cells 3] [--cv 5] [--test-styles mesh scene ...] [--out reference_probe.json]

The counterpart of factor_leak.py (what the other conditions tell): for every indexed reference image of the
training and test splits (`<references>/<split>_<style>.json`, default `<data-root>/references`) the cached patch
features of the frozen backbone (`<data-root>/feature_cache`; the one the mini-FBM configs read, EfficientNet-Lite0 at
448 px, unless --backbone-cfg) are
average-pooled to a 3 x 3 grid of cells (image left / centre / right by top / middle / bottom; --cells sets the
grid: 1 pools the whole image, the patch grid's own size keeps every patch), and a standardised
logistic regression (`imagin4d.evaluation.functional.linear_probe_accuracy`) is fitted on the training images and
scored on the test images (the test protocol's contact-centred references), once per factor and once for the grasp
side alone (left against right, one-handed sequences). A factor a linear probe
reads well is there in the features a model gets; one at the prior is not (and no model can be expected to read
it). Reference levels as in factor_leak.py (chance, majority, prior of object and action).

The test split's contact-centred references are few (51 one-handed on the default build: one image is 0.02), so
--cv K also scores the probe by K-fold cross-validation over the training references, grouped by sequence (the
depicted frames of one sequence stay in one fold; `grouped_cv_predictions`): about 25 times as many held-out images.
It breaks the held-out grasp-side accuracy down by layout and by the camera's side of the body at t* (from the
window's joints): towards the grasping hand ('grasp_side'), towards the other hand ('other_side'), or within
FRONTAL_DEG of the body's facing ('frontal').

Domain transfer at the level of the features: --test-styles S ... scores the probes fitted on --style's training
references also on the test references of each style S (the report's 'transfer': {S: {factor: accuracy,
'grasp_side': accuracy}}): how far what a linear read-out learns from one image domain holds in another. A style
with a training index but no test index of its own (`mixture`: references/train_mixture.json, every domain of a
window) is probed only so.
"""
import argparse
import json
import math
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402

from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE  # noqa: E402
from imagin4d.engine.runner_setup import run_cli  # noqa: E402
from imagin4d.utils.errors import UserError  # noqa: E402

CELLS = 3  # pooled grid: CELLS x CELLS cells of the patch grid
FRONTAL_DEG = 15.0  # a camera within this many degrees of the body's facing is 'frontal'
PROBE_C = 0.01  # inverse L2 strength of the probe: thousands of pooled feature dimensions, about 2400 images


def pool_patch_grid(patch: np.ndarray, grid_hw, cells: int = CELLS) -> np.ndarray:
    """Average-pool patch features to a cells x cells grid.  patch: (H*W, C) row-major, grid_hw: (H, W)
    -> (cells * cells * C,) flattened row-major over cells; cell (i, j) covers rows floor(i H / cells) ..
    floor((i + 1) H / cells) - 1 (at least one row; likewise columns)."""
    h, w = (int(v) for v in grid_hw)
    patch = np.asarray(patch, dtype=np.float64)
    if cells < 1:
        raise ValueError(f'cells must be a positive number of cells per side, got {cells}')
    if patch.ndim != 2 or patch.shape[0] != h * w:
        raise ValueError(f'patch features must be (H*W, C) = ({h * w}, C) for grid {h}x{w}, got {patch.shape}')
    grid = patch.reshape(h, w, -1)

    def edges(n):   # [(first, end)) of each cell along an axis of n patches, at least one patch wide
        return [(i * n // cells, max((i + 1) * n // cells, i * n // cells + 1)) for i in range(cells)]
    return np.concatenate([grid[r0:r1, c0:c1].mean((0, 1)) for r0, r1 in edges(h) for c0, c1 in edges(w)])


def reference_features(data_root: str, references: str, split: str, style: str, backbone: dict,
                       cells: int = CELLS):
    """(N, cells * cells * C) pooled features of the split's indexed references and their sequence names."""
    from imagin4d.models.backbones.feature_cache import FeatureCache
    from imagin4d.rendering.dataset_references import load_reference_index
    cache = FeatureCache(osp.join(data_root, 'feature_cache'))
    spec = cache.spec_for(backbone)
    rows, names = [], []
    for entry in load_reference_index(osp.join(references, f'{split}_{style}.json')):
        feats = cache.get(entry['image'], spec)
        if 'patch' not in feats:
            raise UserError(f"{entry['image']}: the cached {backbone['type']} features have no 'patch' field "
                            f'(fields: {sorted(feats)}); the probe needs a patch-grid backbone')
        rows.append(pool_patch_grid(feats['patch'], feats['grid_hw'], cells))
        names.append(entry['seq_name'])
    return np.stack(rows), names


def camera_azimuths(data_root: str, references: str, split: str, style: str) -> np.ndarray:
    """(N,) per indexed reference of `split` (index order): the horizontal angle in degrees of the reference camera
    around the body at t*, from the body's facing (`body_heading`), positive towards the body's left (up x facing)."""
    from mmengine.registry import init_default_scope

    from imagin4d.geometry import body_heading
    from imagin4d.registry import DATASETS
    from imagin4d.rendering.camera import Camera
    from imagin4d.rendering.dataset_references import load_reference_index
    init_default_scope('imagin4d')
    dataset = DATASETS.build(dict(type='FBMDataset', data_root=data_root, split=split, pipeline=[]))
    joints = {}
    for idx in range(len(dataset)):
        window = dataset.assemble_window(dataset.get_data_info(idx))
        joints[window['seq_name'], int(window['window_start'])] = dataset.codec.decode(window['motion'])['joints']
    out = []
    for entry in load_reference_index(osp.join(references, f'{split}_{style}.json')):
        body = joints[entry['seq_name'], int(entry['window_start'])][int(entry['t_star'])]
        facing = body_heading(body).numpy()[:2]
        left = np.array([-facing[1], facing[0]])
        to_camera = (Camera.from_dict(entry['camera']).position - body[0].numpy())[:2]   # from the pelvis
        out.append(math.degrees(math.atan2(to_camera @ left, to_camera @ facing)))
    return np.array(out)


def side_breakdown(correct: np.ndarray, hand: np.ndarray, layout: np.ndarray, azimuth: np.ndarray) -> dict:
    """Accuracy and count of held-out side predictions by layout and by the camera's side: 'grasp_side' (the camera
    more than FRONTAL_DEG towards the grasping hand's side of the body), 'other_side', 'frontal'.
    correct, hand ('left' | 'right'), layout, azimuth (degrees, + = the body's left): (N,)."""
    view = np.where(np.abs(azimuth) < FRONTAL_DEG, 'frontal',
                    np.where((azimuth > 0) == (hand == 'left'), 'grasp_side', 'other_side'))
    return {f'{kind}_{value}': dict(accuracy=float(correct[labels == value].mean()),
                                    images=int((labels == value).sum()))
            for kind, labels in (('layout', layout), ('view', view)) for value in sorted(set(labels.tolist()))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--references', help='folder of the reference indexes (default: <data-root>/references)')
    parser.add_argument('--style', default='mesh',
                        help='reference style whose training references the probe is fitted on (mesh | sketch | '
                             'scene | degraded | mixture)')
    parser.add_argument('--backbone-cfg', default=None,
                        help='JSON config of the frozen image backbone whose cached features are probed (default: the '
                             'one the configs read, EfficientNet-Lite0 at 448 px)')
    parser.add_argument('--cells', type=int, default=CELLS,
                        help='pool the patch grid to cells x cells (the grid size itself probes every patch)')
    parser.add_argument('--cv', type=int, default=0, metavar='K',
                        help='also score by K-fold cross-validation over the training references grouped by sequence')
    parser.add_argument('--test-styles', nargs='+', default=None, metavar='STYLE',
                        help="also score the probes on these styles' test references (domain transfer)")
    parser.add_argument('--out', help='JSON with the accuracies and reference levels')
    args = parser.parse_args(argv)
    from imagin4d.datasets.synthetic import FACTOR_NAMES, LEVEL_NAMES, load_factors, reference_levels
    from imagin4d.evaluation.functional.probe import cv_scores, grouped_cv_predictions
    factors = load_factors(args.data_root)['sequences']
    backbone = json.loads(args.backbone_cfg) if args.backbone_cfg else DEFAULT_IMAGE_BACKBONE
    references = args.references or osp.join(args.data_root, 'references')
    x_train, train_names = reference_features(args.data_root, references, 'train', args.style, backbone, args.cells)
    train_names = np.array(train_names)
    transfer = transfer_accuracies(x_train, train_names, factors, {
        style: reference_features(args.data_root, references, 'test', style, backbone, args.cells)
        for style in args.test_styles}) if args.test_styles else {}
    if transfer and not osp.isfile(osp.join(references, f'test_{args.style}.json')):   # e.g. the mixture
        return write_report(args.out, dict(train_images=len(train_names), style=args.style, cells=args.cells,
                                           backbone=backbone, transfer=transfer))
    x_test, test_names = reference_features(args.data_root, references, 'test', args.style, backbone, args.cells)
    levels = reference_levels(factors)
    report = dict(train_images=len(train_names), test_images=len(test_names), style=args.style, cells=args.cells,
                  backbone=backbone, factors={}, **(dict(transfer=transfer) if transfer else {}))

    held_out = {}   # factor -> held-out cross-validated predictions (N,) of the training rows it uses

    def cross_validated(name, rows, labels) -> dict:   # {} without --cv
        if not args.cv:
            return {}
        held_out[name], fold = grouped_cv_predictions(x_train[rows], labels, train_names[rows], args.cv, C=PROBE_C)
        acc, spread = cv_scores(held_out[name], labels, fold)
        return dict(cv_accuracy=acc, cv_fold_std=spread, cv_folds=args.cv, cv_images=int(len(labels)))

    print(f'{"factor":14s} {"probe":>7s} {"cv":>7s} {"chance":>7s} {"prior":>7s}   ({len(train_names)} training, '
          f'{len(test_names)} test images, {args.style})')
    every = np.ones(len(train_names), bool)
    own = transfer.get(args.style) or transfer_accuracies(x_train, train_names, factors,
                                                          {args.style: (x_test, test_names)})[args.style]
    for name in FACTOR_NAMES:
        labels = [factors[s][name] for s in train_names]
        acc = own[name]
        entry = report['factors'][name] = dict(accuracy=acc, **cross_validated(name, every, labels),
                                               **dict(zip(LEVEL_NAMES, levels[name])))
        print(f"{name:14s} {acc:7.3f} {entry.get('cv_accuracy', float('nan')):7.3f} {entry['chance']:7.3f} "
              f"{entry['prior']:7.3f}")
    hand_train, hand_test = (np.array([factors[s]['grasp_hand'] for s in names]) for names in (train_names, test_names))
    tr, te = hand_train != 'both', hand_test != 'both'
    side = own['grasp_side']
    report['grasp_side'] = dict(accuracy=side, test_images=int(te.sum()), chance=0.5,
                                **cross_validated('grasp_side', tr, hand_train[tr]))
    print(f'{"grasp side":14s} {side:7.3f} {report["grasp_side"].get("cv_accuracy", float("nan")):7.3f} '
          f'{0.5:7.3f}       -   (left vs right, {int(te.sum())} one-handed test images'
          + (f', {int(tr.sum())} training images in {args.cv} folds)' if args.cv else ')'))
    if args.cv:
        pred = held_out['grasp_side']
        layout = np.array([factors[s]['layout'] for s in train_names[tr]])
        azimuth = camera_azimuths(args.data_root, references, 'train', args.style)[tr]
        report['grasp_side']['cv_breakdown'] = parts = side_breakdown(pred == hand_train[tr], hand_train[tr], layout,
                                                                      azimuth)
        print('  held-out grasp side by ' + ', '.join(f'{k} {v["accuracy"]:.3f} ({v["images"]})'
                                                      for k, v in parts.items()))
    write_report(args.out, report)


def transfer_accuracies(x_train: np.ndarray, train_names: np.ndarray, factors: dict, tests: dict) -> dict:
    """{style: {factor: accuracy, 'grasp_side': accuracy}} of the probes fitted once on (x_train (N, D),
    train_names (N,)) and scored on each test set of `tests` ({style: (x_test (M, D), test_names (M,))}): the
    factors on every image, the side on the one-handed ones."""
    from imagin4d.datasets.synthetic import FACTOR_NAMES
    from imagin4d.evaluation.functional.probe import linear_probe_predict
    styles = list(tests)
    x_all = np.concatenate([tests[style][0] for style in styles])
    names_all = np.concatenate([np.asarray(tests[style][1]) for style in styles])
    which = np.concatenate([np.full(len(tests[style][1]), i) for i, style in enumerate(styles)])
    out = {style: {} for style in styles}

    def score(name, rows_train, rows_test, y_train, y_test):   # one fit, predictions on every test set at once
        pred = linear_probe_predict(x_train[rows_train], y_train[rows_train], x_all[rows_test], C=PROBE_C)
        for i, style in enumerate(styles):
            mine = which[rows_test] == i
            out[style][name] = float(np.mean(pred[mine] == y_test[rows_test][mine]))
    every_train, every_test = np.ones(len(train_names), bool), np.ones(len(names_all), bool)
    for name in FACTOR_NAMES:
        y_train = np.array([factors[s][name] for s in train_names])
        score(name, every_train, every_test, y_train, np.array([factors[s][name] for s in names_all]))
    hand_train = np.array([factors[s]['grasp_hand'] for s in train_names])
    hand_test = np.array([factors[s]['grasp_hand'] for s in names_all])
    score('grasp_side', hand_train != 'both', hand_test != 'both', hand_train, hand_test)
    return out


def write_report(out: str, report: dict):
    for style, accuracies in report.get('transfer', {}).items():
        print(f'{report["style"]} -> {style}: ' + ', '.join(f'{k} {v:.3f}' for k, v in accuracies.items()))
    if out:
        with open(out, 'w') as f:
            json.dump(report, f, indent=1)
        print(f'written: {out}')


if __name__ == '__main__':
    run_cli(main)

"""What can the reference image tell? Predict each mini-FBM hidden factor from the frozen reference features alone.

    python tools/analysis/reference_probe.py [--data-root data/mini_fbm] [--references DIR] [--style mesh]
        [--out reference_probe.json]

The counterpart of factor_leak.py (what the other conditions tell): for every indexed reference image of the
training and test splits (`<references>/<split>_<style>.json`, default `<data-root>/references`) the cached patch features of the frozen
backbone (`<data-root>/feature_cache`, EfficientNet-Lite0 unless --backbone-cfg) are average-pooled to a 3 x 3 grid
of cells (image left / centre / right by top / middle / bottom), and a standardised logistic regression is fitted
on the training images and scored on the test images (the test protocol's contact-centred references), once per
factor and once for the grasp side alone (left against right, one-handed sequences). A factor a linear probe
reads well is there in the features a model gets; one at the prior is not (and no model can be expected to read
it). Reference levels as in factor_leak.py (chance, majority, prior of object and action).
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402

from imagin4d.engine.runner_setup import run_cli  # noqa: E402
from imagin4d.utils.errors import UserError  # noqa: E402

CELLS = 3  # pooled grid: CELLS x CELLS cells of the patch grid


def pool_patch_grid(patch: np.ndarray, grid_hw, cells: int = CELLS) -> np.ndarray:
    """Average-pool patch features to a cells x cells grid.  patch: (H*W, C) row-major, grid_hw: (H, W)
    -> (cells * cells * C,) flattened row-major over cells; cell (i, j) covers rows floor(i H / cells) ..
    floor((i + 1) H / cells) - 1 (at least one row; likewise columns)."""
    h, w = (int(v) for v in grid_hw)
    patch = np.asarray(patch, dtype=np.float64)
    if patch.ndim != 2 or patch.shape[0] != h * w:
        raise ValueError(f'patch features must be (H*W, C) = ({h * w}, C) for grid {h}x{w}, got {patch.shape}')
    grid = patch.reshape(h, w, -1)
    edges = lambda n: [(i * n // cells, max((i + 1) * n // cells, i * n // cells + 1)) for i in range(cells)]  # noqa: E731
    return np.concatenate([grid[r0:r1, c0:c1].mean((0, 1)) for r0, r1 in edges(h) for c0, c1 in edges(w)])


def probe_accuracy(x_train: np.ndarray, y_train, x_test: np.ndarray, y_test, C: float = 0.01) -> float:
    """Test accuracy of a standardised L2 logistic regression (inverse strength C) fitted on the training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(set(y_train.tolist())) < 2:
        return float(np.mean(y_test == y_train[0]))
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(x_train, y_train)
    return float(np.mean(clf.predict(x_test) == y_test))


def reference_features(data_root: str, references: str, split: str, style: str, backbone: dict):
    """(N, cells * cells * C) pooled features of the split's indexed references and their sequence names."""
    from imagin4d.rendering.dataset_references import load_reference_index
    from imagin4d.rendering.feature_cache import FeatureCache
    cache = FeatureCache(osp.join(data_root, 'feature_cache'))
    spec = cache.spec_for(backbone)
    rows, names = [], []
    for entry in load_reference_index(osp.join(references, f'{split}_{style}.json')):
        feats = cache.get(entry['image'], spec)
        if 'patch' not in feats:
            raise UserError(f"{entry['image']}: the cached {backbone['type']} features have no 'patch' field "
                            f'(fields: {sorted(feats)}); the probe needs a patch-grid backbone')
        rows.append(pool_patch_grid(feats['patch'], feats['grid_hw']))
        names.append(entry['seq_name'])
    return np.stack(rows), names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--references', help='folder of the reference indexes (default: <data-root>/references)')
    parser.add_argument('--style', default='mesh', help='reference style (mesh | sketch)')
    parser.add_argument('--backbone-cfg', default='{"type": "EfficientNetLite0Backbone"}',
                        help='JSON config of the frozen image backbone whose cached features are probed')
    parser.add_argument('--out', help='JSON with the accuracies and reference levels')
    args = parser.parse_args(argv)
    from imagin4d.datasets.synthetic import FACTOR_NAMES, load_factors, reference_levels
    factors = load_factors(args.data_root)['sequences']
    backbone = json.loads(args.backbone_cfg)
    references = args.references or osp.join(args.data_root, 'references')
    x_train, train_names = reference_features(args.data_root, references, 'train', args.style, backbone)
    x_test, test_names = reference_features(args.data_root, references, 'test', args.style, backbone)
    levels = reference_levels(factors)
    report = dict(train_images=len(train_names), test_images=len(test_names), style=args.style, factors={})
    print(f'{"factor":14s} {"probe":>7s} {"chance":>7s} {"prior":>7s}   ({len(train_names)} training, '
          f'{len(test_names)} test images, {args.style})')
    for name in FACTOR_NAMES:
        acc = probe_accuracy(x_train, [factors[s][name] for s in train_names],
                             x_test, [factors[s][name] for s in test_names])
        report['factors'][name] = dict(accuracy=acc, **dict(zip(('chance', 'majority', 'prior', 'prior_majority'),
                                                                levels[name])))
        print(f"{name:14s} {acc:7.3f} {levels[name][0]:7.3f} {levels[name][2]:7.3f}")
    one_hand = lambda names: np.array([factors[s]['grasp_hand'] != 'both' for s in names])  # noqa: E731
    tr, te = one_hand(train_names), one_hand(test_names)
    side = probe_accuracy(x_train[tr], np.array([factors[s]['grasp_hand'] for s in train_names])[tr],
                          x_test[te], np.array([factors[s]['grasp_hand'] for s in test_names])[te])
    report['grasp_side'] = dict(accuracy=side, test_images=int(te.sum()), chance=0.5)
    print(f'{"grasp side":14s} {side:7.3f} {0.5:7.3f}       -   (left vs right, {int(te.sum())} one-handed test images)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
        print(f'written: {args.out}')


if __name__ == '__main__':
    run_cli(main)

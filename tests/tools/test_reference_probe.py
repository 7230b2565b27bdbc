"""tools/analysis/reference_probe.py: the 3 x 3 pooling of a patch grid (hand-computed), a probe that finds a factor
drawn into one side of the image and not one that is absent, and the tool on the small prepared mini-FBM."""
import json

import numpy as np
import pytest

from imagin4d.evaluation.functional import linear_probe_accuracy
from testing_utils import REPO, load_tool, run_tool


def _module():
    return load_tool('tools/analysis/reference_probe.py')


def test_pool_patch_grid_by_hand():
    probe = _module()
    # a 4 x 3 grid with one channel whose value is 10 * row + column;
    # row cells [0], [1], [2, 3] (floor(i * 4 / 3)), column cells [0], [1], [2]
    patch = np.array([[10.0 * r + c] for r in range(4) for c in range(3)])
    assert np.allclose(probe.pool_patch_grid(patch, (4, 3)), [0, 1, 2, 10, 11, 12, 25, 26, 27])
    # channels stay together per cell: (cells * cells * C,)
    two = probe.pool_patch_grid(np.concatenate([patch, -patch], 1), (4, 3))
    assert two.shape == (18,) and np.allclose(two[:2], [0, 0]) and np.allclose(two[16:], [27, -27])
    with pytest.raises(ValueError, match='H\\*W'):
        probe.pool_patch_grid(patch[:5], (4, 3))
    # --cells: one cell is the image mean (mean of 10 r + c over r < 4, c < 3 = 15 + 1); 4 x 4 cells on 4 x 3
    # patches keep every row, and the first column repeats (column cells [0], [0], [1], [2]: at least one patch wide)
    assert np.allclose(probe.pool_patch_grid(patch, (4, 3), cells=1), [16.0])
    every_row = [10 * r + c for r in range(4) for c in (0, 0, 1, 2)]
    assert np.allclose(probe.pool_patch_grid(patch, (4, 3), cells=4), every_row)
    with pytest.raises(ValueError, match='positive'):
        probe.pool_patch_grid(patch, (4, 3), cells=0)


def test_probe_reads_a_side_drawn_into_the_image_and_not_an_absent_one():
    probe = _module()
    rng = np.random.default_rng(0)

    def split(n):
        side = rng.integers(0, 2, n)                      # 0: left, 1: right
        patch = rng.standard_normal((n, 7 * 7, 4))
        grid = patch.reshape(n, 7, 7, 4)
        grid[side == 0, :, :2, 0] += 1.0                  # a bright blob on the image's left or right
        grid[side == 1, :, 5:, 0] += 1.0
        pooled = np.stack([probe.pool_patch_grid(p, (7, 7)) for p in patch])
        return pooled, np.where(side == 0, 'left', 'right'), rng.choice(['a', 'b'], n)
    (x_tr, side_tr, noise_tr), (x_te, side_te, noise_te) = split(300), split(300)
    # the tool's probe: imagin4d.evaluation.functional.linear_probe_accuracy at the tool's regularisation
    assert linear_probe_accuracy(x_tr, side_tr, x_te, side_te, C=probe.PROBE_C) > 0.95
    assert linear_probe_accuracy(x_tr, noise_tr, x_te, noise_te, C=probe.PROBE_C) < 0.6      # about 1/2


def test_tool_on_the_prepared_mini_fbm(mini_fbm_prepared, tmp_path):
    out = tmp_path / 'probe.json'
    run_tool(['tools/analysis/reference_probe.py', '--data-root', mini_fbm_prepared, '--cv', '2', '--out', out],
             cwd=REPO)
    report = json.loads(out.read_text())
    with open(f'{mini_fbm_prepared}/references/test_mesh.json') as f:
        assert report['test_images'] == len(json.load(f)) == 8
    assert report['train_images'] > report['test_images']
    for name in ('grasp_hand', 'carry_height', 'layout'):
        entry = report['factors'][name]
        assert 0.0 <= entry['accuracy'] <= 1.0 and 0.0 < entry['chance'] <= entry['majority'] <= 1.0
    assert report['grasp_side']['chance'] == 0.5
    # --cv: every training image held out once (all of them per factor, the one-handed ones for the side)
    assert report['factors']['layout']['cv_images'] == report['train_images']
    assert 0 < report['grasp_side']['cv_images'] < report['train_images']
    assert report['grasp_side']['cv_folds'] == 2 and 0.0 <= report['grasp_side']['cv_accuracy'] <= 1.0

"""A run resumed after a stop continues the uninterrupted run's loss curve exactly (same machine): the random state
(generators, sampler position, worker seeds) is saved in every checkpoint and restored on `--resume`
(`RandomStateHook`), and validation during training does not move the training's generators."""
import json
import os
import subprocess
import sys

import pytest
from testing_utils import FIXTURES, REPO, run_tool

pytestmark = pytest.mark.fault

N, HALF = 20, 10
VARYING = ('time', 'data_time', 'eta')


def _train_args(work, max_iters, *extra):
    return ['tools/train.py', 'projects/imagin4d/mini_fbm_sfie.py', '--work-dir', str(work), *extra,
            '--cfg-options', f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={HALF}',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1',
            f'default_hooks.checkpoint.interval={HALF}', 'model.test_cfg.num_steps=2', 'val_dataloader.batch_size=4',
            'default_hooks.visualization.draw=False']


def _losses(work) -> dict:
    """{iteration: logged training scalars without timings}, over every run in the work dir."""
    rows = {}
    for path in sorted(work.glob('2*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if 'loss' in row:
                rows[row['iter']] = {k: v for k, v in row.items() if k not in VARYING}
    return rows


def test_resumed_run_repeats_the_uninterrupted_loss_curve(mini_fbm_prepared, tmp_path):
    env = dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, OMP_NUM_THREADS='1')
    whole, split = tmp_path / 'whole', tmp_path / 'split'
    # the uninterrupted run and the first half in parallel (one torch thread each on a 2-core machine)
    background = subprocess.Popen(
        [sys.executable, *_train_args(whole, N)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=dict(os.environ, **env, PYTHONPATH=os.pathsep.join(
            p for p in (str(FIXTURES), os.environ.get('PYTHONPATH')) if p)))
    run_tool(_train_args(split, HALF), cwd=REPO, env=env)
    output, _ = background.communicate(timeout=300)
    assert background.returncode == 0, output[-4000:]
    resumed = run_tool(_train_args(split, N, '--resume'), cwd=REPO, env=env)
    assert f'resumed epoch: 0, iter: {HALF}' in resumed.stdout + resumed.stderr

    expected, got = _losses(whole), _losses(split)
    assert sorted(expected) == list(range(1, N + 1)) and sorted(got) == list(range(1, N + 1))
    for iteration in range(HALF + 1, N + 1):
        assert got[iteration] == expected[iteration], iteration
    assert got[N]['loss'] != got[HALF + 1]['loss']       # the curve moves: the comparison means something

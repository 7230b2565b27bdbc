"""A run resumed after a stop continues the uninterrupted run's loss curve exactly (same machine): the random state
(generators, sampler position, the data workers' generators) is saved in every checkpoint and restored on `--resume`
(`RandomStateHook`), and validation during training does not move the training's generators."""
import json
import os
import subprocess
import sys

import pytest
import torch
from testing_utils import FIXTURES, REPO, TINY_TOY, run_tool

pytestmark = pytest.mark.fault

HERE = os.path.dirname(os.path.abspath(__file__))
VARYING = ('time', 'data_time', 'eta')


def _losses(work) -> dict:
    """{iteration: logged training scalars without timings}, over every run in the work dir."""
    rows = {}
    for path in sorted(work.glob('2*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if 'loss' in row:
                rows[row['iter']] = {k: v for k, v in row.items() if k not in VARYING}
    return rows


def _start(args, env):
    """tools/train.py `args` in the background (fixtures on the path); the caller waits with `_finish`."""
    paths = (str(FIXTURES), HERE, os.environ.get('PYTHONPATH'))
    return subprocess.Popen([sys.executable, *map(str, args)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, **env, PYTHONPATH=os.pathsep.join(p for p in paths if p)))


def _finish(process):
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-4000:]


# ------------------------------------------------------------------------- the mini full model, one data worker
N, HALF = 20, 10


def _mini_args(work, max_iters, *extra):
    # num_workers=1 as the mini configs: the data pipeline's random choices (reference image, BPS frame, depicted
    # frame) are drawn in the worker
    return ['tools/train.py', 'projects/imagin4d/mini_fbm_sfie.py', '--work-dir', str(work), *extra,
            '--cfg-options', f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={HALF}',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=1', 'default_hooks.logger.interval=1',
            f'default_hooks.checkpoint.interval={HALF}', 'model.test_cfg.num_steps=2', 'val_dataloader.batch_size=4',
            'default_hooks.visualization.draw=False']


#: Runs tools/train.py (argv[1:]) and kills itself with SIGKILL as soon as `last_checkpoint` names a checkpoint
#: (the data worker is killed with it, mid-prefetch).
KILL_AFTER_FIRST_CHECKPOINT = '''
import os, runpy, signal, sys
real_replace = os.replace
def replace(src, dst, *args, **kwargs):
    real_replace(src, dst, *args, **kwargs)
    if str(dst).endswith('last_checkpoint'):
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def test_run_killed_then_resumed_repeats_the_uninterrupted_loss_curve(mini_fbm_prepared, tmp_path):
    env = dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, OMP_NUM_THREADS='1')
    whole, split = tmp_path / 'whole', tmp_path / 'split'
    # the uninterrupted run and the one killed after its checkpoint at HALF in parallel (one torch thread each)
    background = _start(_mini_args(whole, N), env)
    killed = run_tool(['-c', KILL_AFTER_FIRST_CHECKPOINT, *_mini_args(split, N)], cwd=REPO, env=env, check=False)
    assert killed.returncode == -9 and not (split / f'iter_{N}.pth').exists(), killed.stderr[-3000:]
    _finish(background)
    resumed = run_tool(_mini_args(split, N, '--resume'), cwd=REPO, env=env)
    assert f'resumed epoch: 0, iter: {HALF}' in resumed.stdout + resumed.stderr
    assert 'reseeded' not in resumed.stdout + resumed.stderr

    expected, got = _losses(whole), _losses(split)
    assert sorted(expected) == list(range(1, N + 1)) and set(range(HALF + 1, N + 1)) <= set(got)
    for iteration in range(HALF + 1, N + 1):
        assert got[iteration] == expected[iteration], iteration
    assert got[N]['loss'] != got[HALF + 1]['loss']       # the curve moves: the comparison means something


# --------------------------------------------------------- a toy whose samples are random, two data workers
TOY_N, TOY_STOP = 7, 3          # stopped after an odd number of batches: the next one is the second worker's


NOISY_TOY = f"""_base_ = [{str(TINY_TOY)!r}]
custom_imports = dict(imports=['toy_hoi', 'noisy_toy'], allow_failed_imports=False)
train_dataloader = dict(num_workers=2, persistent_workers=True, dataset=dict(type='NoisyToyDataset'))
"""


def _toy_args(work, max_iters, *extra):
    return ['tools/train.py', work.parent / 'noisy_toy.py', '--work-dir', work, *extra, '--cfg-options',
            f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={TOY_N}',
            f'default_hooks.checkpoint.interval={TOY_STOP}']


def test_resume_with_two_data_workers_repeats_their_draws(tmp_path):
    env = dict(OMP_NUM_THREADS='1')
    (tmp_path / 'noisy_toy.py').write_text(NOISY_TOY)
    whole, split, reseeded = tmp_path / 'whole', tmp_path / 'split', tmp_path / 'reseeded'
    background = _start(_toy_args(whole, TOY_N), env)
    _finish(_start(_toy_args(split, TOY_STOP), env))
    _finish(background)

    # a copy of the checkpoint without the workers' states (as an older imagin4d wrote it): workers are reseeded
    reseeded.mkdir()
    checkpoint = torch.load(split / f'iter_{TOY_STOP}.pth', weights_only=False)
    workers = checkpoint['random_state'].pop('workers')
    assert len(workers) == 2 and all('generators' in entry for entry in workers)
    torch.save(checkpoint, reseeded / f'iter_{TOY_STOP}.pth')
    (reseeded / 'last_checkpoint').write_text(str(reseeded / f'iter_{TOY_STOP}.pth'))

    exact, fallback = _start(_toy_args(split, TOY_N, '--resume'), env), _start(_toy_args(reseeded, TOY_N, '--resume'),
                                                                              env)
    _finish(exact)
    output, _ = fallback.communicate(timeout=300)
    assert fallback.returncode == 0 and 'holds no state of the data workers' in output, output[-3000:]

    expected, got, other = _losses(whole), _losses(split), _losses(reseeded)
    assert sorted(got) == list(range(1, TOY_N + 1)) and sorted(other) == list(range(TOY_STOP + 1, TOY_N + 1))
    for iteration in range(TOY_STOP + 1, TOY_N + 1):
        assert got[iteration] == expected[iteration], iteration
        assert other[iteration] != expected[iteration], iteration   # the workers' draws are what the test sees

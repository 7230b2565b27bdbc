"""`kill -9` while a checkpoint is being saved: no truncated checkpoint is left under its final name, and
`--resume` (auto) finds the last intact checkpoint and continues (checkpoints and the `last_checkpoint` marker are
written to a temporary file and renamed; the killed write's temporary file is removed on resume)."""

import pytest
import torch
from testing_utils import REPO, TINY_TOY, run_tool

pytestmark = pytest.mark.fault

#: Runs tools/train.py (argv[2:]), killing itself with SIGKILL when a file whose name ends with argv[1] has been
#: written but not yet renamed into place (the n-th such file when argv[1] is SUFFIX:n).
KILLER = '''
import os, runpy, signal, sys
real_replace, (suffix, _, nth) = os.replace, sys.argv[1].partition(':')
seen = [0]
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith(suffix):
        seen[0] += 1
        if seen[0] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *args, **kwargs)
os.replace = replace
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def test_kill_during_checkpoint_save_then_resume(tmp_path):
    work = tmp_path / 'work'
    run_tool(['-c', KILLER, 'iter_4.pth', 'tools/train.py', TINY_TOY, '--work-dir', work, '--cfg-options',
              'train_cfg.max_iters=6'], cwd=REPO, check=False)
    leftovers = [p.name for p in work.iterdir() if p.name.startswith('.tmp-')]
    assert leftovers and not (work / 'iter_4.pth').exists(), sorted(p.name for p in work.iterdir())
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_2.pth')

    result = run_tool(['tools/train.py', TINY_TOY, '--work-dir', work, '--resume', 'auto', '--cfg-options',
                       'train_cfg.max_iters=6'], cwd=REPO)
    log = result.stdout + result.stderr
    assert 'removed 1 incomplete file(s) of a killed run' in log and 'resumed epoch: 0, iter: 2' in log
    assert not [p for p in work.iterdir() if p.name.startswith('.tmp-')]
    assert torch.load(work / 'iter_6.pth', weights_only=False)['meta']['iter'] == 6


def test_kill_while_last_checkpoint_is_rewritten_leaves_the_previous_marker(tmp_path):
    work = tmp_path / 'work'
    # killed when the marker naming iter_4.pth (its second write) is written but not yet renamed into place
    killed = run_tool(['-c', KILLER, 'last_checkpoint:2', 'tools/train.py', TINY_TOY, '--work-dir', work,
                       '--cfg-options', 'train_cfg.max_iters=6'], cwd=REPO, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (work / 'iter_4.pth').is_file() and not (work / 'iter_6.pth').exists()
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')     # whole, the previous one
    leftovers = [p.name for p in work.iterdir() if p.name.startswith('.tmp-')]
    assert len(leftovers) == 1 and leftovers[0].endswith('last_checkpoint'), leftovers


def test_empty_last_checkpoint_marker_falls_back_to_the_newest_checkpoint(toy_copy):
    (toy_copy / 'last_checkpoint').write_text('')        # killed while the marker was rewritten
    result = run_tool(['tools/train.py', TINY_TOY, '--work-dir', toy_copy, '--resume', '--cfg-options',
                       'train_cfg.max_iters=6'], cwd=REPO)
    log = result.stdout + result.stderr
    assert f"resuming from {toy_copy / 'iter_4.pth'}" in log and 'resumed epoch: 0, iter: 4' in log

"""One training per work dir: a second run is refused naming the holder; a dead run's lock is taken over."""
import json
import os
import subprocess
import sys

import pytest
from testing_utils import REPO, TINY_TOY, one_line_error

from imagin4d.engine.work_dir_lock import LOCK_NAME, WorkDirBusyError, hold_work_dir

pytestmark = pytest.mark.fault

HOLDER = ('import sys, time\nfrom imagin4d.engine.work_dir_lock import hold_work_dir\n'
          'with hold_work_dir(sys.argv[1]):\n    print("held", flush=True)\n    time.sleep(120)\n')


def test_second_run_is_refused_naming_the_holder(tools_runner, tmp_path):
    work = tmp_path / 'work'
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(work)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        line = one_line_error(tools_runner('tools/train.py', TINY_TOY, '--work-dir', work, check=False))
        assert f'{work} is in use by another training (pid {holder.pid} on ' in line
        assert not list(work.glob('iter_*.pth')) and not [p for p in work.iterdir() if p.is_dir()]
    finally:
        holder.kill()
        holder.wait()
    # killed with SIGKILL: the kernel released the lock; the next run takes the stale file over and says so
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2')
    assert f'taking over the lock of a run that is no longer running (pid {holder.pid} on' in result.stdout
    assert (work / 'iter_2.pth').is_file() and not (work / LOCK_NAME).exists()      # released on exit


def test_lock_in_process(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(json.dumps(dict(pid=int(dead.stdout), host='here', started='then')))
    messages = []
    with hold_work_dir(str(tmp_path), rank=0, log=messages.append) as path:
        assert json.loads(open(path).read())['pid'] == os.getpid()
        with pytest.raises(WorkDirBusyError, match=f'pid {os.getpid()}'):
            with hold_work_dir(str(tmp_path), rank=0):
                pass
        with hold_work_dir(str(tmp_path), rank=1) as other:                       # other ranks do not lock
            assert other is None
    assert messages == [f'{tmp_path}: taking over the lock of a run that is no longer running '
                        f'(pid {int(dead.stdout)} on here since then (?))']
    assert not (tmp_path / LOCK_NAME).exists()

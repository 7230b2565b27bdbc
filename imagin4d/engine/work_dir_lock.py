"""One training per work dir: `hold_work_dir` keeps `<work_dir>/.imagin4d.lock` for the life of the run.

The lock is an advisory `fcntl.flock` on that file, which the kernel releases when the holder exits in any way
(`kill -9` included), so a lock left behind by a dead run is stale by construction: the next run takes it over and
says whose it was. The file records the holder (pid, host, start time, command) so that a refused run can say which
process holds the work dir. Only the main process of a distributed run (RANK 0) takes it.
"""
import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from typing import Optional

from imagin4d.utils.errors import UserError

__all__ = ['LOCK_NAME', 'WorkDirBusyError', 'hold_work_dir']

LOCK_NAME = '.imagin4d.lock'


class WorkDirBusyError(UserError):
    """Another live run holds the work dir."""


def _holder_text(info: dict) -> str:
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('started', '?')} "
            f"({info.get('command', '?')})")


def _read(path: str) -> dict:
    try:
        with open(path) as handle:
            return json.loads(handle.read() or '{}')
    except (OSError, ValueError):
        return {}


def _acquire(path: str):
    """Open and lock the lock file; returns (fd, previous holder info or None); raises WorkDirBusyError."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            info = _read(path)
            raise WorkDirBusyError(
                f'{os.path.dirname(path)} is in use by another training ({_holder_text(info)}); wait for it, use '
                f'another --work-dir, or delete {path} if that process is gone') from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:                 # else the previous holder removed the file between our open and lock: retry
            return fd, _read(path) or None
        os.close(fd)


@contextlib.contextmanager
def hold_work_dir(work_dir: str, rank: Optional[int] = None, log=print):
    """Hold `work_dir` for the `with` block (created if needed). A second run into it raises `WorkDirBusyError`
    naming the holder; a lock left by a dead run is taken over with a message. Ranks other than 0 do nothing."""
    if rank is None:
        rank = int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', 0)))
    if rank != 0:
        yield None
        return
    path = os.path.join(work_dir, LOCK_NAME)
    try:
        os.makedirs(work_dir, exist_ok=True)
        fd, stale = _acquire(path)
    except OSError as err:                       # not writable, read-only, a file, a full disk
        raise UserError(f'the work dir {work_dir} cannot be written ({err.strerror or err}); expected a writable '
                        'folder: choose another --work-dir') from None
    if stale:
        log(f'{work_dir}: taking over the lock of a run that is no longer running ({_holder_text(stale)})')
    info = dict(pid=os.getpid(), host=socket.gethostname(), started=time.strftime('%Y-%m-%d %H:%M:%S'),
                command=' '.join([os.path.basename(sys.argv[0] or 'python'), *sys.argv[1:]])[:300])
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    os.fsync(fd)
    try:
        yield path
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)

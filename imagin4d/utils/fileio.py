"""Writing files so that readers never see half of one: `atomic_open` (the caches, indexes, dumps and checkpoints
use it), and `check_writable`: a folder or an output file that cannot be written is found before a run starts."""
import contextlib
import os
import tempfile

__all__ = ['atomic_open', 'check_writable', 'remove_leftover_writes', 'TEMP_PREFIX']

#: Name prefix of the temporary files of `atomic_open` (one left behind is a write that was killed).
TEMP_PREFIX = '.tmp-'


@contextlib.contextmanager
def atomic_open(path, mode: str = 'wb'):
    """Open a temporary file beside `path` for writing; on a clean exit it replaces `path` (os.replace), on an
    error it is removed and `path` is left as it was. Safe with several writers (each has its own temporary file)
    and with concurrent readers. The folder is created; the file is made readable by all (0644), since caches are
    shared between users and jobs."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_writable(path, what: str, folder: bool = False) -> None:
    """Raise `UserError` naming `what` and `path` unless a file can be written there: `path` is a file to write
    (its folder is created), or a folder (`folder=True`). Tries a temporary file, which is removed."""
    from imagin4d.utils.errors import UserError
    path = os.fspath(path)
    target = path if folder else os.path.dirname(os.path.abspath(path))
    try:
        if not folder and os.path.isdir(path):
            raise IsADirectoryError(21, 'it is a folder')
        os.makedirs(target, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix='.write-test-'):
            pass
    except OSError as err:
        raise UserError(f'{what} {path} cannot be written ({err.strerror or err}); expected a writable '
                        f'{"folder" if folder else "file path"}: choose another one') from None


def remove_leftover_writes(folder) -> list:
    """Remove the temporary files of writes into `folder` that were killed (`kill -9` during a checkpoint save);
    returns their names. Only for a folder no other process writes into (a work dir held by its run)."""
    names = sorted(n for n in os.listdir(folder) if n.startswith(TEMP_PREFIX)) if os.path.isdir(folder) else []
    for name in names:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))
    return names

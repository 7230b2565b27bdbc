"""Writing files so that readers never see half of one: `atomic_open` (the caches, indexes and dumps use it)."""
import contextlib
import os
import tempfile

__all__ = ['atomic_open']


@contextlib.contextmanager
def atomic_open(path, mode: str = 'wb'):
    """Open a temporary file beside `path` for writing; on a clean exit it replaces `path` (os.replace), on an
    error it is removed and `path` is left as it was. Safe with several writers (each has its own temporary file)
    and with concurrent readers. The folder is created; the file is made readable by all (0644), since caches are
    shared between users and jobs."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

"""The preprocessed-frame cache of the HOI data sets: its per-frame array files, its folder, and what keys it.

Owns the per-frame array layout (`FRAME_ARRAYS`, written by `FrameWriter`, read back with np.memmap), the cache
folder of a (split, settings) pair (`cache_folder`: named by a digest of the settings and of the content of every
source file), building it atomically (`build_cache_folder`), and the report of older folders it replaces. Source
files are keyed by content (`SourceHasher`: sha256 of every file, remembered per file by its size, inode and change
times so unchanged files are read once), so a file rewritten in place rebuilds what depends on it.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import uuid
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from imagin4d.models.backbones.base import file_sha256
from imagin4d.utils.fileio import atomic_open

__all__ = ['FRAME_ARRAYS', 'FrameWriter', 'SourceHasher', 'cache_folder', 'build_cache_folder', 'older_folders']

#: Per-frame arrays of the cache: name -> (dtype, shape after the frame axis; 'P' = pose parameters).
FRAME_ARRAYS = {
    'joints24': ('float32', (24, 3)),
    'global_rot6d': ('float32', (22, 6)),
    'obj_rot': ('float32', (3, 3)),
    'obj_trans': ('float32', (3,)),
    'obj_scale': ('float32', ()),
    'contacts': ('uint8', (4,)),
    'pose': ('float32', ('P',)),
    'transl': ('float32', (3,)),
}


class FrameWriter:
    """Appends per-frame arrays to raw binary files (no full copy in memory); read back with np.memmap."""

    def __init__(self, folder: str, pose_dim: int):
        self.folder, self.count, self.files = folder, 0, {}
        self.specs = {k: (d, tuple(pose_dim if s == 'P' else s for s in shape))
                      for k, (d, shape) in FRAME_ARRAYS.items()}
        for name in self.specs:
            self.files[name] = open(osp.join(folder, f'{name}.bin'), 'wb')

    def append(self, arrays: Dict[str, np.ndarray]) -> int:
        n = None
        for name, (dtype, shape) in self.specs.items():
            a = np.ascontiguousarray(arrays[name], dtype=dtype)
            assert a.shape[1:] == shape, (name, a.shape, shape)
            n = a.shape[0] if n is None else n
            assert a.shape[0] == n, (name, a.shape, n)
            self.files[name].write(a.tobytes())
        offset, self.count = self.count, self.count + n
        return offset

    def close(self) -> dict:
        for f in self.files.values():
            f.close()
        return {k: dict(dtype=d, shape=list(s)) for k, (d, s) in self.specs.items()}


class SourceHasher:
    """Content signatures of source files and folders, remembered in `memo_file` between runs.

    A file's sha256 (`file_sha256`) is reused while its (size, inode, mtime_ns, ctime_ns) are unchanged; any write,
    even one that restores the old size and modification time, changes ctime_ns, so the file is read again.
    """

    def __init__(self, memo_file: str):
        self.memo_file = memo_file
        self._memo: Dict[str, list] = {}
        if osp.isfile(memo_file):
            try:
                with open(memo_file) as f:
                    self._memo = json.load(f)
            except (OSError, ValueError):
                self._memo = {}
        self._dirty = False

    def file_digest(self, path: str) -> str:
        st = os.stat(path)
        stamp = [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]
        key = osp.abspath(path)
        known = self._memo.get(key)
        if known is not None and known[:4] == stamp:
            return known[4]
        digest = file_sha256(path)
        self._memo[key] = stamp + [digest]
        self._dirty = True
        return digest

    def signature(self, path: str) -> list:
        """[name, 'missing'] | [name, size, sha256] of a file | [name, [(relative path, size, sha256), ...]] of a
        folder (every file under it, sorted)."""
        name = osp.basename(path)
        if osp.isfile(path):
            return [name, os.path.getsize(path), self.file_digest(path)]
        if not osp.isdir(path):
            return [name, 'missing']
        files = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for file_name in sorted(names):
                full = osp.join(root, file_name)
                files.append([osp.relpath(full, path), os.path.getsize(full), self.file_digest(full)])
        return [name, files]

    def save(self) -> None:
        if self._dirty:
            os.makedirs(osp.dirname(self.memo_file) or '.', exist_ok=True)
            with atomic_open(self.memo_file, 'w') as f:
                json.dump(self._memo, f)
            self._dirty = False


def cache_folder(cache_dir: str, prefix: str, settings: dict) -> Tuple[str, str]:
    """(folder, digest): `cache_dir/<prefix>_<digest>`, digest = sha1 of the settings (sources included)."""
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return osp.join(cache_dir, f'{prefix}_{digest}'), digest


def older_folders(cache_dir: str, prefix: str, keep: str) -> List[str]:
    """Cache folders of the same prefix (data set, split, window) other than `keep`: built from older sources or
    settings."""
    if not osp.isdir(cache_dir):
        return []
    return sorted(osp.join(cache_dir, n) for n in os.listdir(cache_dir)
                  if n.startswith(f'{prefix}_') and '.tmp-' not in n and osp.join(cache_dir, n) != keep
                  and len(n) == len(prefix) + 13 and osp.isfile(osp.join(cache_dir, n, 'manifest.json')))


def _folder_size(folder: str) -> int:
    return sum(osp.getsize(osp.join(root, n)) for root, _, names in os.walk(folder) for n in names)


def build_cache_folder(folder: str, build: Callable[[str], dict], prefix: str, owner: str,
                       others: Sequence[str] = ()) -> dict:
    """Build a cache folder atomically: `build(tmp)` fills a temporary folder and returns the manifest, which is
    written there before the folder is renamed into place (a concurrent builder of the same folder wins the race
    harmlessly). Older folders of the same prefix are reported (with their size), never deleted silently."""
    cache_dir = osp.dirname(folder)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f'{folder}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}'
    os.makedirs(tmp)
    try:
        manifest = build(tmp)
        with open(osp.join(tmp, 'manifest.json'), 'w') as f:
            json.dump(manifest, f)
        if osp.isdir(folder):  # stale (use_cache=False): replace it
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same folder first; theirs is equivalent
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if others:
        size = sum(_folder_size(o) for o in others) / 2 ** 20
        print_log(f'{owner}: {len(others)} other cache folder(s) of {prefix} in {cache_dir} ({size:.0f} MB), built '
                  f'from other source files or settings: {", ".join(osp.basename(o) for o in others)}; delete those '
                  'no run needs any more to free the space', logger='current')
    return manifest

"""atomic_open: the file appears whole or not at all; a failed write leaves the old file and no temporary."""
import os
import stat

import pytest

from imagin4d.utils.fileio import atomic_open


def test_atomic_open_replaces_whole_and_cleans_up_on_error(tmp_path):
    target = tmp_path / 'sub' / 'index.json'
    with atomic_open(target, 'w') as f:
        f.write('old')
    assert target.read_text() == 'old' and stat.S_IMODE(os.stat(target).st_mode) == 0o644
    with pytest.raises(RuntimeError):
        with atomic_open(target, 'w') as f:
            f.write('half of the new')
            raise RuntimeError('writer failed')
    assert target.read_text() == 'old'
    assert sorted(p.name for p in target.parent.iterdir()) == ['index.json']      # no temporary left behind

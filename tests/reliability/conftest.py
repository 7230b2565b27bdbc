"""Fixtures of the fault tests: one tiny toy training shared by the tests that need checkpoints."""
import shutil

import pytest
from testing_utils import REPO, TINY_TOY, run_tool


@pytest.fixture(scope='session')
def toy_work_dir(tmp_path_factory):
    """A finished 4-iteration tiny-toy training (checkpoints iter_2.pth, iter_4.pth). Copy before changing it."""
    work = tmp_path_factory.mktemp('toy_run') / 'work'
    run_tool(['tools/train.py', TINY_TOY, '--work-dir', work], cwd=REPO)
    return work


@pytest.fixture
def toy_copy(toy_work_dir, tmp_path):
    """A private copy of `toy_work_dir` (its `last_checkpoint` names the copy's checkpoint)."""
    target = tmp_path / 'work'
    shutil.copytree(toy_work_dir, target)
    (target / 'last_checkpoint').write_text(str(target / 'iter_4.pth'))
    return target


"""Fixtures of the dataset tests: a body model folder and tiny FBM / BEHAVE releases in the real layout."""
import os.path as osp
import shutil
import sys

import pytest

sys.path.insert(0, osp.dirname(__file__))
import hoi_fixtures  # noqa: E402


@pytest.fixture(scope='session')
def fixtures():
    """The fixture-writer module (tests/datasets/hoi_fixtures.py)."""
    return hoi_fixtures


@pytest.fixture(scope='session')
def body_model_dir(free_body_root):
    """The free body model folder (smplx/SMPLX_*.npz and smplh/SMPLH_*.npz), shared by every test session."""
    return str(free_body_root)


@pytest.fixture(scope='session')
def fbm_root(tmp_path_factory):
    """A pristine tiny FBM release (shared; tests that edit files use `fbm_copy`)."""
    return hoi_fixtures.write_fbm_release(str(tmp_path_factory.mktemp('fbm')))


@pytest.fixture
def fbm_copy(fbm_root, tmp_path):
    """A private copy of the FBM release (without its cache)."""
    dst = str(tmp_path / 'fbm')
    shutil.copytree(fbm_root, dst, ignore=shutil.ignore_patterns('imagin4d_cache'))
    return dst


@pytest.fixture(scope='session')
def behave_root(tmp_path_factory):
    return hoi_fixtures.write_behave_release(str(tmp_path_factory.mktemp('behave')))

"""Shared pytest fixtures."""
import pytest

from testing_utils import REPO, run_tool


@pytest.fixture
def tools_runner(tmp_path):
    def run(*args, **kwargs):
        return run_tool(list(args), cwd=REPO, **kwargs)
    return run


@pytest.fixture(scope='session')
def free_body_root():
    """The free SMPL-X/SMPL-H-layout body model, built once into data/body_models (or IMAGIN4D_BODY_MODEL_DIR)
    and reused across sessions (first build: about 1-3 minutes on 2 cores)."""
    import os

    from imagin4d.body_models.free_body import ensure_free_body_model
    return ensure_free_body_model(os.environ.get('IMAGIN4D_BODY_MODEL_DIR') or REPO / 'data' / 'body_models')


@pytest.fixture
def single_torch_thread():
    """Run a test on one intra-op torch thread: tiny matmuls on a shared 2-core machine run several times
    faster (and steadier) without thread contention. Use with `pytestmark = pytest.mark.usefixtures(...)`."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

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


@pytest.fixture(scope='session')
def mini_fbm_root(tmp_path_factory, free_body_root):
    """A small mini-FBM: 16 train sequences (two per object) and 8 test sequences (one per object)."""
    from imagin4d.datasets.synthetic import build_mini_fbm
    root = str(tmp_path_factory.mktemp('mini_fbm'))
    summary = build_mini_fbm(root, str(free_body_root), num_train=16, num_test=8, seed=3, progress=False)
    assert summary['num_train'] == 16 and summary['num_test'] == 8
    return root


@pytest.fixture(scope='session')
def mini_fbm_prepared(tmp_path_factory, free_body_root):
    """A small mini-FBM with everything a model needs, built by the real tool (tools/data/prepare_mini_fbm.py, in a
    subprocess: the renderer must not share a process that later forks): 16 train / 8 test sequences, mesh and
    sketch references at 96 px (1 depicted frame per training window), EfficientNet-Lite0 + MiniLM feature caches.
    Layout: <root>/references/{train,test}_{mesh,sketch}.json, <root>/feature_cache."""
    root = tmp_path_factory.mktemp('mini_fbm_prepared') / 'mini_fbm'
    run_tool(['tools/data/prepare_mini_fbm.py', '--out', root, '--num-train', 16, '--num-test', 8, '--seed', 3,
              '--size', 96, '--train-frames', 1, '--body-model-dir', free_body_root], cwd=REPO, timeout=900)
    return str(root)

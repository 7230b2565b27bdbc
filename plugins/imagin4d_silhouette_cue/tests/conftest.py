"""Fixtures of the plugin's tests: the plugin source on sys.path, the real tools, a prepared mini-FBM.

CI does not pip-install the plugin, so this puts `src/` on sys.path (in-process tests) and hands it to the tools
as extra PYTHONPATH. The fixtures of tests/conftest.py are not visible here (a conftest serves its own folder
only), so the few this folder needs are defined again on top of `testing_utils` (tests/fixtures, on pytest's
pythonpath). `mini_fbm_prepared` reuses the data set that tests/conftest.py's fixture of the same name built
earlier in the same session (`pytest` runs tests/ before plugins/), instead of building it a second time.
"""
import os
import sys
from pathlib import Path

import pytest
from testing_utils import REPO, run_tool

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SRC = PLUGIN_ROOT / 'src'

if str(PLUGIN_SRC) not in sys.path:
    sys.path.insert(0, str(PLUGIN_SRC))

# A complete tools/data/prepare_mini_fbm.py output has these indices and (written last) text features.
_PREPARED_MARKERS = ('references/train_mesh.json', 'references/test_mesh.json', 'references/test_sketch.json')


@pytest.fixture
def tools_runner():
    """Run a tool from the repository root with the plugin source on PYTHONPATH."""
    def run(*args, extra_pythonpath=(), **kwargs):
        return run_tool(list(args), cwd=REPO, extra_pythonpath=[PLUGIN_SRC, *extra_pythonpath], **kwargs)
    return run


@pytest.fixture(scope='session')
def free_body_root():
    from imagin4d.body_models.free_body import ensure_free_body_model
    return ensure_free_body_model(os.environ.get('IMAGIN4D_BODY_MODEL_DIR') or REPO / 'data' / 'body_models')


def _prepared_earlier(tmp_path_factory):
    """The mini-FBM tests/conftest.py prepared in this session (same sizes), or None."""
    for root in sorted(tmp_path_factory.getbasetemp().glob('mini_fbm_prepared*/mini_fbm')):
        texts = list(root.glob('feature_cache/text--*'))
        if all((root / marker).is_file() for marker in _PREPARED_MARKERS) and texts and any(texts[0].iterdir()):
            return str(root)
    return None


@pytest.fixture(scope='session')
def mini_fbm_prepared(tmp_path_factory, free_body_root):
    """tests/conftest.py's `mini_fbm_prepared` (16 train / 8 test sequences, 96 px mesh and sketch references,
    feature caches), built with the real tool unless this session already has it."""
    earlier = _prepared_earlier(tmp_path_factory)
    if earlier is not None:
        return earlier
    root = tmp_path_factory.mktemp('plugin_mini_fbm_prepared') / 'mini_fbm'
    run_tool(['tools/data/prepare_mini_fbm.py', '--out', root, '--num-train', 16, '--num-test', 8, '--seed', 3,
              '--size', 96, '--train-frames', 1, '--body-model-dir', free_body_root], cwd=REPO, timeout=900)
    return str(root)

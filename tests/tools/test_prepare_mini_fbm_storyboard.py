"""tools/data/prepare_mini_fbm.py --storyboard-test: the storyboard test references (3 depicted frames per test window
in their own list and render cache, their features cached) are an extra step, the default build runs the same steps
as before; a failed step stops with one line naming it."""
import json
import shutil
from pathlib import Path

import pytest
from testing_utils import REPO, load_tool, one_line_error, run_tool


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """prepare_mini_fbm with its steps recorded instead of run, on a root that already holds the motion."""
    from imagin4d.datasets.synthetic.writer import FACTORS_FILE, GENERATOR_VERSION
    tool = load_tool('tools/data/prepare_mini_fbm.py')
    root = tmp_path / 'mini'
    root.mkdir()
    (root / 'train_diffusion_manip_seq_joints24.p').write_bytes(b'')
    (root / FACTORS_FILE).write_text(json.dumps({'version': GENERATOR_VERSION}))
    calls = []
    monkeypatch.setattr(tool, 'run', lambda *args: calls.append([Path(str(args[0])).name, *map(str, args[1:])]))
    return tool, str(root), calls


def _renders(calls):
    return [(c[c.index('--split') + 1], c[c.index('--style') + 1],
             c[c.index('--frames-per-window') + 1] if '--frames-per-window' in c else None,
             c[c.index('--out') + 1] if '--out' in c else None) for c in calls if c[0] == 'render_references.py']


def _images(calls):
    cache, = [c for c in calls if c[0] == 'cache_features.py']
    return cache[cache.index('--images') + 1:cache.index('--texts')]


def test_default_build_runs_the_same_steps(recorded):
    tool, root, calls = recorded
    tool.main(['--out', root])
    assert _renders(calls) == [('train', 'mesh', '3', None), ('train', 'sketch', '3', None),
                               ('test', 'mesh', None, None), ('test', 'sketch', None, None)]
    assert _images(calls) == [f'{root}/references/cache']
    assert [c[0] for c in calls] == ['render_references.py'] * 4 + ['cache_features.py']


def test_storyboard_test_adds_its_own_list_and_features(recorded):
    tool, root, calls = recorded
    tool.main(['--out', root, '--storyboard-test', '--styles', 'mesh'])
    board = f'{root}/references_storyboard'
    assert _renders(calls) == [('train', 'mesh', '3', None), ('test', 'mesh', None, None),
                               ('test', 'mesh', '3', board)]
    assert _images(calls) == [f'{root}/references/cache', f'{board}/cache']
    calls.clear()
    tool.main(['--out', root, '--storyboard-test', '--storyboard-frames', '2', '--styles', 'mesh'])
    assert _renders(calls)[-1] == ('test', 'mesh', '2', board)
    with pytest.raises(SystemExit):
        tool.main(['--out', root, '--storyboard-test', '--storyboard-frames', '0'])


def test_failed_step_is_one_line_naming_it(tmp_path):
    result = run_tool(['tools/data/prepare_mini_fbm.py', '--out', tmp_path / 'x', '--num-train', -1], cwd=REPO,
                      check=False, timeout=120)
    line = one_line_error(result)
    assert 'step make_mini_fbm.py failed (exit code 2' in line, line


@pytest.mark.slow
def test_storyboard_references_are_rendered_and_cached(mini_fbm_prepared, tmp_path):
    from imagin4d.models.backbones.feature_cache import FeatureCache
    from imagin4d.rendering.dataset_references import load_reference_index
    root = tmp_path / 'mini_fbm'
    shutil.copytree(mini_fbm_prepared, root)
    plain = (root / 'references' / 'test_mesh.json').read_text()
    run_tool(['tools/data/prepare_mini_fbm.py', '--out', root, '--size', 96, '--train-frames', 1, '--styles', 'mesh',
              '--storyboard-test'], cwd=REPO, timeout=600)
    assert (root / 'references' / 'test_mesh.json').read_text() == plain     # the ordinary test list is kept
    single = load_reference_index(str(root / 'references' / 'test_mesh.json'))
    board = load_reference_index(str(root / 'references_storyboard' / 'test_mesh.json'))
    windows = {}
    for entry in board:
        windows.setdefault((entry['seq_name'], entry['window_start']), []).append(entry['t_star'])
    assert set(windows) == {(e['seq_name'], e['window_start']) for e in single}
    assert all(len(set(f)) == len(f) for f in windows.values())
    assert sum(map(len, windows.values())) == len(board) >= 2.5 * len(windows)   # 3 a window (a failed camera aside)
    cache = FeatureCache(root / 'feature_cache')
    spec = cache.spec_for(dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448)))
    for entry in board:
        assert 'references_storyboard' in entry['image']
        assert cache.get(Path(entry['image']), spec)['patch'].shape == (196, 1280)

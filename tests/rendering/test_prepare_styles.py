"""prepare_mini_fbm.py --styles scene --mixture mesh scene: adds an image domain of the transfer study to a built
mini-FBM without re-rendering or re-encoding what exists, writes the mixture index, and the scene/mixture configs
read what it wrote (one extra style keeps the test short; `degraded` goes through the same path)."""
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from testing_utils import REPO, run_tool

pytestmark = pytest.mark.slow  # renders and encodes images in subprocesses


def _files(root: Path, suffix: str):
    return {p: p.stat().st_mtime_ns for p in root.rglob(f'*{suffix}')}


def test_extra_styles_reuse_the_build_and_write_the_mixture(mini_fbm_prepared, tmp_path):
    root = tmp_path / 'mini_fbm'
    shutil.copytree(mini_fbm_prepared, root)
    before = _files(root / 'references' / 'cache', '.png')
    features_before = _files(root / 'feature_cache', '.npz')   # the entries (index.json is rewritten)
    out = run_tool(['tools/data/prepare_mini_fbm.py', '--out', root, '--size', 96, '--train-frames', 1,
                    '--styles', 'scene', '--mixture', 'mesh', 'scene'], cwd=REPO, timeout=900)
    after = _files(root / 'references' / 'cache', '.png')
    assert all(after.get(p) == t for p, t in before.items())              # mesh/sketch images untouched
    features_after = _files(root / 'feature_cache', '.npz')
    assert all(features_after.get(p) == t for p, t in features_before.items())
    refs = root / 'references'
    new = {'scene': json.loads((refs / 'train_scene.json').read_text())}
    test_new = {'scene': json.loads((refs / 'test_scene.json').read_text())}
    assert all(len(v) > 0 for v in (*new.values(), *test_new.values()))
    mesh_train = json.loads((refs / 'train_mesh.json').read_text())
    mixture = json.loads((refs / 'train_mixture.json').read_text())
    assert Counter(e['style'] for e in mixture) == {'mesh': len(mesh_train), **{s: len(v) for s, v in new.items()}}
    assert all((refs / e['image']).is_file() for e in mixture)
    # the encoder ran only for the new images: every new image has features, the old ones were not recomputed
    pngs_before, pngs_new = len(before), len(after) - len(before)
    match = re.search(r'images: (\d+) items .*?: (\d+) computed .*?, (\d+) already cached', out.stdout)
    assert match and pngs_new > 0, out.stdout[-2000:]
    assert tuple(map(int, match.groups())) == (pngs_before + pngs_new, pngs_new, pngs_before)
    from imagin4d.models.backbones.feature_cache import FeatureCache
    from imagin4d.rendering.dataset_references import load_reference_index
    cache = FeatureCache(root / 'feature_cache')
    spec = cache.spec_for(dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448)))
    for style in ('scene',):
        for entry in load_reference_index(str(refs / f'test_{style}.json')):
            assert cache.get(Path(entry['image']), spec)['patch'].shape == (196, 1280)
    # the configs of the study read these indexes
    from mmengine.config import Config
    for config, train, test in (('mini_fbm_scene.py', 'train_scene', 'test_scene'),
                                ('mini_fbm_mixture.py', 'train_mixture', 'test_mesh')):
        cfg = Config.fromfile(str(REPO / 'projects' / 'imagin4d' / config))
        assert cfg.train_dataloader.dataset.pipeline[0]['reference_index'].endswith(f'/references/{train}.json')
        assert cfg.test_dataloader.dataset.pipeline[0]['reference_index'].endswith(f'/references/{test}.json')
        assert (refs / f'{train}.json').is_file() and (refs / f'{test}.json').is_file()

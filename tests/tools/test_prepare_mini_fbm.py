"""tools/data/prepare_mini_fbm.py on a data root it already built: nothing is regenerated, and --backbone-cfg adds the
reference features of another backbone configuration (here EfficientNet-Lite0 at 64 px: a 2 x 2 patch grid) beside
the default ones."""
import json
import shutil
from pathlib import Path

import numpy as np

from testing_utils import REPO, run_tool


def test_backbone_cfg_adds_features_read_at_another_size(mini_fbm_prepared, tmp_path):
    from imagin4d.rendering.dataset_references import load_reference_index
    from imagin4d.rendering.feature_cache import FeatureCache
    root = tmp_path / 'mini_fbm'
    shutil.copytree(mini_fbm_prepared, root)
    motion = root / 'train_diffusion_manip_seq_joints24.p'
    written = motion.stat().st_mtime_ns
    run_tool(['tools/data/prepare_mini_fbm.py', '--out', root, '--size', 96, '--train-frames', 1, '--styles', 'mesh',
              '--backbone-cfg', json.dumps({'preprocess': {'size': 64}})], cwd=REPO, timeout=600)
    assert motion.stat().st_mtime_ns == written   # the existing build is kept
    cache = FeatureCache(root / 'feature_cache')
    small = cache.spec_for(dict(type='EfficientNetLite0Backbone', preprocess=dict(size=64)))
    default = cache.spec_for(dict(type='EfficientNetLite0Backbone'))
    image = load_reference_index(str(root / 'references' / 'test_mesh.json'))[0]['image']
    item = Path(image)
    assert cache.get(item, small)['patch'].shape == (4, 1280)    # 64 px / stride 32 = 2 x 2
    assert cache.get(item, default)['patch'].shape == (49, 1280)  # 224 px: 7 x 7, still there
    assert np.isfinite(cache.get(item, small)['patch'].astype(np.float32)).all()

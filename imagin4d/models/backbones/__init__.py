"""Frozen feature extractors: image backbones (EfficientNet-Lite0, DINOv2) and text encoders (MiniLM, CLIP).

Importing this package registers them in `imagin4d.registry.MODELS`. They run when their feature cache is built
(`tools/data/cache_features.py`) and when a user's request is generated; training reads the cache
(`feature_cache.py`: the on-disk features of these extractors, imported from its own module).
"""
from .base import (
                   IMAGENET_MEAN,
                   IMAGENET_STD,
                   FrozenExtractor,
                   FrozenImageBackbone,
                   ImagePreprocessor,
                   MissingWeightsError,
                   file_sha256,
                   load_state_dict_file,
                   weights_id_of_files,
)
from .dinov2 import DINOV2_ARCHS, DINOv2Backbone, DINOv2ViT, to_official_layout
from .efficientnet_lite import EfficientNetLite0, EfficientNetLite0Backbone, packaged_lite0_weights
from .text import CLIPTextEncoder, FrozenTextEncoder, MiniLMTextEncoder, packaged_minilm_dir

__all__ = [
    'IMAGENET_MEAN', 'IMAGENET_STD', 'FrozenExtractor', 'FrozenImageBackbone', 'ImagePreprocessor',
    'MissingWeightsError', 'file_sha256', 'load_state_dict_file', 'weights_id_of_files', 'DINOV2_ARCHS',
    'DINOv2Backbone',
    'DINOv2ViT', 'to_official_layout', 'EfficientNetLite0', 'EfficientNetLite0Backbone',
    'packaged_lite0_weights', 'CLIPTextEncoder', 'FrozenTextEncoder', 'MiniLMTextEncoder',
    'packaged_minilm_dir',
]

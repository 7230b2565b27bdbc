"""Motion codecs: motion representation <-> tensors and their normalisation statistics.

Importing this package registers every codec in `imagin4d.registry.MOTION_CODECS`.
"""
from .base import BaseMotionCodec
from .chois_motion_codec import CHOISMotionCodec

__all__ = ['BaseMotionCodec', 'CHOISMotionCodec']

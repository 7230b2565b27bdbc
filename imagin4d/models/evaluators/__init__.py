"""Evaluator networks used by the metrics (never by generation): the text-motion evaluator behind FID / R-precision.

Importing this package registers them in `imagin4d.registry.MODELS`.
"""
from .text_motion_evaluator import (
                                    CHECKPOINT_FORMAT,
                                    CachedTextFeatures,
                                    MotionStatistics,
                                    TextMotionEvaluator,
                                    collate_text_features,
                                    frame_differences,
)

__all__ = ['CHECKPOINT_FORMAT', 'CachedTextFeatures', 'MotionStatistics', 'TextMotionEvaluator',
           'collate_text_features', 'frame_differences']

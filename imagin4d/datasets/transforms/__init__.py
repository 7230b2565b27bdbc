"""Data transforms of HOI pipelines (registered in `imagin4d.registry.TRANSFORMS`)."""
from .depicted_frame import SampleDepictedFrame
from .formatting import PackHOIInputs

__all__ = ['PackHOIInputs', 'SampleDepictedFrame']

"""Data transforms of HOI pipelines (registered in `imagin4d.registry.TRANSFORMS`)."""
from .depicted_frame import SampleDepictedFrame
from .formatting import PackHOIInputs
from .reference_features import LoadReferenceFeatures, SampleObjectPoints, mirrored_image_path

__all__ = ['PackHOIInputs', 'SampleDepictedFrame', 'LoadReferenceFeatures', 'SampleObjectPoints',
           'mirrored_image_path']

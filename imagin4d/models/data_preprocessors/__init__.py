"""Data preprocessors: collated samples -> the model's padded, normalised conditioning batch."""
from .hoi_data_preprocessor import HOIDataPreprocessor, pad_stack

__all__ = ['HOIDataPreprocessor', 'pad_stack']

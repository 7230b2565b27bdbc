"""Data structures: the data samples that carry one HOI window through the pipeline."""
from .hoi_data_sample import HOIDataSample

__all__ = ['HOIDataSample']

"""Datasets: FBMDataset, BEHAVEDataset (windows of canonical HOI motion), transforms/, synthetic/.

Importing this package registers the datasets (DATASETS) and transforms (TRANSFORMS).
"""
from . import transforms  # noqa: F401
from .behave import BEHAVEDataset
from .fbm import FBMDataset
from .hoi_dataset import BaseHOIDataset
from .preprocessing import BadSequenceError, SkipSequence

__all__ = ['BaseHOIDataset', 'FBMDataset', 'BEHAVEDataset', 'BadSequenceError', 'SkipSequence']

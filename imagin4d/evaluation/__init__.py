"""Evaluation: pure metric math (`functional/`) and the mmengine metrics that apply it (`metrics/`)."""
from . import functional, metrics  # noqa: F401
from .metrics import (
    HOIMotionMetric,  # noqa: F401
    ImageAdherenceMetric,  # noqa: F401
)

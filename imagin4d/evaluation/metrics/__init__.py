"""mmengine `BaseMetric` classes (registered in METRICS) that read HOIDataSample dicts and call `functional/`."""
from .hoi_motion_metric import HOIMotionMetric  # noqa: F401
from .image_adherence_metric import ImageAdherenceMetric  # noqa: F401

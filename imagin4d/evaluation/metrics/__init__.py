"""mmengine `BaseMetric` classes (registered in METRICS) that read HOIDataSample dicts and call `functional/`."""
from .distribution_metric import DistributionMetric  # noqa: F401
from .dump_results import DumpHOIResults, read_dump, write_dump, write_samples  # noqa: F401
from .hoi_motion_metric import HOIMotionMetric  # noqa: F401
from .image_adherence_metric import ImageAdherenceMetric  # noqa: F401
from .long_sequence_metric import LongSequenceMetric  # noqa: F401

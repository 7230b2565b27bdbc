"""DumpHOIResults: keeps every evaluated sample (generated motion, GT, conditions, per-sample metrics) for a dump.

Owns the dump format read by tools/visualize.py and analysis scripts: a pickle of a list of plain dicts, one per
sample, `HOIDataSample.to_dict()` with tensors as numpy arrays, plus 'metrics' {name: float} merged from the
per-sample rows (`last_rows`) of the other metrics of the same evaluator (see `write_dump`).
"""
import pickle
from typing import List, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from imagin4d.registry import METRICS
from imagin4d.utils.fileio import atomic_open

__all__ = ['DumpHOIResults', 'write_dump', 'plain_sample']


def plain_sample(value):
    """A data sample's dict (or any value in it) with tensors as numpy arrays: what a dump holds."""
    if hasattr(value, 'detach'):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: plain_sample(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], 'detach'):
        return [plain_sample(v) for v in value]
    return value


@METRICS.register_module()
class DumpHOIResults(BaseMetric):
    """Collects the samples of an evaluation (gathered across ranks); `compute_metrics` returns nothing.

    After the evaluation `self.samples` holds the list of dicts; `write_dump(path, evaluator)` adds the other
    metrics' per-sample rows and writes the pickle."""

    default_prefix = 'dump'

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.samples: List[dict] = []

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append(plain_sample(dict(sample)))

    def compute_metrics(self, results: list) -> dict:
        self.samples = list(results)
        return {}


def write_dump(path: str, metrics: Sequence[BaseMetric]) -> int:
    """Write the samples of the `DumpHOIResults` among `metrics` with the other metrics' per-sample rows merged in
    as sample['metrics'] (rows are in sample order; a row naming another seq_name is an error). Returns the count."""
    dump = next(m for m in metrics if isinstance(m, DumpHOIResults))
    samples = [dict(s, metrics={}) for s in dump.samples]
    for metric in metrics:
        rows = getattr(metric, 'last_rows', None)
        if not rows or metric is dump:
            continue
        if len(rows) != len(samples):
            raise RuntimeError(f'{type(metric).__name__} kept {len(rows)} per-sample rows for {len(samples)} samples')
        for sample, row in zip(samples, rows):
            if row.get('seq_name') not in (None, sample.get('seq_name')):
                raise RuntimeError(f"{type(metric).__name__}: row of {row.get('seq_name')} does not match sample "
                                   f"{sample.get('seq_name')}")
            sample['metrics'].update({k: float(v) for k, v in row.items()
                                      if isinstance(v, (int, float, np.floating, np.integer)) and k != 'seq_len'})
    with atomic_open(path) as f:
        pickle.dump(samples, f, protocol=pickle.HIGHEST_PROTOCOL)
    return len(samples)

"""DumpHOIResults: keeps every evaluated sample (generated motion, GT, conditions, per-sample metrics) for a dump.

Owns the dump format read by tools/visualize.py and analysis scripts: a list of plain dicts, one per sample,
`HOIDataSample.to_dict()` with tensors as numpy arrays, plus 'metrics' {name: float} merged from the per-sample
rows (`last_rows`) of the other metrics of the same evaluator (see `write_dump`).

On disk a dump holds arrays and plain values only, so reading one runs no code: an `.npz` (`np.load(
allow_pickle=False)`) whose member `__structure__` is the JSON of the list with each array replaced by
{"__array__": member}; tuples read back as lists. `write_samples` / `read_dump` are the writer and the reader (any
extension: `results.pkl` paths keep working; a pickle written by an older imagin4d is refused with a message).
"""
import json
import zipfile
from typing import List, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from imagin4d.registry import METRICS
from imagin4d.utils.errors import DataError
from imagin4d.utils.fileio import atomic_open

__all__ = ['DumpHOIResults', 'write_dump', 'plain_sample', 'write_samples', 'read_dump']

STRUCTURE = '__structure__'


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
    return write_samples(path, samples)


def _encode(value, arrays: dict, where: str):
    """JSON-able structure of `value`; arrays go to `arrays` under a member name."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f'{where}: dump dict keys must be strings')
        return {k: _encode(v, arrays, f'{where}.{k}') for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays, f'{where}[{i}]') for i, v in enumerate(value)]
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return _encode(value.tolist(), arrays, where)
        name = f'a{len(arrays)}'
        arrays[name] = value
        return {'__array__': name}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f'{where}: a {type(value).__name__} cannot be dumped (arrays and plain values only)')


def _decode(value, arrays):
    if isinstance(value, dict):
        if set(value) == {'__array__'}:
            return arrays[value['__array__']]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def write_samples(path: str, samples: Sequence[dict]) -> int:
    """Write a list of sample dicts (arrays, tensors and plain values) as a dump; returns the count."""
    arrays: dict = {}
    structure = _encode(list(samples), arrays, 'samples')
    with atomic_open(path) as f:
        np.savez(f, **{STRUCTURE: np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)}, **arrays)
    return len(samples)


def read_dump(path: str) -> list:
    """The list of sample dicts of a dump (see the module docstring); a pickle or another file is refused with
    one line (`DataError`) and is never unpickled."""
    with open(path, 'rb') as f:
        head = f.read(4)
    if head[:1] == b'\x80':
        raise DataError(f'{path} is a pickle (the dump format of earlier imagin4d versions, or not a dump): it is not '
                        'read, since reading a pickle can run code. Write it again: tools/test.py CONFIG CKPT --dump')
    if not zipfile.is_zipfile(path):
        raise DataError(f'{path} is not a results dump (expected the .npz written by tools/test.py --dump)')
    try:
        with np.load(path, allow_pickle=False) as data:
            if STRUCTURE not in data.files:
                raise DataError(f'{path} is not a results dump (an .npz without {STRUCTURE}; expected the file '
                                'written by tools/test.py --dump)')
            structure = json.loads(bytes(data[STRUCTURE]).decode())
            arrays = {k: data[k] for k in data.files if k != STRUCTURE}
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise DataError(f'{path} is not a readable results dump ({type(err).__name__}: {err}); is it truncated? '
                        'Write it again with tools/test.py --dump') from None
    if not isinstance(structure, list):
        raise DataError(f'{path} is not a results dump: expected a list of samples')
    return _decode(structure, arrays)

"""NonFiniteStopHook: a non-finite loss or gradient stops training before anything saves or averages it."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from imagin4d.registry import HOOKS
from imagin4d.utils.errors import TrainingDivergedError

__all__ = ['NonFiniteStopHook', 'all_finite', 'describe_batch']


def _finite(value) -> bool:
    if torch.is_tensor(value):
        return bool(torch.isfinite(value.detach()).all())
    try:
        return bool(torch.isfinite(torch.as_tensor(float(value))))
    except (TypeError, ValueError):
        return True


def all_finite(tensors) -> bool:
    """True when no element of the tensors is NaN or inf, in one host sync: x * 0 is 0 for a finite x and NaN
    otherwise, so each tensor's sum of x * 0 is 0 exactly when it is finite (one fused foreach multiply instead of
    an isfinite / all pair per tensor: 2.1 against 7.7 ms per check for the mini model's 229 tensors)."""
    zeros = torch._foreach_mul(list(tensors), 0.0)
    return bool(torch.isfinite(torch.stack([z.sum(dtype=torch.float32) for z in zeros])).all())


def _value(value) -> float:
    return float(value.detach().float().mean()) if torch.is_tensor(value) else float(value)


def _non_finite_inputs(value, prefix='') -> list:
    """Names of the tensors of a batch (nested dicts/lists) holding NaN or inf."""
    if torch.is_tensor(value):
        return [prefix] if value.is_floating_point() and not bool(torch.isfinite(value).all()) else []
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _non_finite_inputs(v, f'{prefix}.{k}' if prefix else str(k))]
    if isinstance(value, (list, tuple)) and value and torch.is_tensor(value[0]):
        return sorted({n for v in value for n in _non_finite_inputs(v, prefix)})
    return []


def describe_batch(data_batch, limit: int = 8) -> str:
    """`seq_name@window_start` of the samples of a batch (their HOIDataSample metainfo), or why it is unknown."""
    samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
    names = []
    for sample in samples or []:
        info = getattr(sample, 'metainfo', sample if isinstance(sample, dict) else {})
        if 'seq_name' in info:
            names.append(f"{info['seq_name']}@{info.get('window_start', '?')}")
    if not names:
        return 'samples not known (the batch carries no seq_name)'
    more = f' and {len(names) - limit} more' if len(names) > limit else ''
    return 'samples ' + ', '.join(names[:limit]) + more


@HOOKS.register_module()
class NonFiniteStopHook(Hook):
    """Stops training with `TrainingDivergedError` when an iteration's loss, or a weight after its update (what a
    non-finite gradient leaves), is NaN or inf. Registered by default by `prepare_runtime`.

    It runs after the optimiser step and before EMAHook averages the weights and CheckpointHook saves them, so no
    checkpoint with non-finite weights is written and `--resume` picks the last good one. The weight check is one
    reduction per parameter and one host sync per iteration; `interval` checks the weights every N iterations.
    """
    priority = 'ABOVE_NORMAL'    # before EMAHook (NORMAL) and CheckpointHook (VERY_LOW)

    def __init__(self, interval: int = 1):
        self.interval = int(interval)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        bad = {k: v for k, v in (outputs or {}).items() if not _finite(v)}
        if bad:
            problem = 'non-finite loss ' + ', '.join(f'{k}={_value(v)}' for k, v in bad.items())
        elif self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner):
            problem = self._weights(runner)
        else:
            problem = None
        if problem is None:
            return
        inputs = _non_finite_inputs(data_batch)
        where = f"; non-finite inputs: {', '.join(inputs[:4])}" if inputs else ''
        marker = osp.join(runner.work_dir, 'last_checkpoint')
        last = open(marker).read().strip() if osp.isfile(marker) else None
        keep = f'the last good checkpoint is {last} (--resume continues from it)' if last else \
            'no checkpoint was saved before it'
        raise TrainingDivergedError(f'training stopped at iteration {runner.iter + 1}: {problem} on '
                                    f'{describe_batch(data_batch)}{where}; {keep}')

    @staticmethod
    def _weights(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not params or all_finite([p.detach() for _, p in params]):
            return None
        names = [n for n, p in params if not bool(torch.isfinite(p.detach()).all())]
        return (f'non-finite weights after the update (a non-finite gradient) in {len(names)} parameters '
                f'{names[:3]}')

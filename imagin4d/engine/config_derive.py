"""Settings derived from a merged config (after `--cfg-options`), applied by `runner_setup.load_config`.

Owns:

- `body_model_root`: a data set config's one top-level setting (imagin4d.body_models.locate) becomes the
  `body_model_root` of every data loader's HOI data set (and of an evaluator config's train/test_dataset) and of
  every evaluator metric that takes one, where they set none, so `--cfg-options body_model_root=DIR` (or
  $IMAGIN4D_BODY_MODEL_DIR) moves them all at once;
- short runs of any config: a hook's `begin_iter` past `train_cfg.max_iters` (the GPU schedule's EMAHook starts at
  2000) is clamped to `max_iters` (the EMA weights are then the trained weights), and `persistent_workers` is turned
  off for a data loader with `num_workers=0` (torch refuses the pair). Each adjustment is logged as a note.
"""
import inspect
import logging

from mmengine.logging import print_log

__all__ = ['derive_settings', 'propagate_body_model_root', 'fit_short_run']

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
EVALUATORS = ('val_evaluator', 'test_evaluator')
EVALUATOR_DATASETS = ('train_dataset', 'test_dataset')     # a text-motion evaluator config's (tools/train_evaluator.py)


def _note(message: str) -> None:
    print_log(f'note: {message}', logger='current', level=logging.WARNING)


def _metrics(evaluator):
    """The metric dicts of an evaluator setting (one dict, a list, or a dict with `metrics`)."""
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator = evaluator['metrics']
    items = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    return [m for m in items if isinstance(m, dict)]


def _takes_body_model_root(registry, node) -> bool:
    from imagin4d.datasets.hoi_dataset import BaseHOIDataset
    cls = registry.get(node.get('type')) if isinstance(node.get('type'), str) else node.get('type')
    if not isinstance(cls, type):
        return False
    if issubclass(cls, BaseHOIDataset):
        return True
    try:
        return 'body_model_root' in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def propagate_body_model_root(cfg) -> None:
    """Give the top-level `body_model_root` to the data sets and metrics that take one and set none."""
    root = cfg.get('body_model_root')
    if not root:
        return
    from imagin4d.registry import DATASETS, METRICS
    targets = [(DATASETS, cfg[name].get('dataset')) for name in DATALOADERS if isinstance(cfg.get(name), dict)]
    targets += [(DATASETS, cfg.get(name)) for name in EVALUATOR_DATASETS]
    targets += [(METRICS, m) for name in EVALUATORS for m in _metrics(cfg.get(name))]
    for registry, node in targets:
        if isinstance(node, dict) and node.get('body_model_root') is None and _takes_body_model_root(registry, node):
            node['body_model_root'] = root


def fit_short_run(cfg) -> None:
    """Clamp hooks' `begin_iter` to the run length; turn off persistent workers of loaders without workers."""
    train_cfg = cfg.get('train_cfg') or {}
    max_iters = train_cfg.get('max_iters') if isinstance(train_cfg, dict) else None
    if isinstance(max_iters, int):
        for i, hook in enumerate(cfg.get('custom_hooks') or []):
            begin = hook.get('begin_iter') if isinstance(hook, dict) else None
            if isinstance(begin, int) and begin > max_iters:
                hook['begin_iter'] = max_iters
                _note(f'custom_hooks.{hook.get("type", i)}.begin_iter={begin} is past train_cfg.max_iters={max_iters}: '
                      f'it begins at {max_iters} instead (a short run)')
    for name in DATALOADERS:
        loader = cfg.get(name)
        if isinstance(loader, dict) and loader.get('num_workers') == 0 and loader.get('persistent_workers'):
            loader['persistent_workers'] = False
            _note(f'{name}.num_workers=0: persistent_workers turned off (it needs worker processes)')


def derive_settings(cfg) -> None:
    """All of the above, in place."""
    propagate_body_model_root(cfg)
    fit_short_run(cfg)

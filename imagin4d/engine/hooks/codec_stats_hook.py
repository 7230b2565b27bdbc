"""CodecStatsHook: gives the model's data preprocessor the motion normalisation statistics of the training set.

Owns the rule: statistics already in the model (loaded from a checkpoint or set in the config) win; otherwise
they come from the data set's metainfo `stats_file` (the training split's statistics, computed and cached by
the data set) before the first training, validation or test step. Before training it also keeps the training
data's typical start state in the model (`imagin4d.datasets.start_state`), the default start of generation.
"""
from mmengine.hooks import Hook

from imagin4d.registry import HOOKS

__all__ = ['CodecStatsHook']


@HOOKS.register_module()
class CodecStatsHook(Hook):
    priority = 'VERY_HIGH'

    def _fill(self, runner, loader_name: str) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        pre = getattr(model, 'data_preprocessor', None)
        if pre is None or not hasattr(pre, 'load_stats'):
            return
        loader = getattr(runner, loader_name)
        dataset = loader.dataset if hasattr(loader, 'dataset') else None
        if loader_name == 'train_dataloader' and not bool(pre.start_ready) and hasattr(dataset, '_sequences'):
            from imagin4d.datasets.start_state import typical_start_state
            pre.set_start_state(**typical_start_state(dataset))
        if bool(pre.stats_ready):
            return
        stats_file = getattr(dataset, 'metainfo', {}).get('stats_file') if dataset is not None else None
        if not stats_file:
            raise RuntimeError(f'CodecStatsHook: the model has no normalisation statistics and the {loader_name} '
                               "data set's metainfo names no stats_file; set model.data_preprocessor.stats_file")
        pre.load_stats(stats_file)
        runner.logger.info(f'normalisation statistics: {stats_file}')

    def before_train(self, runner) -> None:
        self._fill(runner, 'train_dataloader')

    def before_val(self, runner) -> None:
        self._fill(runner, 'val_dataloader')

    def before_test(self, runner) -> None:
        self._fill(runner, 'test_dataloader')

"""HOIVisualizationHook: during validation and testing, renders a few generated samples and logs them as videos.

Owns which samples are drawn (the first sample of every `interval`-th batch, at most `max_samples` per run), their
names and steps. Rendering and logging are the runner's `HOIVisualizer` (`imagin4d.visualization`).

Every imagin4d config has it through `_base_/default_runtime.py`, drawing during validation only:

    visualizer = dict(type='HOIVisualizer', vis_backends=[dict(type='LocalVisBackend'),
                                                          dict(type='TensorboardVisBackend')])
    default_hooks = dict(visualization=dict(type='HOIVisualizationHook', draw=True, interval=10, max_samples=4))

Test runs draw too with `--cfg-options "default_hooks.visualization.modes=['val','test']"`; `draw=False` switches it
off. Videos land in TensorBoard (tag `<val|test>_<seq>_video`)
and under `<work_dir>/<timestamp>/vis_data/vis_video/`; the depicted frame as an image next to them.
"""
import os.path as osp
import re
from typing import Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from imagin4d.registry import HOOKS

__all__ = ['HOIVisualizationHook']


@HOOKS.register_module()
class HOIVisualizationHook(Hook):
    """Log a video (reference | GT | generated) of the first sample of every `interval`-th val/test batch.

    Args:
        draw: master switch (False: the hook does nothing).
        interval: draw after batches 0, interval, 2 * interval, ... of each validation / test run.
        max_samples: at most this many videos per validation / test run.
        draw_gt, draw_pred: include the GT / generated panel.
        modes: the loops that draw, from 'val' and 'test' (default: validation only; a test run of a benchmark
            sweep should not spend its time rendering).
        out_dir: also write each video into this folder (relative: under the run's log dir), as MP4 or GIF
            (the visualizer's `video_format`).
    """

    priority = 'LOW'

    def __init__(self, draw: bool = False, interval: int = 10, max_samples: int = 4, draw_gt: bool = True,
                 draw_pred: bool = True, modes: Sequence[str] = ('val',), out_dir: Optional[str] = None):
        if int(interval) < 1 or int(max_samples) < 0:
            raise ValueError(f'interval must be >= 1 and max_samples >= 0, got {interval} and {max_samples}')
        unknown = set(modes) - {'val', 'test'}
        if unknown or isinstance(modes, str):
            raise ValueError(f"modes must be a list drawn from 'val' and 'test', got {modes!r}")
        self.modes = tuple(modes)
        self.draw, self.interval, self.max_samples = bool(draw), int(interval), int(max_samples)
        self.draw_gt, self.draw_pred, self.out_dir = draw_gt, draw_pred, out_dir
        self._drawn = 0

    def before_run(self, runner) -> None:
        from imagin4d.visualization import HOIVisualizer
        if self.draw and not isinstance(runner.visualizer, HOIVisualizer):
            raise TypeError(f'HOIVisualizationHook(draw=True) needs visualizer=dict(type=\'HOIVisualizer\', ...) in '
                            f'the config; the runner has a {type(runner.visualizer).__name__}')

    def before_val_epoch(self, runner) -> None:
        self._drawn = 0

    def before_test_epoch(self, runner) -> None:
        self._drawn = 0

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[Sequence] = None) -> None:
        self._visualize(runner, batch_idx, outputs, 'val')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[Sequence] = None) -> None:
        self._visualize(runner, batch_idx, outputs, 'test')

    def _visualize(self, runner, batch_idx: int, outputs: Optional[Sequence], mode: str) -> None:
        if (not self.draw or mode not in self.modes or not outputs or batch_idx % self.interval
                or self._drawn >= self.max_samples):
            return
        self._drawn += 1
        if not is_main_process():
            return
        sample = outputs[0]
        info = sample.metainfo if hasattr(sample, 'metainfo') else sample
        name = re.sub(r'[^A-Za-z0-9_.-]+', '_', f"{mode}_{info.get('seq_name', f'batch{batch_idx}')}")
        out_file = None
        if self.out_dir is not None:
            folder = self.out_dir if osp.isabs(self.out_dir) else osp.join(runner.log_dir, self.out_dir)
            out_file = osp.join(folder, f'{name}_{runner.iter}.{runner.visualizer.video_format}')
        runner.visualizer.add_datasample(name, data_sample=sample, draw_gt=self.draw_gt, draw_pred=self.draw_pred,
                                         step=runner.iter, out_file=out_file)

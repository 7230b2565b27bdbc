"""The real workload of HOIDiffusion on the CPU: training steps of a trained checkpoint on real batches, the cost of
generation per request and per sampling step, and where the image cues' extra training cost goes (issue 23).

    IMAGIN4D_MINI_FBM_ROOT=data/mini_fbm_demo IMAGIN4D_BODY_MODEL_DIR=data/body_models \\
        python benchmarks/training_step.py [--checkpoint work_dirs/demo/iter_500.pth] [--repeats 5] [--threads 1]
        [--parts real generation breakdown] [--tag cpu]

Parts (each measured side by side in one process: the variants of a part are interleaved, repeat by repeat, and
the medians are compared as ratios; the load average is recorded before and after every part):
- real: one training step (data preprocessor, forward, backward, gradient clipping, AdamW step: the model's own
  `train_step` with the config's optimiser wrapper) of the mini full model on batches of the config's train loader,
  with subnormal floats flushed (`denormals_flushed`) and not, for (a) the checkpoint's weights AND optimiser state,
  (b) fresh weights on the same real batches, (c) the checkpoint on a synthetic batch of the real shapes (the
  throughput benchmark's). Before every timed step the weights and optimiser state are restored and the RNG reseeded,
  so every variant times the same computation. Also a census of the subnormal values in the parameters, the Adam
  moments and the gradients of every module output (forward hooks) of one real step.
- generation: the once-per-request cost (the frozen text and image backbones on one sentence and one 448-px
  picture, then the model's condition encoders `encode`) and the per-step cost of sampling (one `denoise` call under
  the config's guidance: one pass, or one per guided source plus one) for the mini and the FBM-size full model, at
  batch 1 and 8. The FBM size uses random weights and a synthetic batch of the real shapes (no FBM data here).
- breakdown: per-component time (torch.profiler; forward ops by the module that ran them, backward ops by the module
  whose forward op created their autograd node) and FLOPs (FlopCounterMode, forward + backward) of one training step
  of the full model and of the no-image model, at the mini and the FBM size (synthetic batch of the real shapes,
  flushed).
Writes benchmarks/results/training_step_<tag>.{json,md}.
"""
import argparse
import copy
import json
import os
import statistics
import sys
import time
from collections import defaultdict

import torch
from bench_common import REPO, machine_info

sys.path.insert(0, str(REPO))
os.environ.setdefault('IMAGIN4D_MINI_FBM_ROOT', str(REPO / 'data' / 'mini_fbm_demo'))
os.environ.setdefault('IMAGIN4D_BODY_MODEL_DIR', str(REPO / 'data' / 'body_models'))

from model_throughput import synthetic_batch  # noqa: E402

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


# ---------------------------------------------------------------------------------------------------- part: real
def subnormal_census(model, optim_wrapper, data) -> dict:
    """Subnormal float32 counts in the parameters, Adam moments and module-output gradients of one real step."""
    def count(t):
        if not torch.is_tensor(t) or t.dtype != torch.float32:
            return 0, 0
        a = t.detach().abs()
        return int(((a > 0) & (a < TINY)).sum()), t.numel()

    names = {id(p): n for n, p in model.named_parameters()}
    out = dict(parameters=[0, 0], exp_avg=[0, 0], exp_avg_sq=[0, 0], activations=[0, 0], activation_grads=[0, 0])
    for p in model.parameters():
        out['parameters'] = [a + b for a, b in zip(out['parameters'], count(p))]
    worst_moment = {}
    for p, state in optim_wrapper.optimizer.state.items():
        for key in ('exp_avg', 'exp_avg_sq'):
            s, n = count(state.get(key))
            out[key] = [out[key][0] + s, out[key][1] + n]
            if s:
                worst_moment[f'{names[id(p)]}.{key}'] = s
    grads = defaultdict(lambda: [0, 0])
    leaves = {n for n, m in model.named_modules() if n and not list(m.children())}

    def hook(name):
        def fn(module, args, output):
            for o in (output if isinstance(output, (tuple, list)) else (output,)):
                s, n = count(o)
                out['activations'][0] += s
                out['activations'][1] += n
                if torch.is_tensor(o) and o.requires_grad:
                    def grad_hook(g, name=name):
                        s, n = count(g)
                        grads[name][0] += s
                        grads[name][1] += n
                    o.register_hook(grad_hook)
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n in leaves]
    try:
        torch.manual_seed(0)
        model.train_step(data, optim_wrapper)       # flushing is off for the census (the caller sees to it)
    finally:
        for h in handles:
            h.remove()
    for s, n in grads.values():
        out['activation_grads'] = [out['activation_grads'][0] + s, out['activation_grads'][1] + n]
    top = sorted(((s, n, name) for name, (s, n) in grads.items() if s), reverse=True)[:8]
    return dict(totals={k: dict(subnormal=v[0], of=v[1]) for k, v in out.items()},
                top_activation_grads=[dict(module=name, subnormal=s, of=n) for s, n, name in top],
                adam_moments_with_subnormals=worst_moment)


def part_real(checkpoint: str, repeats: int) -> dict:
    from imagin4d.utils.numerics import denormals_flushed
    load_before = load_average()
    cfg, trained, trained_ow = build('mini_fbm_sfie', checkpoint)
    _, fresh, fresh_ow = build('mini_fbm_sfie', None, stats_from_synthetic=False)
    fresh.data_preprocessor.load_state_dict(trained.data_preprocessor.state_dict())   # the data's statistics
    batches = real_batches(cfg, 4)
    synthetic = as_data_batch(synthetic_batch(cfg.train_dataloader.batch_size))
    for model in (trained, fresh):
        model.flush_denormal = False          # the benchmark sets the flag itself
        model.train()
    saved = {id(m): (copy.deepcopy(m.state_dict()), copy.deepcopy(ow.state_dict()))
             for m, ow in ((trained, trained_ow), (fresh, fresh_ow))}
    counter = {'i': 0}

    def step(model, ow, data_fn, flush):
        def run():
            state, opt_state = saved[id(model)]
            model.load_state_dict(state)
            ow.load_state_dict(copy.deepcopy(opt_state))
            torch.manual_seed(counter['i'])             # the same noise / timesteps for the variants of a round
            with denormals_flushed(flush):
                start = time.perf_counter()
                model.train_step(data_fn(), ow)
                return time.perf_counter() - start
        return run

    # time only the step itself (restoring the state is excluded): wrap each run to return its own duration
    variants = {
        'checkpoint, real batches, IEEE': step(trained, trained_ow, lambda: batches[counter['i'] % 4], False),
        'checkpoint, real batches, flushed': step(trained, trained_ow, lambda: batches[counter['i'] % 4], True),
        'fresh weights, real batches, IEEE': step(fresh, fresh_ow, lambda: batches[counter['i'] % 4], False),
        'fresh weights, real batches, flushed': step(fresh, fresh_ow, lambda: batches[counter['i'] % 4], True),
        'checkpoint, synthetic batch, IEEE': step(trained, trained_ow, lambda: synthetic, False),
        'checkpoint, synthetic batch, flushed': step(trained, trained_ow, lambda: synthetic, True),
    }
    names = list(variants)
    for name in names:
        variants[name]()
    times = {n: [] for n in names}
    for r in range(repeats):
        counter['i'] = r
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(variants[name]())
    res = summarise(times)
    med = {n: v['median_s'] for n, v in res.items()}
    ratios = {what: round(med[f'{what}, IEEE'] / med[f'{what}, flushed'], 3)
              for what in ('checkpoint, real batches', 'fresh weights, real batches', 'checkpoint, synthetic batch')}
    state, opt_state = saved[id(trained)]
    trained.load_state_dict(state)
    trained_ow.load_state_dict(copy.deepcopy(opt_state))
    census = subnormal_census(trained, trained_ow, batches[0])
    return dict(checkpoint=checkpoint, batch=cfg.train_dataloader.batch_size, repeats=repeats, steps=res,
                ieee_over_flushed=ratios, census=census, load_before=load_before, load_after=load_average())


# ---------------------------------------------------------------------------------------------------- part: generation
def part_generation(repeats: int, sizes=('mini', 'fbm')) -> dict:
    import numpy as np

    from imagin4d.apis.inference import _test_pipeline_settings
    from imagin4d.utils.numerics import denormals_flushed
    load_before = load_average()
    rows = []
    cfg = load_cfg('mini_fbm_sfie')
    settings = _test_pipeline_settings(cfg)
    backbones = {}
    from imagin4d.registry import MODELS
    for kind, key in (('image', 'image_backbone'), ('text', 'text_encoder')):
        try:
            backbones[kind] = MODELS.build(copy.deepcopy(settings[key])).eval()
        except Exception as err:  # noqa: BLE001 - missing weights: report, time the rest
            backbones[kind] = f'unavailable: {str(err).splitlines()[0][:200]}'
    picture = (np.random.default_rng(0).random((448, 448, 3)) * 255).astype(np.uint8)
    sentence = 'Lift the box, carry it and put it down.'
    frozen = {}
    with torch.no_grad(), denormals_flushed():
        calls = {}
        if not isinstance(backbones['image'], str):
            calls['image backbone (1 picture, 448 px)'] = lambda: backbones['image'].encode([picture])
        if not isinstance(backbones['text'], str):
            calls['text encoder (1 sentence)'] = lambda: backbones['text'].encode([sentence])
        frozen = summarise(interleaved(calls, repeats)) if calls else {}
    for size, name in (('mini', 'mini_fbm_sfie'), ('fbm', 'fbm_sfie')):
        if size not in sizes:
            continue
        _, model, _ = build(name)
        model.eval()
        steps = int(model.test_cfg['num_steps'])
        for batch in (1, 8):
            inputs = synthetic_batch(batch)
            cond = model._condition(inputs, training=False)
            frame_mask = inputs['frame_mask']
            scales = model.guidance_scales()
            active = [s for s in model.cfg_guidance.active_sources(scales) if model.encoders_of(s)]
            with torch.no_grad(), denormals_flushed():
                enc = model.encode(cond)
                x_t = torch.randn_like(inputs['motion'])
                t = torch.full((batch,), 500, dtype=torch.long)
                dropped = torch.ones(batch, dtype=torch.bool)

                def per_request():
                    full = model.encode(cond)
                    return [full] + [model.encode(cond, {s: dropped}) for s in active]

                def per_step():
                    return [model.denoise(x_t, t, enc, frame_mask) for _ in range(1 + len(active))]
                times = summarise(interleaved({'condition encoders': per_request, 'sampling step': per_step},
                                              repeats))
            enc_s, step_s = times['condition encoders']['median_s'], times['sampling step']['median_s']
            rows.append(dict(size=size, config=name, batch=batch, sampler=model.test_cfg['sampler'], steps=steps,
                             denoiser_passes_per_step=1 + len(active), condition_encoders_s=enc_s,
                             sampling_step_s=step_s, sampling_total_s=round(steps * step_s, 3),
                             request_model_s=round(enc_s + steps * step_s, 3),
                             encoders_share=round(enc_s / (enc_s + steps * step_s), 4), runs=times))
    return dict(frozen_backbones=frozen, backbone_status={k: (v if isinstance(v, str) else 'built')
                                                          for k, v in backbones.items()},
                rows=rows, load_before=load_before, load_after=load_average(),
                note='FBM size: random weights, synthetic batch of the real shapes (no FBM data on this machine); '
                     'mini: random weights too (the cost does not depend on the weights once subnormals are '
                     'flushed). Per request = frozen backbones + condition encoders; per step = denoiser pass(es).')


# ---------------------------------------------------------------------------------------------------- part: breakdown
def component_of(name: str) -> str:
    """The breakdown component of a module (by its qualified name in HOIDiffusion); '' = inherit the parent's."""
    parts = name.split('.')
    if name.startswith('denoiser'):
        if '.adaln.proj' in name:
            stream = parts[-1] if name.split('.adaln.proj')[1] else 'sum'
            return f'denoiser AdaLN modulation [{stream}]'
        if '.cross_attn' in name or '.norm_cross' in name:
            return 'denoiser cross-attention to frame tokens'
        return 'denoiser (self-attention, MLP, norms, in/out)'
    if name.startswith('encoders.image_encoder') or name.startswith('encoders.frame_image_encoder'):
        enc = 'SFIE' if 'encoders.image_encoder' in name else 'FAIE'
        if name.endswith('cross_attn.to_kv'):
            return f'{enc} Q-Former K/V projection of the patches'
        if name.endswith('norm_context') or name.endswith('patch_pos'):
            return f'{enc} Q-Former patch LayerNorm + positions'
        if '.autoencoders' in name:
            return 'SFIE role autoencoders'
        if '.heads.' in name or '.head_out' in name or '.qformer' in name:
            return f'{enc} Q-Former (queries, attention, MLP)'
        if '.text_attn' in name:
            return 'FAIE text-token attention'
        return f'{enc} placement / window / streams' if enc == 'SFIE' else 'FAIE frame queries / output'
    if name.startswith('encoders.'):
        return 'text / object / waypoint encoders'
    return ''


def breakdown_one(name: str, batch: int) -> dict:
    from torch.autograd.profiler import record_function
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    from imagin4d.utils.numerics import denormals_flushed
    _, model, ow = build(name)
    model.train()
    data = as_data_batch(synthetic_batch(batch))
    labels = {}
    for mod_name, _ in model.named_modules():
        label = component_of(mod_name) if mod_name else ''
        parent = mod_name.rsplit('.', 1)[0] if '.' in mod_name else ''
        labels[mod_name] = label or labels.get(parent, '')
    open_ranges = []

    def pre(mod_name):
        def fn(module, args):
            ctx = record_function('C:' + labels[mod_name])
            ctx.__enter__()
            open_ranges.append(ctx)
        return fn

    def post(module, args, output):
        open_ranges.pop().__exit__(None, None, None)

    handles = []
    for mod_name, module in model.named_modules():
        parent = mod_name.rsplit('.', 1)[0] if '.' in mod_name else ''
        if mod_name and labels[mod_name] and labels[mod_name] != labels.get(parent, ''):
            handles += [module.register_forward_pre_hook(pre(mod_name)), module.register_forward_hook(post)]

    def step():
        model.train_step(data, ow)

    with denormals_flushed():
        torch.manual_seed(0)
        step()
        step()
        torch.manual_seed(0)
        start = time.perf_counter()
        step()
        step_s = time.perf_counter() - start
        torch.manual_seed(0)
        with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            step()
    for h in handles:
        h.remove()
    torch.manual_seed(0)
    with denormals_flushed(), FlopCounterMode(display=False) as counter:
        step()
    total_flops = counter.get_total_flops()
    # time per component: forward ops by their enclosing range, backward ops by the forward op's sequence number
    events = prof.events()
    by_id = {}

    def label_of(event):
        chain = event
        while chain is not None:
            if chain.name.startswith('C:'):
                return chain.name[2:]
            chain = chain.cpu_parent
        return None

    seq_label = {}
    for e in events:
        top = e
        while top.cpu_parent is not None:
            top = top.cpu_parent
        by_id[e.id] = top
        if not top.name.startswith('autograd::engine') and e.sequence_nr >= 0:
            seq_label.setdefault(e.sequence_nr, label_of(e))
    times = defaultdict(lambda: [0.0, 0.0])
    flops = defaultdict(float)
    for e in events:
        top = by_id[e.id]
        if top.name.startswith('autograd::engine'):
            node = next((c for c in top.cpu_children if c.sequence_nr >= 0), None)
            label = seq_label.get(node.sequence_nr) if node is not None else None
            label = label or 'outside modules (losses, diffusion, optimiser)'
            times[label][1] += e.self_cpu_time_total / 1e6
        else:
            label = label_of(e) or 'outside modules (losses, diffusion, optimiser)'
            times[label][0] += e.self_cpu_time_total / 1e6
        flops[label] += e.flops or 0
    profiled_total = sum(f + b for f, b in times.values())
    rows = []
    for label in sorted(times, key=lambda k: -sum(times[k])):
        fwd, bwd = times[label]
        rows.append(dict(component=label, forward_s=round(fwd, 4), backward_s=round(bwd, 4),
                         share_of_step=round((fwd + bwd) / profiled_total, 4),
                         matmul_gflops=round(flops.get(label, 0) / 1e9, 3)))
    return dict(config=name, batch=batch, step_s=round(step_s, 4), profiled_s=round(profiled_total, 4),
                gflops=round(total_flops / 1e9, 3), components=rows)


def part_breakdown(batch: int, sizes=('mini', 'fbm')) -> dict:
    load_before = load_average()
    names = [n for size in sizes for n in (('mini_fbm_sfie', 'mini_fbm_no_image') if size == 'mini'
                                           else ('fbm_sfie', 'fbm_no_image'))]
    out = {name: breakdown_one(name, batch) for name in names}
    return dict(results=out, load_before=load_before, load_after=load_average())


# ---------------------------------------------------------------------------------------------------- part: absorbed
def part_absorbed(checkpoint: str, repeats: int, sizes=('mini', 'fbm')) -> dict:
    """Before / after of the absorbed cross-attention of few queries (`MultiHeadAttention._absorbed_cross_attention`):
    the same model with every attention forced to the dispatch (`set_attn_backend(model, 'sdpa')`: the code path
    before the change) against the default ('auto'), interleaved in one process, one training step each (flushed),
    plus FLOPs (FlopCounterMode) and the largest loss difference."""
    from torch.utils.flop_counter import FlopCounterMode

    from imagin4d.models.layers.transformer import set_attn_backend
    from imagin4d.utils.numerics import denormals_flushed
    load_before = load_average()
    rows = []
    for size, name in (('mini', 'mini_fbm_sfie'), ('fbm', 'fbm_sfie')):
        if size not in sizes:
            continue
        real = size == 'mini' and checkpoint and os.path.isfile(checkpoint)
        cfg, after, ow_after = build(name, checkpoint if real else None)
        data = real_batches(cfg, 1)[0] if real else as_data_batch(synthetic_batch(16))
        before = set_attn_backend(copy.deepcopy(after), 'sdpa')
        from mmengine.optim import build_optim_wrapper
        ow_before = build_optim_wrapper(before, copy.deepcopy(cfg.optim_wrapper))
        ow_before.load_state_dict(copy.deepcopy(ow_after.state_dict()))      # index-based: the same state
        saved = {}
        for model, ow in ((before, ow_before), (after, ow_after)):
            model.train()
            saved[id(model)] = (copy.deepcopy(model.state_dict()), copy.deepcopy(ow.state_dict()))

        def step(model, ow, keep=None):
            def run():
                state, opt_state = saved[id(model)]
                model.load_state_dict(state)
                ow.load_state_dict(copy.deepcopy(opt_state))
                torch.manual_seed(0)
                with denormals_flushed():
                    start = time.perf_counter()
                    losses = model.train_step(data, ow)
                    elapsed = time.perf_counter() - start
                if keep is not None:
                    keep[:] = [losses]
                return elapsed
            return run

        kept_before, kept_after = [], []
        variants = {'standard K/V (before)': step(before, ow_before, kept_before),
                    'absorbed (after)': step(after, ow_after, kept_after)}
        for fn in variants.values():
            fn()
        times = {n: [] for n in variants}
        for r in range(repeats):
            for n in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
                times[n].append(variants[n]())
        flops = {}
        for label, model in (('standard K/V (before)', before), ('absorbed (after)', after)):
            torch.manual_seed(0)
            with denormals_flushed(), FlopCounterMode(display=False) as counter:
                sum(model(*_preprocessed(model, data), mode='loss').values()).backward()
            flops[label] = round(counter.get_total_flops() / 1e9, 2)
        diff = max(abs(float(kept_before[0][k]) - float(kept_after[0][k])) for k in kept_before[0])
        res = summarise(times)
        rows.append(dict(size=size, config=name, batch=16, data='real batch, ' + os.path.basename(checkpoint)
                         if real else 'synthetic batch, random weights', steps=res, gflops=flops,
                         before_over_after=round(res['standard K/V (before)']['median_s']
                                                 / res['absorbed (after)']['median_s'], 3),
                         max_logged_loss_difference=diff))
    return dict(rows=rows, repeats=repeats, load_before=load_before, load_after=load_average())


def _preprocessed(model, data):
    out = model.data_preprocessor(copy.deepcopy(data), True)
    return out['inputs'], out['data_samples']


# ---------------------------------------------------------------------------------------------------- report
def write_report(record: dict, out) -> None:
    info = record['machine']
    lines = ['# HOIDiffusion on the CPU: real training steps, generation costs, the image cues\' cost (issue 23)', '',
             f'Command: `{info["command"]}`  ',
             f'Machine: {info["cpu"]}, {info["logical_cores"]} logical cores, torch {info["torch"]}, '
             f'{info["torch_threads"]} thread(s), commit {info["git_commit"]}  ',
             'Every part runs its variants interleaved in one process (medians; ratios are the comparison); the '
             'machine was shared, so the load average is given per part.', '']
    real = record.get('real')
    if real:
        lines += ['## Training step of a trained checkpoint on real batches, subnormals flushed or not', '',
                  f'`{real["checkpoint"]}` (weights and AdamW state), mini-FBM demo train loader, batch '
                  f'{real["batch"]}, {real["repeats"]} interleaved repeats; load {real["load_before"]} -> '
                  f'{real["load_after"]}.', '', '| variant | median s | runs s |', '|---|---|---|']
        lines += [f'| {n} | {v["median_s"]} | {v["runs_s"]} |' for n, v in real['steps'].items()]
        lines += ['', '| IEEE / flushed | ratio |', '|---|---|']
        lines += [f'| {k} | {v} |' for k, v in real['ieee_over_flushed'].items()]
        c = real['census']
        lines += ['', 'Subnormal float32 values in one real step of the checkpoint (not flushed):', '',
                  '| where | subnormal | of |', '|---|---|---|']
        lines += [f'| {k} | {v["subnormal"]} | {v["of"]} |' for k, v in c['totals'].items()]
        lines += ['', 'Module outputs whose gradients carry the most subnormals:', '']
        lines += [f'- `{t["module"]}`: {t["subnormal"]} of {t["of"]}' for t in c['top_activation_grads']]
        lines += ['']
    gen = record.get('generation')
    if gen:
        lines += ['## Generation: once per request and per sampling step', '', gen['note'],
                  f'Load {gen["load_before"]} -> {gen["load_after"]}.', '']
        if gen['frozen_backbones']:
            lines += ['| frozen backbone (once per request) | median s |', '|---|---|']
            lines += [f'| {n} | {v["median_s"]} |' for n, v in gen['frozen_backbones'].items()]
        lines += [f'Backbones: {gen["backbone_status"]}', '',
                  '| size | batch | sampler, steps | passes / step | condition encoders s | one step s | '
                  'all steps s | encoders share |', '|---|---|---|---|---|---|---|---|']
        lines += [f'| {r["size"]} | {r["batch"]} | {r["sampler"]}, {r["steps"]} | {r["denoiser_passes_per_step"]} | '
                  f'{r["condition_encoders_s"]} | {r["sampling_step_s"]} | {r["sampling_total_s"]} | '
                  f'{r["encoders_share"]} |' for r in gen['rows']]
        lines += ['']
    ab = record.get('absorbed')
    if ab:
        lines += ['## Before / after: few-query cross-attention with absorbed projections', '',
                  'The FBM-size SFIE role heads (2 queries x 4 heads, inner width 256, over 196 patches of 1280 '
                  'channels) no longer project every patch to keys and values: the key projection is folded into the '
                  'queries, the value projection applied after pooling (`MultiHeadAttention._absorbed_cross_attention`,'
                  ' the same function up to float rounding; tests/models/layers/test_absorbed_attention.py). The mini '
                  'heads (inner 64: 8x fewer FLOPs, no faster in a micro-benchmark) keep the standard path, so the '
                  'mini row runs the same code twice: a control for the spread of this shared machine. "Before" is '
                  f'the model forced onto the dispatch path. {ab["repeats"]} interleaved repeats, one training step '
                  f'each (flushed); load {ab["load_before"]} -> {ab["load_after"]}.', '',
                  '| size | data | before s | after s | before / after | GFLOP before | GFLOP after | max loss diff |',
                  '|---|---|---|---|---|---|---|---|']
        lines += [f'| {r["size"]} | {r["data"]} | {r["steps"]["standard K/V (before)"]["median_s"]} | '
                  f'{r["steps"]["absorbed (after)"]["median_s"]} | {r["before_over_after"]} | '
                  f'{r["gflops"]["standard K/V (before)"]} | {r["gflops"]["absorbed (after)"]} | '
                  f'{r["max_logged_loss_difference"]:.2e} |' for r in ab['rows']]
        lines += ['']
    brk = record.get('breakdown')
    if brk:
        lines += ['## Where the image cues\' training cost goes', '',
                  f'One training step (flushed) on a synthetic batch of the real shapes, batch '
                  f'{next(iter(brk["results"].values()))["batch"]}; time from torch.profiler (self CPU time; '
                  'backward ops credited to the module whose forward op made their autograd node); per-component '
                  'GFLOP: the profiler\'s matmul / elementwise FLOPs (forward + backward; attention kernels not '
                  'counted); the step\'s total GFLOP from FlopCounterMode. Load '
                  f'{brk["load_before"]} -> {brk["load_after"]}.', '']
        for name, res in brk['results'].items():
            lines += [f'### {name}: step {res["step_s"]} s (profiled {res["profiled_s"]} s), {res["gflops"]} GFLOP',
                      '', '| component | forward s | backward s | share of step | matmul GFLOP |',
                      '|---|---|---|---|---|']
            lines += [f'| {r["component"]} | {r["forward_s"]} | {r["backward_s"]} | {r["share_of_step"]} | '
                      f'{r["matmul_gflops"]} |' for r in res['components']]
            lines += ['']
        for size in ('mini', 'fbm'):
            full, base = brk['results'].get(f'{size}_fbm_sfie' if size == 'mini' else 'fbm_sfie'), \
                brk['results'].get(f'{size}_fbm_no_image' if size == 'mini' else 'fbm_no_image')
            if full and base:
                lines.append(f'- {size}: full / no image = {full["step_s"] / base["step_s"]:.2f}x time, '
                             f'{full["gflops"] / base["gflops"]:.2f}x FLOPs')
        lines += ['']
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main():
    os.chdir(REPO)                                  # paths of the arguments and the results are the repository's
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', default='work_dirs/demo/iter_500.pth', help='relative to the repository')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch', type=int, default=16, help='batch of the breakdown part')
    parser.add_argument('--parts', nargs='+', default=['real', 'generation', 'breakdown', 'absorbed'],
                        choices=['real', 'generation', 'breakdown', 'absorbed'])
    parser.add_argument('--sizes', nargs='+', default=['mini', 'fbm'], choices=['mini', 'fbm'],
                        help='model sizes of the generation and breakdown parts')
    parser.add_argument('--tag', default='cpu')
    parser.add_argument('--out-dir', default=str(REPO / 'benchmarks' / 'results'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from pathlib import Path
    record = {}
    if 'real' in args.parts:
        record['real'] = part_real(args.checkpoint, args.repeats)
    if 'generation' in args.parts:
        record['generation'] = part_generation(args.repeats, args.sizes)
    if 'breakdown' in args.parts:
        record['breakdown'] = part_breakdown(args.batch, args.sizes)
    if 'absorbed' in args.parts:
        record['absorbed'] = part_absorbed(args.checkpoint, args.repeats, args.sizes)
    record['machine'] = machine_info(command=' '.join(sys.argv))
    out = Path(args.out_dir) / f'training_step_{args.tag}'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(record, indent=1, default=str))
    write_report(record, out)


if __name__ == '__main__':
    main()

"""Parts `breakdown`, `absorbed` and `lean` of benchmarks/training_step.py: where the image cues' training cost
goes (per-component time and FLOPs), the absorbed few-query cross-attention before / after, and the lean image cues
(old full / new full / no image) side by side (see the docstring of training_step.py)."""
import copy
import os
import time
from collections import defaultdict

import torch
from training_step_common import (
    as_data_batch,
    build,
    interleaved_steps,
    load_average,
    load_cfg,
    preprocessed,
    real_batches,
    restored_step,
    snapshot,
    summarise,
    synthetic_batch,
)


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
        if '.patch_proj' in name:
            return 'SFIE shared patch projection (LN + Ci -> P, read by SFIE and FAIE)'
        if name.endswith('cross_attn.to_kv'):
            return f'{enc} Q-Former K/V projection of the patches'
        if name.endswith('norm_context') or name.endswith('patch_pos'):
            return f'{enc} Q-Former patch LayerNorm + positions'
        if '.autoencoders' in name:
            return 'SFIE role autoencoders'
        if '.heads.' in name or '.role_heads' in name or '.head_out' in name or '.qformer' in name:
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
    modules = dict(model.named_modules())
    for mod_name, module in modules.items():
        parent = mod_name.rsplit('.', 1)[0] if '.' in mod_name else ''
        # a container (ModuleDict / ModuleList) is never called: its children carry its label themselves (the SFIE
        # role autoencoders were 'outside modules' before)
        called_parent = not isinstance(modules.get(parent), (torch.nn.ModuleDict, torch.nn.ModuleList))
        if mod_name and labels[mod_name] and (labels[mod_name] != labels.get(parent, '') or not called_parent):
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
    names = [f'{SIZES[size]}_{suffix}' for size in sizes for suffix in LEAN_VARIANTS.values()]
    out = {name: breakdown_one(name, batch) for name in names}
    return dict(results=out, load_before=load_before, load_after=load_average())


# ---------------------------------------------------------------------------------------------------- part: absorbed
def part_absorbed(checkpoint: str, repeats: int, sizes=('mini', 'fbm')) -> dict:
    """Before / after of the absorbed cross-attention of few queries (`MultiHeadAttention._absorbed_cross_attention`):
    the same model with every attention forced to the dispatch (`set_attn_backend(model, 'sdpa')`: the code path
    before the change) against the default ('auto'), interleaved in one process, one training step each (flushed),
    plus FLOPs (FlopCounterMode) and the largest loss difference."""
    from imagin4d.models.layers.transformer import set_attn_backend
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
        for model in (before, after):
            model.train()
        kept_before, kept_after = [], []
        variants = {'standard K/V (before)': restored_step(before, ow_before, snapshot(before, ow_before),
                                                           lambda: data, keep=kept_before),
                    'absorbed (after)': restored_step(after, ow_after, snapshot(after, ow_after), lambda: data,
                                                      keep=kept_after)}
        times = interleaved_steps(variants, repeats)
        flops = {'standard K/V (before)': step_gflops(before, data), 'absorbed (after)': step_gflops(after, data)}
        diff = max(abs(float(kept_before[0][k]) - float(kept_after[0][k])) for k in kept_before[0])
        res = summarise(times)
        rows.append(dict(size=size, config=name, batch=16, data='real batch, ' + os.path.basename(checkpoint)
                         if real else 'synthetic batch, random weights', steps=res, gflops=flops,
                         before_over_after=round(res['standard K/V (before)']['median_s']
                                                 / res['absorbed (after)']['median_s'], 3),
                         max_logged_loss_difference=diff))
    return dict(rows=rows, repeats=repeats, load_before=load_before, load_after=load_average())


def step_gflops(model, data) -> float:
    """GFLOP of one forward + backward of the training loss (FlopCounterMode; the optimiser step aside)."""
    from torch.utils.flop_counter import FlopCounterMode

    from imagin4d.utils.numerics import denormals_flushed
    torch.manual_seed(0)
    with denormals_flushed(), FlopCounterMode(display=False) as counter:
        sum(model(*preprocessed(model, data), mode='loss').values()).backward()
    model.zero_grad(set_to_none=True)
    return round(counter.get_total_flops() / 1e9, 2)


# ---------------------------------------------------------------------------------------------------- part: lean
#: Size -> config prefix; the lean part's variants (label -> config suffix).
SIZES = {'mini': 'mini_fbm', 'fbm': 'fbm'}
LEAN_VARIANTS = {'old full': 'sfie', 'new full': 'sfie_lean', 'no image': 'no_image'}


def part_lean(repeats: int, sizes=('mini', 'fbm'), batch: int = 16) -> dict:
    """The lean image cues (issue 23): one training step (the model's `train_step`, flushed) of the old full model
    (`*_sfie.py`), the new one (`*_sfie_lean.py`) and the no-image model, interleaved repeat by repeat in one
    process, on a synthetic batch of the real shapes and on real batches of the mini-FBM demo train loader (the
    FBM-size models read the same batches: the same feature widths); fresh weights (seed 0) for all three, the
    weights and optimiser state restored before every step. Plus the GFLOP of each (FlopCounterMode)."""
    load_before = load_average()
    rows = []
    for size in sizes:
        built = {label: build(f'{SIZES[size]}_{suffix}') for label, suffix in LEAN_VARIANTS.items()}
        real = real_batches(load_cfg('mini_fbm_sfie'), 2)         # the demo's batches (no FBM data here)
        data = {'synthetic batch': [as_data_batch(synthetic_batch(batch))], 'real batches': real}
        counter = {'i': 0}
        variants = {}
        for label, (_, model, ow) in built.items():
            model.train()
            saved = snapshot(model, ow)
            for kind, batches in data.items():
                variants[(label, kind)] = restored_step(
                    model, ow, saved, lambda b=batches: b[counter['i'] % len(b)], lambda: counter['i'])
        times = summarise(interleaved_steps(variants, repeats, counter))
        gflops = {label: step_gflops(model, data['synthetic batch'][0]) for label, (_, model, _) in built.items()}
        for kind in data:
            med = {label: times[(label, kind)]['median_s'] for label in LEAN_VARIANTS}
            rows.append(dict(size=size, data=kind, batch=len(data[kind][0]['data_samples']), median_s=med,
                             runs_s={label: times[(label, kind)]['runs_s'] for label in LEAN_VARIANTS},
                             gflops=gflops,
                             old_over_no_image=round(med['old full'] / med['no image'], 3),
                             new_over_no_image=round(med['new full'] / med['no image'], 3),
                             old_over_new=round(med['old full'] / med['new full'], 3)))
    return dict(rows=rows, repeats=repeats, load_before=load_before, load_after=load_average(),
                note='fresh weights (seed 0; the step costs the same once subnormals are flushed, part real), '
                     'flushed; real batches: the first 2 of the mini-FBM demo train loader (batch of the config), '
                     'used by the mini and the FBM-size models alike.')

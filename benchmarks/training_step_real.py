"""Parts `real` and `generation` of benchmarks/training_step.py: training steps of a trained checkpoint on real
batches (subnormals flushed or not, with a census of the subnormal values) and the cost of generation per request
and per sampling step (see the docstring of training_step.py)."""
import copy
from collections import defaultdict

import torch
from training_step_common import (
    TINY,
    as_data_batch,
    build,
    interleaved,
    interleaved_steps,
    load_average,
    load_cfg,
    real_batches,
    restored_step,
    snapshot,
    summarise,
    synthetic_batch,
)


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
    load_before = load_average()
    cfg, trained, trained_ow = build('mini_fbm_sfie', checkpoint)
    _, fresh, fresh_ow = build('mini_fbm_sfie', None, stats_from_synthetic=False)
    fresh.data_preprocessor.load_state_dict(trained.data_preprocessor.state_dict())   # the data's statistics
    batches = real_batches(cfg, 4)
    synthetic = as_data_batch(synthetic_batch(cfg.train_dataloader.batch_size))
    for model in (trained, fresh):
        model.flush_denormal = False          # the benchmark sets the flag itself
        model.train()
    saved = {id(m): snapshot(m, ow) for m, ow in ((trained, trained_ow), (fresh, fresh_ow))}
    counter = {'i': 0}

    def step(model, ow, data_fn, flush):          # times the step only, the restore is excluded
        return restored_step(model, ow, saved[id(model)], data_fn, lambda: counter['i'], flush)

    def real():
        return batches[counter['i'] % 4]

    variants = {
        'checkpoint, real batches, IEEE': step(trained, trained_ow, real, False),
        'checkpoint, real batches, flushed': step(trained, trained_ow, real, True),
        'fresh weights, real batches, IEEE': step(fresh, fresh_ow, real, False),
        'fresh weights, real batches, flushed': step(fresh, fresh_ow, real, True),
        'checkpoint, synthetic batch, IEEE': step(trained, trained_ow, lambda: synthetic, False),
        'checkpoint, synthetic batch, flushed': step(trained, trained_ow, lambda: synthetic, True),
    }
    times = interleaved_steps(variants, repeats, counter)
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

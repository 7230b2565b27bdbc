"""The 'bound' part of benchmarks/training_step.py: what bounds a training step's rate against the matmul peak.

One profiled `train_step` (flushed, synthetic batch of the real shapes) per config. Every op's self CPU time goes to
one class: matrix multiplies (mm / addmm / bmm / baddbmm, with their FLOPs), attention kernels, the optimiser
(AdamW and gradient clipping: ops under `Optimizer.step` / `zero_grad`, and the `_foreach_` ops), norms and softmax,
copies and layout, other elementwise ops and reductions (an op's self time includes its dispatch). Measured in the
same process: the fp32 matmul peak (1024^3) and, for every distinct matmul shape of the
step, the rate of that shape run alone, so the page can say whether the step is bound by its matmuls' shapes or by
the time outside them.
"""
import time
from collections import defaultdict

import torch
from bench_common import timed
from training_step_common import as_data_batch, build, load_average, synthetic_batch

MATMULS = ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm')
CLASSES = ('matrix multiplies', 'attention kernels', 'optimiser (AdamW, clipping)', 'norms and softmax',
           'copies and layout', 'elementwise and reductions')
COPIES = ('copy', 'clone', 'contiguous', 'cat', 'stack', 'index', 'gather', 'scatter', 'expand', 'repeat', 'fill',
          'zero', 'empty', 'to', 'permute', 'transpose', 'view', 'reshape', 'slice', 'select', 'unbind', 'split')


def op_class(event) -> str:
    name = event.name
    chain = event.cpu_parent
    while chain is not None:
        if chain.name.startswith(('Optimizer.step', 'Optimizer.zero_grad')):
            return 'optimiser (AdamW, clipping)'
        chain = chain.cpu_parent
    if name.startswith('aten::_foreach') or 'adam' in name.lower():
        return 'optimiser (AdamW, clipping)'
    if name in MATMULS:
        return 'matrix multiplies'
    if 'scaled_dot_product' in name or 'flash_attention' in name:
        return 'attention kernels'
    if 'layer_norm' in name or 'softmax' in name:
        return 'norms and softmax'
    if any(word in name.split('::')[-1] for word in COPIES):
        return 'copies and layout'
    return 'elementwise and reductions'


def matmul_rate(shapes: list, repeats: int = 20) -> float:
    """GFLOP/s of a matmul of these input shapes run alone (mm: (M, K) x (K, N); bmm: (B, M, K) x (B, K, N))."""
    a, b = (torch.randn(*s) for s in shapes[:2])
    run = (lambda: torch.bmm(a, b)) if a.dim() == 3 else (lambda: torch.mm(a, b))
    median, _ = timed(run, repeats, warmup=3)
    return 2 * a.numel() * b.shape[-1] / median / 1e9


def matmul_operands(event):
    """The two multiplied operands' shapes of a matmul event (addmm / baddbmm carry the bias first)."""
    shapes = [s for s in event.input_shapes if s]
    return shapes[1:3] if event.name in ('aten::addmm', 'aten::baddbmm') else shapes[:2]


def peak_gflops(n: int = 1024) -> float:
    return matmul_rate([[n, n], [n, n]], repeats=5)


def bound_one(name: str, batch: int, peak: float) -> dict:
    from torch.profiler import ProfilerActivity, profile

    from imagin4d.utils.numerics import denormals_flushed
    _, model, ow = build(name)
    model.train()
    data = as_data_batch(synthetic_batch(batch))
    with denormals_flushed():
        for _ in range(2):
            model.train_step(data, ow)
        torch.manual_seed(0)
        start = time.perf_counter()
        model.train_step(data, ow)
        step_s = time.perf_counter() - start
        torch.manual_seed(0)
        with profile(activities=[ProfilerActivity.CPU], with_flops=True, record_shapes=True) as prof:
            model.train_step(data, ow)
    seconds, flops = defaultdict(float), 0.0
    shapes = defaultdict(lambda: [0, 0.0, 0.0])               # operands -> [count, seconds, flops]
    for event in prof.events():
        cls = op_class(event)
        seconds[cls] += event.self_cpu_time_total / 1e6
        if cls == 'matrix multiplies':
            flops += event.flops or 0
            key = tuple(tuple(s) for s in matmul_operands(event))
            shapes[key][0] += 1
            shapes[key][1] += event.self_cpu_time_total / 1e6
            shapes[key][2] += event.flops or 0
    # the step's matmuls with each shape at the rate that shape reaches alone: the matmul time they could take
    alone_s = sum(f / 1e9 / matmul_rate([list(s) for s in key]) for key, (_, _, f) in shapes.items() if f)
    profiled = sum(seconds.values())
    mm_s = seconds['matrix multiplies']
    top = sorted(shapes.items(), key=lambda kv: -kv[1][1])[:6]
    return dict(config=name, batch=batch, step_s=round(step_s, 4), profiled_s=round(profiled, 4),
                classes={c: dict(seconds=round(seconds[c], 4), share=round(seconds[c] / profiled, 3)) for c in CLASSES},
                matmul_gflop=round(flops / 1e9, 3), matmul_gflops_per_s=round(flops / 1e9 / mm_s, 1),
                matmul_fraction_of_peak=round(flops / 1e9 / mm_s / peak, 3),
                matmul_alone_s=round(alone_s, 4), matmul_alone_fraction_of_peak=round(flops / 1e9 / alone_s / peak, 3),
                top_shapes=[dict(operands=[list(s) for s in key], calls=n, seconds=round(sec, 4),
                                 gflops_per_s=round(f / 1e9 / sec, 1) if sec else None)
                            for key, (n, sec, f) in top])


def part_bound(batch: int, configs=('mini_fbm_no_image', 'mini_fbm_sfie_lean', 'mini_fbm_sfie')) -> dict:
    load_before = load_average()
    peak = peak_gflops()
    results = {name: bound_one(name, batch, peak) for name in configs}
    return dict(peak_gflops=round(peak, 1), results=results, load_before=load_before, load_after=load_average())


def report_bound(bound: dict) -> list:
    """The page's section of the 'bound' part."""
    lines = ['## What bounds the step against the matmul peak', '',
             'One profiled training step per config (flushed; synthetic batch of the real shapes), self CPU time per '
             'class of op (share of the profiled ops\' time). fp32 matmul peak measured in this process (1024^3): '
             f'{bound["peak_gflops"]} GFLOP/s. '
             '"Alone": the step\'s matmuls, shape by shape, at the rate each shape reaches run alone. Load '
             f'{bound["load_before"]} -> {bound["load_after"]}.', '',
             '| config | step s | ' + ' | '.join(CLASSES) + ' | matmul GFLOP | matmul rate (of peak) | matmul '
             'shapes alone (of peak) | step (of peak) |', '|---' * (len(CLASSES) + 7) + '|']
    for name, r in bound['results'].items():
        gflop_total = r['matmul_gflop']
        cells = ' | '.join(f'{r["classes"][c]["seconds"]} ({r["classes"][c]["share"]:.0%})' for c in CLASSES)
        lines.append(f'| {name} | {r["step_s"]} | {cells} | {gflop_total} | '
                     f'{r["matmul_gflops_per_s"]} ({r["matmul_fraction_of_peak"]:.2f}) | '
                     f'{r["matmul_alone_fraction_of_peak"]:.2f} | '
                     f'{gflop_total / r["step_s"] / bound["peak_gflops"]:.2f} |')
    lines += ['', 'The matmul shapes that take the most time (operands, calls, seconds, GFLOP/s in the step):', '']
    for name, r in bound['results'].items():
        lines.append(f'- {name}: ' + '; '.join(f'{s["operands"]} x{s["calls"]} {s["seconds"]} s '
                                               f'{s["gflops_per_s"]}' for s in r['top_shapes']))
    return lines + ['']

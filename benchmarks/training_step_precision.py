"""Parts 'precision' and 'dropout' of benchmarks/training_step.py: the training step in fp32 against bf16 autocast,
and with torch's dropout against the 16-bit-mask dropout (issue 23).

For the full model (`*_sfie.py`), the lean full model (`*_sfie_lean.py`) and the no-image model, at the mini and the
FBM size: one `train_step` (data preprocessor, forward, backward, clipping, AdamW; flushed) per precision,
interleaved repeat by repeat in one process, fresh weights (seed 0) restored before every step, on real batches of
the config's train loader (the FBM-size models read the same mini-FBM batches: the same feature widths). Precisions:
- fp32: `train_autocast=None` (every config's default);
- bf16: `train_autocast='bfloat16'` (what `tools/train.py --amp` sets): the networks in bf16 autocast, the losses in
  fp32, CPU attention in fp32 (`compat.sdpa_dtype`);
- bf16, bf16 attention: the same with torch's bf16 CPU attention kernel (`sdpa_dtype` bypassed): why the compat
  rule exists.
Also the total loss of each precision's last step (same batch, weights, noise and dropout draws) and the machine's
bf16 / fp32 matmul rates at one of the step's shapes.
The dropout part: the lean full and the no-image mini model in fp32 and bf16, each step with
`imagin4d.models.layers.dropout` (the 16-bit mask, every dropout of the model) and with torch's `F.dropout` patched in
its place, interleaved in the same way; and the time of the two dropouts alone on one FFN activation of the batch.
"""
import contextlib
import sys
from unittest import mock

import torch
import torch.nn.functional as F
from bench_common import timed
from training_step_common import (
    build,
    interleaved_steps,
    load_average,
    load_cfg,
    real_batches,
    restored_step,
    snapshot,
    summarise,
)

SIZES = {'mini': 'mini_fbm', 'fbm': 'fbm'}
MODELS = {'full': 'sfie', 'lean full': 'sfie_lean', 'no image': 'no_image'}
PRECISIONS = ('fp32', 'bf16', 'bf16, bf16 attention')


def matmul_rates(shape=(1920, 512, 128), repeats: int = 50) -> dict:
    """GFLOP/s of one (m x k) @ (k x n) product in fp32 and bf16 on this core."""
    m, k, n = shape
    rates = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        seconds, _ = timed(lambda: a @ b, repeats)
        rates[str(dtype).split('.')[-1]] = round(2 * m * k * n / seconds / 1e9, 1)
    return dict(shape=list(shape), gflops_per_s=rates)


def _precision(model, name: str):
    """Set the model's training precision; the context bypasses the fp32 CPU attention for 'bf16, bf16 attention'."""
    model.train_autocast = None if name == 'fp32' else 'bfloat16'
    if name == 'bf16, bf16 attention':
        return mock.patch('imagin4d.models.layers.attention_dispatch.sdpa_dtype', lambda q: q.dtype)
    return contextlib.nullcontext()


def part_precision(repeats: int, sizes=('mini', 'fbm')) -> dict:
    load_before = load_average()
    batches = real_batches(load_cfg('mini_fbm_sfie'), 2)
    rows = []
    for size in sizes:
        counter = {'i': 0}
        variants, losses = {}, {}
        for label, suffix in MODELS.items():
            _, model, optim_wrapper = build(f'{SIZES[size]}_{suffix}')
            model.train()
            saved = snapshot(model, optim_wrapper)
            for precision in PRECISIONS:
                keep = losses.setdefault((label, precision), [])
                step = restored_step(model, optim_wrapper, saved, lambda: batches[counter['i'] % len(batches)],
                                     lambda: counter['i'], keep=keep)

                def run(model=model, precision=precision, step=step):
                    with _precision(model, precision):
                        return step()
                variants[(label, precision)] = run
        times = summarise(interleaved_steps(variants, repeats, counter))
        for label in MODELS:
            med = {p: times[(label, p)]['median_s'] for p in PRECISIONS}
            rows.append(dict(size=size, model=label, median_s=med,
                             runs_s={p: times[(label, p)]['runs_s'] for p in PRECISIONS},
                             bf16_over_fp32=round(med['bf16'] / med['fp32'], 3),
                             bf16_attention_over_fp32=round(med['bf16, bf16 attention'] / med['fp32'], 3),
                             last_loss={p: round(float(losses[(label, p)][0]['loss']), 5) for p in PRECISIONS}))
    return dict(rows=rows, repeats=repeats, matmul=matmul_rates(), load_before=load_before,
                load_after=load_average(),
                note='real batches: the first 2 of the mini-FBM train loader (batch of the config), used by both '
                     'sizes; fresh weights (seed 0), flushed')


def report_precision(part: dict) -> list:
    """The page's section of the part (Markdown lines)."""
    rates = part['matmul']['gflops_per_s']
    lines = ['## Training precision: fp32 against bf16 autocast', '',
             f'One training step per model and precision, {part["repeats"]} interleaved repeats; {part["note"]}. '
             'bf16: `train_autocast=\'bfloat16\'` (`tools/train.py --amp`): encoders and denoiser in bf16 autocast, '
             'losses in fp32, CPU attention in fp32; "bf16, bf16 attention": the same with torch\'s bf16 CPU attention '
             f'kernel. Matmul rate at {part["matmul"]["shape"]} on this core: fp32 {rates["float32"]} GFLOP/s, bf16 '
             f'{rates["bfloat16"]} GFLOP/s. Load {part["load_before"]} -> {part["load_after"]}.', '',
             '| size | model | fp32 s | bf16 s | bf16, bf16 attention s | bf16 / fp32 | bf16 attention / fp32 | '
             'loss of the last step fp32 / bf16 |', '|---|---|---|---|---|---|---|---|']
    for r in part['rows']:
        m, loss = r['median_s'], r['last_loss']
        lines.append(f'| {r["size"]} | {r["model"]} | {m["fp32"]} | {m["bf16"]} | {m["bf16, bf16 attention"]} | '
                     f'**{r["bf16_over_fp32"]}** | {r["bf16_attention_over_fp32"]} | {loss["fp32"]} / {loss["bf16"]} |')
    lines += ['']
    for size in dict.fromkeys(r['size'] for r in part['rows']):
        med = {r['model']: r['median_s'] for r in part['rows'] if r['size'] == size}
        if 'lean full' in med and 'no image' in med:
            lines.append(f'- {size}: lean full / no image {med["lean full"]["fp32"] / med["no image"]["fp32"]:.3f} in '
                         f'fp32, {med["lean full"]["bf16"] / med["no image"]["bf16"]:.3f} in bf16; full / no image '
                         f'{med["full"]["fp32"] / med["no image"]["fp32"]:.3f} / '
                         f'{med["full"]["bf16"] / med["no image"]["bf16"]:.3f}')
    lines += ['', 'Runs (s): ' + '; '.join(f'{r["size"]} {r["model"]}: {r["runs_s"]}' for r in part['rows']), '']
    return lines


def torch_dropout():
    """A context in which every imagin4d module that imported the 16-bit-mask `dropout` calls `F.dropout` instead."""
    from imagin4d.models.layers import dropout as fast
    stack = contextlib.ExitStack()
    for name, module in list(sys.modules.items()):
        if name.startswith('imagin4d.') and getattr(module, 'dropout', None) is fast:
            stack.enter_context(mock.patch.object(module, 'dropout',
                                                  lambda x, p, training=True, inplace=False: F.dropout(
                                                      x, p, training, inplace)))
    return stack


def part_dropout(repeats: int) -> dict:
    from imagin4d.models.layers import dropout as fast
    load_before = load_average()
    batches = real_batches(load_cfg('mini_fbm_sfie'), 2)
    counter, variants = {'i': 0}, {}
    for label in ('lean full', 'no image'):
        _, model, optim_wrapper = build(f'mini_fbm_{MODELS[label]}')
        model.train()
        saved = snapshot(model, optim_wrapper)
        for precision in ('fp32', 'bf16'):
            for kind in ('torch', '16-bit mask'):
                step = restored_step(model, optim_wrapper, saved, lambda: batches[counter['i'] % len(batches)],
                                     lambda: counter['i'])

                def run(model=model, precision=precision, kind=kind, step=step):
                    with _precision(model, precision), (torch_dropout() if kind == 'torch'
                                                        else contextlib.nullcontext()):
                        return step()
                variants[(label, precision, kind)] = run
    times = summarise(interleaved_steps(variants, repeats, counter))
    rows = []
    for label in ('lean full', 'no image'):
        for precision in ('fp32', 'bf16'):
            med = {k: times[(label, precision, k)]['median_s'] for k in ('torch', '16-bit mask')}
            rows.append(dict(model=label, precision=precision, median_s=med,
                             runs_s={k: times[(label, precision, k)]['runs_s'] for k in med},
                             ratio=round(med['16-bit mask'] / med['torch'], 3)))
    alone = {}
    x = torch.randn(16 * 120, 512)                  # the mini denoiser's FFN activation of a batch of 16 windows
    for dtype in (torch.float32, torch.bfloat16):
        y = x.to(dtype).requires_grad_()
        for kind, fn in (('torch', F.dropout), ('16-bit mask', fast)):
            seconds, _ = timed(lambda fn=fn, y=y: fn(y, 0.1, True).sum().backward(), 50)
            alone[f'{str(dtype).split(".")[-1]}, {kind}'] = round(seconds * 1e3, 3)
    drop = torch.zeros(4_000_000)
    drop_rate = float((fast(drop + 1, 0.1) == 0).float().mean())
    return dict(rows=rows, repeats=repeats, alone_ms=alone, drop_rate_of_4m=round(drop_rate, 5),
                load_before=load_before, load_after=load_average(),
                note='real batches: the first 2 of the mini-FBM train loader; fresh weights (seed 0), flushed. '
                     'The losses are not compared: at fresh weights the AdaLN-Zero gates are zero, so no dropout '
                     'draw reaches the output (scripts/dropout_rerun.sh is the check of what training learns)')


def report_dropout(part: dict) -> list:
    lines = ['## Dropout: torch\'s `F.dropout` against the 16-bit mask (`imagin4d.models.layers.dropout`)', '',
             f'One training step per model, precision and dropout, {part["repeats"]} interleaved repeats; '
             f'{part["note"]}. Load {part["load_before"]} -> {part["load_after"]}.', '',
             '| model | precision | torch dropout s | 16-bit mask s | 16-bit / torch |', '|---|---|---|---|---|']
    for r in part['rows']:
        m = r['median_s']
        lines.append(f'| {r["model"]} | {r["precision"]} | {m["torch"]} | {m["16-bit mask"]} | **{r["ratio"]}** |')
    alone = part['alone_ms']
    lines += ['', 'Dropout alone (forward and backward, p = 0.1, one (1920, 512) activation), ms: ' +
              ', '.join(f'{k} {v}' for k, v in alone.items()) + f'. Share of zeros in 4M draws at p = 0.1: '
              f'{part["drop_rate_of_4m"]}.', '',
              'Runs (s): ' + '; '.join(f'{r["model"]} {r["precision"]}: {r["runs_s"]}' for r in part['rows']), '']
    return lines

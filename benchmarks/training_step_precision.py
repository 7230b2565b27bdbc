"""The 'precision' part of benchmarks/training_step.py: the training step in fp32 against bf16 autocast (issue 23).

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
"""
import contextlib
from unittest import mock

import torch
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

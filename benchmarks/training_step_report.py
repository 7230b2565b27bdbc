"""The Markdown page of benchmarks/training_step.py: one section per part that ran, from the JSON record."""
import statistics

from training_step_bound import report_bound
from training_step_precision import report_dropout, report_precision


def paired_ratio(runs: dict, a: str, b: str) -> str:
    """'median [q1, q3]' of the per-round ratios runs[a][r] / runs[b][r] (rounds interleaved: same load)."""
    ratios = sorted(x / y for x, y in zip(runs[a], runs[b]))
    if len(ratios) < 4:
        return f'{statistics.median(ratios):.3f}'
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return f'{statistics.median(ratios):.3f} [{q1:.2f}, {q3:.2f}]'


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
    lean = record.get('lean')
    if lean:
        lines += ['## Before / after: the lean image cues (old full / new full / no image)', '',
                  'Old full: `*_sfie.py` (today\'s default); new full: `*_sfie_lean.py` (shared patch projection, '
                  'gated spatial-image modulation, 30 frame-aware queries); no image: `*_no_image.py`. One training '
                  f'step each (`train_step`: forward, backward, clipping, AdamW), {lean["repeats"]} interleaved '
                  f'repeats; {lean["note"]} GFLOP: forward + backward (FlopCounterMode) on the synthetic batch. Load '
                  f'{lean["load_before"]} -> {lean["load_after"]}.', '',
                  '| size | data | batch | old full s | new full s | no image s | old / no image | new / no image | '
                  'old / new | new / no image, paired | GFLOP old / new / no image |',
                  '|---|---|---|---|---|---|---|---|---|---|---|']
        for r in lean['rows']:
            m, g = r['median_s'], r['gflops']
            lines.append(f'| {r["size"]} | {r["data"]} | {r["batch"]} | {m["old full"]} | {m["new full"]} | '
                         f'{m["no image"]} | {r["old_over_no_image"]} | {r["new_over_no_image"]} | '
                         f'{r["old_over_new"]} | **{paired_ratio(r["runs_s"], "new full", "no image")}** | '
                         f'{g["old full"]} / {g["new full"]} / {g["no image"]} |')
        lines += ['', '"Paired": the median over the repeats of each round\'s own ratio (the variants of a round ran '
                  'back to back, so a load change between rounds cancels), with the middle half of the rounds\' '
                  'ratios in brackets. On this shared machine the load changed within the run; the paired ratio is the '
                  'one to read.']
        lines += ['', 'Runs (s): ' + '; '.join(f'{r["size"]} {r["data"]}: {r["runs_s"]}' for r in lean['rows']), '']
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
        for prefix in ('mini_fbm', 'fbm'):
            base = brk['results'].get(f'{prefix}_no_image')
            for full_name in (f'{prefix}_sfie', f'{prefix}_sfie_lean'):
                full = brk['results'].get(full_name)
                if full and base:
                    lines.append(f'- {full_name} / no image = {full["step_s"] / base["step_s"]:.2f}x time, '
                                 f'{full["gflops"] / base["gflops"]:.2f}x FLOPs')
        lines += ['']
    if record.get('bound'):
        lines += report_bound(record['bound'])
    if record.get('precision'):
        lines += report_precision(record['precision'])
    if record.get('dropout'):
        lines += report_dropout(record['dropout'])
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

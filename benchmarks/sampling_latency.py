"""Generation latency by sampler on this CPU (issue 26): one sample and a batch of 32, mini and FBM-size model.

    python benchmarks/sampling_latency.py [--mini-config C --mini-checkpoint P] [--fbm-config C]
        [--settings ddim5 ddim10 ddim20 ddpm1000] [--batch 32] [--repeats 3] [--batch-repeats 2]
        [--probe-steps 5] [--full-limit 30] [--threads 1] [--out benchmarks/results/sampling_latency_cpu]

Not a timed test. Every number goes through the user's path, `HOIInferencer` on the files of `demo/` (box mesh,
picture, waypoints, the sentence of the README), fp32 in this one process, `--threads` torch threads:
`last_timings` splits a call into prepare (mesh, waypoints, start body), features (the frozen text and image
encoders) and sampling (the model's own encoders once, then the denoising loop), and a callback on the sampler's
steps times each step. A setting whose loop would take longer than `--full-limit` seconds (estimated from
the step time of the setting before it; give the settings cheapest first) is not run in full: `--probe-steps` of its
steps are timed, and its sampling time is their median step time x its steps, labelled an extrapolation (the first
step, which pays for the model's own encoders, is left out of the median and added once).
Medians of `--repeats` calls (batch 1) and `--batch-repeats` calls (batch of `--batch` requests, seeds 0..B-1) after
one warm-up call per model, all in one run, so the ratios compare numbers measured side by side.

The mini model is a trained checkpoint (default: the demo's); the FBM-size model (`projects/imagin4d/fbm_sfie.py`) has
no trained checkpoint: it runs with its initial (random) weights and the mini checkpoint's motion statistics and
start state, which does not change its cost (same layers, same step count). Writes <out>.json and <out>.md.
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import REPO, command_line, machine_info

sys.path.insert(0, str(REPO))
from imagin4d.models.schedulers.test_cfg import SAMPLER_LABELS, TEST_SAMPLERS  # noqa: E402

TEXT = 'Lift the box, carry it and put it down.'
#: CHOIS's own code on this class of 2-core CPU, DDPM 1000 steps, FBM size, fp32 (issue 26)
CHOIS_SECONDS = {1: 37.8, 32: 990.0}
TARGET_FBM_ONE_S = 2.0      # the bar: one FBM-size sample at the chosen settings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--mini-config', default='projects/imagin4d/mini_fbm_sfie.py')
    parser.add_argument('--mini-checkpoint', default='work_dirs/demo/iter_500.pth')
    parser.add_argument('--fbm-config', default='projects/imagin4d/fbm_sfie.py')
    parser.add_argument('--models', nargs='+', default=['mini', 'fbm'], choices=['mini', 'fbm'])
    parser.add_argument('--settings', nargs='+', default=['ddim5', 'ddim10', 'ddim20', 'ddpm1000'],
                        help='sampler and steps, e.g. ddim20, dpmpp10 or ddpm1000')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=3, help='timed calls of one request (median)')
    parser.add_argument('--batch-repeats', type=int, default=2, help='timed calls of the batch (median)')
    parser.add_argument('--probe-steps', type=int, default=5, help='steps timed to decide / extrapolate')
    parser.add_argument('--full-limit', type=float, default=30.0,
                        help='seconds: a loop estimated longer is extrapolated, not run in full')
    parser.add_argument('--threads', type=int, default=1, help='torch threads (default 1: one core of a shared '
                                                               'machine; see model_throughput.py)')
    parser.add_argument('--out', default='benchmarks/results/sampling_latency_cpu')
    return parser.parse_args(argv)


def parse_setting(text: str):
    """'ddim20' -> ('ddim', 20); the samplers of `test_cfg.sampler` (ddim, ddpm, dpmpp)."""
    for sampler in TEST_SAMPLERS:
        if text.startswith(sampler) and text[len(sampler):].isdigit():
            return sampler, int(text[len(sampler):])
    raise SystemExit(f'error: --settings: expected <sampler>N with a sampler of {sorted(TEST_SAMPLERS)} (e.g. ddim20, '
                     f'dpmpp10, ddpm1000), got {text!r}')


class _StepStop(Exception):
    """Raised by the step timer to end a probed loop after its timed steps."""


class StepTimer:
    """A sampler callback recording the time of each step; stops the loop (`_StepStop`) after `stop_after`."""

    def __init__(self, stop_after=None):
        self.stop_after, self.times, self.last = stop_after, [], time.perf_counter()

    def __call__(self, step, x_t, x0) -> None:
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now
        if self.stop_after is not None and len(self.times) >= self.stop_after:
            raise _StepStop

    def close(self) -> None:
        pass


def timed_inferencer(config: str, checkpoint: str):
    """An `HOIInferencer` whose sampling loop reports to `self.timer` (a `StepTimer`, set before each call) and
    whose feature stage records its start and end (`self.marks`), so that a stopped probe still has them."""
    from imagin4d.apis import HOIInferencer

    class Timed(HOIInferencer):
        timer, marks = None, {}

        def _features(self, items):
            self.marks['features_start'] = time.perf_counter()
            super()._features(items)
            self.marks['features_end'] = time.perf_counter()

        def _progress_bar(self, steps, batch):
            self.timer.last = time.perf_counter()
            return self.timer

    return Timed(config, checkpoint, batch_size=64)


def fbm_checkpoint(fbm_config: str, mini_checkpoint: str, folder: str) -> str:
    """The FBM-size model with its initial weights and the mini checkpoint's data statistics, as a checkpoint."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import _load_checkpoint

    from imagin4d.engine.checkpoint import checkpoint_state_dict
    from imagin4d.registry import MODELS
    init_default_scope('imagin4d')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(fbm_config).model)
    mini = checkpoint_state_dict(_load_checkpoint(mini_checkpoint, map_location='cpu'), mini_checkpoint)
    stats = {k: v for k, v in mini.items() if k.startswith('data_preprocessor.')}
    state = dict(model.state_dict(), **stats)
    path = os.path.join(folder, 'fbm_sfie_initial_weights.pth')
    torch.save(dict(state_dict=state, meta=dict(note='initial weights, mini-FBM statistics')), path)
    return path


def requests(n: int, sampler: str, steps: int):
    from imagin4d.apis import HOIRequest
    demo = REPO / 'demo'
    return [HOIRequest(text=TEXT, object_mesh=str(demo / 'box.obj'), reference_image=str(demo / 'reference.png'),
                       waypoints=str(demo / 'waypoints.json'), sampler=sampler, steps=steps, seed=i, name=f'r{i}')
            for i in range(n)]


def call(inferencer, reqs, stop_after=None) -> dict:
    """One inferencer call: stage seconds and step times (a probe ends after `stop_after` steps: its sampling stage
    is then unknown)."""
    inferencer.timer, inferencer.marks = StepTimer(stop_after), {}
    start = time.perf_counter()
    try:
        inferencer(reqs)
        stages = dict(inferencer.last_timings)
    except _StepStop:
        marks = inferencer.marks
        stages = dict(prepare=marks['features_start'] - start, features=marks['features_end'] - marks['features_start'])
    return dict(stages=stages, steps=inferencer.timer.times, wall=time.perf_counter() - start)


def measure(inferencer, batch: int, sampler: str, steps: int, repeats: int, args, known_step=None) -> dict:
    """Median stage seconds of `repeats` calls; when the loop would take longer than `args.full_limit` (estimated
    from `known_step`, the step time of a cheaper setting measured before), one probe of `args.probe_steps` steps
    and an extrapolated sampling time."""
    reqs = requests(batch, sampler, steps)
    row = dict(batch=batch, sampler=sampler, steps=steps)
    if known_step is not None and known_step * steps > args.full_limit:
        probe = call(inferencer, reqs, stop_after=min(args.probe_steps, steps))
        per_step = statistics.median(probe['steps'][1:] or probe['steps'])
        row.update(extrapolated=True, per_step_ms=per_step * 1000.0, probe_step_times_s=probe['steps'],
                   sampling_s=probe['steps'][0] + per_step * (steps - 1), features_s=probe['stages']['features'],
                   prepare_s=probe['stages']['prepare'])
    else:
        runs = [call(inferencer, reqs) for _ in range(repeats)]
        row.update(extrapolated=False, runs=[r['stages'] for r in runs],
                   sampling_s=statistics.median(r['stages']['sampling'] for r in runs),
                   features_s=statistics.median(r['stages']['features'] for r in runs),
                   prepare_s=statistics.median(r['stages']['prepare'] for r in runs),
                   per_step_ms=statistics.median(t for r in runs for t in r['steps'][1:] or r['steps']) * 1000.0)
    row['generation_s'] = row['prepare_s'] + row['features_s'] + row['sampling_s']
    print(json.dumps({k: v for k, v in row.items() if k not in ('runs', 'probe_step_times_s')}), flush=True)
    return row


def page(record: dict) -> str:
    s = record['settings']
    lines = ['# Sampling latency on this CPU (issue 26)', '',
             f'Command: `{record["command"]}`  ',
             f'Machine: {record["machine"]["cpu"]}, {record["machine"]["logical_cores"]} logical cores shared with '
             f'other jobs, torch {record["machine"]["torch"]} with {s["threads"]} thread(s), fp32, one process; load '
             f'average (1/5/15 min) {record["load_start"]} at the start, {record["load_end"]} at the end '
             f'({record["started"]} to {record["finished"]}, {record["wall_min"]:.1f} min).  ',
             f'Commit {record["machine"]["git_commit"]}; process niceness {record["niceness"]}.', '']
    busy = max(record['load_start'][0], record['load_end'][0]) / record['machine']['logical_cores']
    if busy > 1:
        lines += [f'**The machine was busy** (load {busy:.1f}x its cores): every absolute time is inflated by the '
                  'other jobs (at most one core is ours, often a fraction of one), so the comparison with CHOIS\'s '
                  'numbers (from a run of its own) is pessimistic for imagin4d; the ratios between rows, measured '
                  'side by side in this run, are what this page shows best.', '']
    lines += [
             'Models: **mini** = `' + s['mini_config'] + '` with `' + s['mini_checkpoint'] + '` (trained); **FBM** = `'
             + s['fbm_config'] + '` (CHOIS size: width 512, 4 layers) with its **initial random weights** and the mini '
             "checkpoint's motion statistics: no trained FBM checkpoint exists; its cost does not depend on the "
             'weights. '
             'Requests: the files of `demo/` through `HOIInferencer` (`features` = the frozen MiniLM text and '
             'EfficientNet-Lite0 image encoders; `sampling` = the model\'s own encoders once and the denoising loop; '
             '`generation` = prepare + features + sampling; exports and video not included). Medians of '
             f'{s["repeats"]} calls (batch 1) / {s["batch_repeats"]} calls (batch {s["batch"]}) after a warm-up. '
             f'**extrapolated**: the loop was not run in full (estimated over {s["full_limit"]} s): median step time '
             f'of {s["probe_steps"]} timed steps x the steps (plus the first step once); the feature stage is that '
             "call's. The few-step samplers use each config's timestep spacing (in brackets); a spacing changes which "
             'noise levels are visited, not the cost of a step. `+ recon`: with the config\'s reconstruction guidance '
             '(gradient steps on the decoded motion in the last sampling steps).',
             '',
             '| model | batch | sampler | steps | ms / step | features (s) | sampling (s) | generation (s) | '
             'vs CHOIS DDPM-1000 | note |', '|---|---|---|---|---|---|---|---|---|---|']
    for r in record['rows']:
        chois = CHOIS_SECONDS.get(r['batch']) if r['model'] == 'fbm' else None
        ratio = '' if not chois else f'{chois / r["generation_s"]:.1f}x faster' if chois >= r['generation_s'] else \
            f'{r["generation_s"] / chois:.1f}x slower'
        note = 'extrapolated' if r['extrapolated'] else ''
        if r['model'] == 'fbm' and r['batch'] == 1:
            note += ('; ' if note else '') + (f'within {TARGET_FBM_ONE_S:g} s' if r['generation_s'] <= TARGET_FBM_ONE_S
                                              else f'over {TARGET_FBM_ONE_S:g} s')
        label = SAMPLER_LABELS.get(r['sampler'], r['sampler'].upper())
        if r['sampler'] != 'ddpm' and r.get('timestep_spacing'):
            label += f' ({r["timestep_spacing"]})'
        if r.get('reconstruction_guidance'):
            label += ' + recon'
        lines.append(f'| {r["model"]} | {r["batch"]} | {label} | {r["steps"]} | {r["per_step_ms"]:.1f} '
                     f'| {r["features_s"]:.3f} | {r["sampling_s"]:.2f} | {r["generation_s"]:.2f} | {ratio} | {note} |')
    lines += ['', 'CHOIS (its own code, this class of 2-core CPU, DDPM 1000 steps, FBM size, fp32): '
              f'{CHOIS_SECONDS[1]} s for one sample, about {CHOIS_SECONDS[32]:.0f} s for a batch of 32 (issue 26). The '
              '"vs CHOIS" column divides those by the FBM rows\' generation time; imagin4d\'s FBM-size model adds the '
              'image encoders (SFIE, frame-aware tokens) to CHOIS\'s architecture, so at DDPM-1000 it is the same '
              'kind of model at the same step count.']
    lines += ratio_lines(record['rows'])
    return '\n'.join(lines) + '\n'


def ratio_lines(rows) -> list:
    """Speed-ups of each few-step setting over DDPM-1000 of the same model and batch (measured in this run)."""
    out = []
    for model in ('mini', 'fbm'):
        for batch in sorted({r['batch'] for r in rows}):
            group = [r for r in rows if r['model'] == model and r['batch'] == batch]
            ref = next((r for r in group if r['sampler'] == 'ddpm'), None)
            if ref is None:
                continue
            parts = [f'{SAMPLER_LABELS.get(r["sampler"], r["sampler"].upper())} {r["steps"]} '
                     f'{ref["generation_s"] / r["generation_s"]:.0f}x' for r in group if r['sampler'] != 'ddpm']
            if parts:
                out.append(f'- {model}, batch {batch}: generation time of DDPM-{ref["steps"]} / each: '
                           + ', '.join(parts) + '.')
    return ['', 'Speed-ups over DDPM at the same model and batch (same run):', ''] + out if out else []


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    settings = [parse_setting(s) for s in args.settings]
    started, clock = datetime.datetime.now(datetime.timezone.utc), time.time()
    load_start = [round(v, 2) for v in os.getloadavg()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            if model == 'mini':
                inferencer = timed_inferencer(str(REPO / args.mini_config), str(REPO / args.mini_checkpoint))
            else:
                ckpt = fbm_checkpoint(str(REPO / args.fbm_config), str(REPO / args.mini_checkpoint), tmp)
                inferencer = timed_inferencer(str(REPO / args.fbm_config), ckpt)
            call(inferencer, requests(1, 'ddim', 5))                             # warm-up
            for batch, repeats in ((1, args.repeats), (args.batch, args.batch_repeats)):
                known = None            # settings in the given order (cheapest first): the first runs in full
                test_cfg = inferencer.model.test_cfg           # the config's spacing and guidance: requests name none
                for sampler, steps in settings:
                    rows.append(dict(model=model, timestep_spacing=test_cfg['timestep_spacing'],
                                     reconstruction_guidance=bool(test_cfg['reconstruction_guidance']),
                                     **measure(inferencer, batch, sampler, steps, repeats, args, known)))
                    known = rows[-1]['per_step_ms'] / 1000.0
    record = dict(command=command_line(), settings=dict(vars(args)), machine=machine_info(), niceness=os.nice(0),
                  load_start=load_start,
                  load_end=[round(v, 2) for v in os.getloadavg()], started=started.isoformat(timespec='seconds'),
                  finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                  wall_min=(time.time() - clock) / 60, rows=rows)
    out = Path(args.out) if os.path.isabs(args.out) else REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(record, indent=1) + '\n')
    out.with_suffix('.md').write_text(page(record))
    print(f'written: {out}.json, {out}.md')


if __name__ == '__main__':
    main()

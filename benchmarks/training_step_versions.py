"""The lean full model's training step against the no-image step, for two versions of the code in one run (issue 23).

    git worktree add /tmp/imagin4d_old e245cc1
    python benchmarks/training_step_versions.py --old-tree /tmp/imagin4d_old [--old-name e245cc1] [--repeats 7]
        [--sizes mini] [--fused-adamw] [--ablate adaln tokens] [--tag lean_fast_cpu]

Two worker processes, one per source tree (the old commit's worktree and this checkout), each build the lean full
model (`*_sfie_lean.py`) and the no-image model (`*_no_image.py`) with the config's optimiser, from the same seed,
and time ONE `train_step` (forward, backward, clipping, AdamW; flushed; the weights and optimiser state restored and
the RNG reseeded before each: `training_step_common.restored_step` of the worker's own tree) on a synthetic batch of
the real shapes and on the first two real batches of the mini-FBM demo train loader. The driver interleaves every
(tree, variant, data) step round by round, alternating the order, so the ratios of one round share the machine's
load; it reports medians and the per-round ("paired") ratios, and the largest difference between the two trees'
losses of the same step (the same math gives float32 rounding). --fused-adamw adds the new tree's two models with
`AdamW(fused=True)` (a config change, measured only). The FBM-size models read the same batches (same widths).
Writes benchmarks/results/training_step_<tag>.{json,md}.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

VARIANTS = {'lean full': 'sfie_lean', 'no image': 'no_image'}
SIZES = {'mini': 'mini_fbm', 'fbm': 'fbm'}
KINDS = ('synthetic batch', 'real batches')


# ------------------------------------------------------------------------------------------------------ worker
def _adaln_per_stream_adds(self, cond):
    """The 'separate' AdaLN combination of e245cc1 (one full-size add per stream), for the ablation of the new one."""
    from einops import einsum

    from imagin4d.models.layers import GatedStream
    out = self.bias
    for name, c in cond.items():
        if isinstance(c, GatedStream):
            out = out + einsum(c.gate, self.proj[name](self.act(c.value)), 'b k t, b k d -> b t d')
        elif c is not None:
            out = out + self.proj[name](self.act(self._per_frame(c)))
    return out


def _frame_tokens_materialized(self, tokens, positions, frames):
    """The frame-aware encoder's output of 87d48fc: the Q query tokens interpolated to (B, T, C) in the encoder, so the
    denoiser projects T rows to keys / values (today: `InterpolatedTokens`, Q rows), for the ablation of the new one."""
    from imagin4d.models.layers import InterpolatedTokens
    if positions is None:
        return tokens
    return InterpolatedTokens(tokens, self.interpolation_matrix(positions, frames).to(tokens.device,
                                                                                      tokens.dtype)).materialize()


#: Ablations of the new tree (--ablate KEY ...): each reverts one change of the lean step while the step runs.
ABLATIONS = {'adaln': 'AdaLN per-stream adds', 'tokens': 'frame tokens interpolated before K/V'}


def ablated(step, what: str):
    """`step` with one change reverted (monkeypatched) for its duration."""
    from imagin4d.models.cues import FrameAwareImageEncoder
    from imagin4d.models.layers import AdaLNZero
    owner, attr, value = {'AdaLN per-stream adds': (AdaLNZero, '_separate', _adaln_per_stream_adds),
                          'frame tokens interpolated before K/V': (FrameAwareImageEncoder, '_to_frames',
                                                                   _frame_tokens_materialized)}[what]

    def run():
        saved = getattr(owner, attr)
        setattr(owner, attr, value)
        try:
            return step()
        finally:
            setattr(owner, attr, saved)
    return run


def timed_step(model, optim_wrapper, saved, data_fn, seed_fn, keep: list):
    """`training_step_common.restored_step` timing wall-clock AND this thread's CPU time (one torch thread: all of
    the step's compute; on an oversubscribed machine the CPU time does not count the waits for a core)."""
    import copy
    import time

    import torch

    from imagin4d.utils.numerics import denormals_flushed

    def run():
        model.load_state_dict(saved[0])
        optim_wrapper.load_state_dict(copy.deepcopy(saved[1]))
        torch.manual_seed(seed_fn())
        with denormals_flushed(True):
            wall, cpu = time.perf_counter(), time.thread_time()
            losses = model.train_step(data_fn(), optim_wrapper)
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        keep[:] = [losses]
        return dict(wall=wall, cpu=cpu)
    return run


def worker(tree: str, size: str, batch: int, fused: bool, ablate: list, check_checkpoint: str = None) -> None:
    """Build the variants of `tree`, print READY, then answer 'index round' lines with one timed step each."""
    protocol = os.fdopen(os.dup(1), 'w')               # the answers; everything else printed goes to stderr
    os.dup2(2, 1)
    sys.path.insert(0, str(Path(tree) / 'benchmarks'))
    import copy

    import torch
    from training_step_common import (
        as_data_batch,
        build,
        load_cfg,
        real_batches,
        snapshot,
        synthetic_batch,
    )

    import imagin4d
    if not Path(imagin4d.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise RuntimeError(f'the worker of {tree} imported imagin4d from {imagin4d.__file__}')
    torch.set_num_threads(1)
    data = {'synthetic batch': [as_data_batch(synthetic_batch(batch))],
            'real batches': real_batches(load_cfg('mini_fbm_sfie'), 2)}
    counter = {'i': 0}
    keys, steps, kept = [], [], []
    for label, suffix in VARIANTS.items():
        for optimiser in (('foreach', 'fused') if fused else ('foreach',)):
            cfg, model, ow = build(f'{SIZES[size]}_{suffix}')
            if optimiser == 'fused':
                from mmengine.optim import build_optim_wrapper
                ow_cfg = copy.deepcopy(cfg.optim_wrapper)
                ow_cfg.optimizer['fused'] = True
                ow = build_optim_wrapper(model, ow_cfg)
            model.train()
            saved = snapshot(model, ow)
            for kind, batches in data.items():
                keep = []
                keys.append([label + (', AdamW fused' if optimiser == 'fused' else ''), kind])
                steps.append(timed_step(model, ow, saved, lambda b=batches: b[counter['i'] % len(b)],
                                        lambda: counter['i'], keep))
                kept.append(keep)
                step = steps[-1]
                for what in ([ABLATIONS[k] for k in ablate or ()] if suffix == 'sfie_lean' and optimiser == 'foreach'
                             else ()):
                    keys.append([f'{label}, {what}', kind])
                    steps.append(ablated(step, what))
                    kept.append(keep)
    checks = {}
    if check_checkpoint:                 # the same math: one loss of trained weights on the synthetic batch
        from training_step_common import preprocessed
        model = build(f'{SIZES[size]}_sfie_lean')[1]
        model.load_state_dict(torch.load(check_checkpoint, map_location='cpu', weights_only=False)['state_dict'])
        model.train()
        torch.manual_seed(0)
        losses = model(*preprocessed(model, data['synthetic batch'][0]), mode='loss')
        checks = {k: float(v.detach()) for k, v in losses.items()}
    print('READY ' + json.dumps(dict(keys=keys, checks=checks)), file=protocol, flush=True)
    for line in sys.stdin:
        index, counter['i'] = (int(v) for v in line.split())
        seconds = steps[index]()
        losses = {k: float(v.detach() if torch.is_tensor(v) else v) for k, v in kept[index][0].items()}
        print(json.dumps(dict(seconds, losses=losses)), file=protocol, flush=True)


# ------------------------------------------------------------------------------------------------------ driver
class Worker:
    def __init__(self, name: str, tree: str, size: str, batch: int, flags: list, env: dict):
        cmd = [sys.executable, __file__, '--worker', '--tree', tree, '--size', size, '--batch', str(batch)]
        self.name = name
        self.proc = subprocess.Popen(cmd + flags, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=tree)
        line = self.proc.stdout.readline()
        if not line.startswith('READY '):
            raise RuntimeError(f'worker of {tree} failed to start (see its stderr above)')
        ready = json.loads(line[6:])
        self.keys, self.checks = [tuple(k) for k in ready['keys']], ready['checks']

    def step(self, key, round_index: int) -> dict:
        self.proc.stdin.write(f'{self.keys.index(key)} {round_index}\n')
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run_size(size: str, trees: dict, repeats: int, batch: int, new_flags: list, check: list) -> dict:
    from training_step_common import load_average
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, IMAGIN4D_MINI_FBM_ROOT=os.environ.get('IMAGIN4D_MINI_FBM_ROOT',
                                                                 str(repo / 'data' / 'mini_fbm_demo')),
               IMAGIN4D_BODY_MODEL_DIR=os.environ.get('IMAGIN4D_BODY_MODEL_DIR', str(repo / 'data' / 'body_models')))
    load_before = load_average()
    check = check if size == 'mini' else []              # a mini checkpoint
    workers = [Worker(name, tree, size, batch, (new_flags if name == 'new' else []) + check, env)
               for name, tree in trees.items()]
    check_diff = None
    if check:
        a, b = (w.checks for w in workers)
        check_diff = dict(checkpoint=Path(check[1]).name, losses=a,
                          max_abs_difference={k: abs(a[k] - b[k]) for k in a})
    jobs = [(w, key) for w in workers for key in w.keys]
    times = {measure: {(w.name, *key): [] for w, key in jobs} for measure in ('wall', 'cpu')}
    losses = {}
    for w, key in jobs:                                     # warm-up round
        w.step(key, 0)
    for r in range(repeats):
        for w, key in (jobs if r % 2 == 0 else jobs[::-1]):
            out = w.step(key, r)
            for measure in times:
                times[measure][(w.name, *key)].append(out[measure])
            losses.setdefault((key, r), {})[w.name] = out['losses']
    for w in workers:
        w.close()
    loss_diff = {}
    for (key, _), by_tree in losses.items():
        if len(by_tree) == 2:
            a, b = by_tree.values()
            name = ' / '.join(key)
            loss_diff[name] = max([loss_diff.get(name, 0.0)] + [abs(a[k] - b[k]) for k in a])
    return dict(size=size, batch=batch, repeats=repeats, load_before=load_before, load_after=load_average(),
                runs_s={' | '.join(k): [round(x, 4) for x in v] for k, v in times['wall'].items()},
                cpu_runs_s={' | '.join(k): [round(x, 4) for x in v] for k, v in times['cpu'].items()},
                max_loss_difference_old_new=loss_diff, trained_checkpoint_check=check_diff)


def balanced_ratio(runs: dict, a: str, b: str) -> float:
    """The mean of the per-round ratios runs[a][r] / runs[b][r] over the rounds run in the listed order and over the
    rounds run in reverse, averaged: a step's time can depend on its place in the round (at the FBM size the steps
    of alternate rounds differ by ~15%), which this estimate weighs equally whatever the number of rounds."""
    import statistics
    ratios = [x / y for x, y in zip(runs[a], runs[b])]
    return statistics.mean(statistics.mean(half) for half in (ratios[0::2], ratios[1::2]) if half)


def ratio_cell(runs: dict, a: str, b: str) -> str:
    """'paired median [q1, q3] / balanced' (`training_step_report.paired_ratio`, `balanced_ratio`)."""
    from training_step_report import paired_ratio
    return f'{paired_ratio(runs, a, b)} / {balanced_ratio(runs, a, b):.3f}'


def tables(runs: dict, measure: str, old_name: str) -> list:
    """The before / after, AdamW and ablation tables of one measure's runs {'tree | variant | data': [s]}."""
    import statistics
    lines = ['| data | old lean s | new lean s | old no image s | new no image s | old lean / no image, paired | '
             '**new lean / no image, paired** | old lean / new lean, paired | no image old / new (control) |',
             '|---|---|---|---|---|---|---|---|---|']
    for kind in KINDS:
        k = {(v, t): f'{t} | {v} | {kind}' for v in VARIANTS for t in ('old', 'new')}
        med = {key: statistics.median(runs[name]) for key, name in k.items()}
        lines.append(f'| {kind} | {med[("lean full", "old")]:.4f} | {med[("lean full", "new")]:.4f} | '
                     f'{med[("no image", "old")]:.4f} | {med[("no image", "new")]:.4f} | '
                     f'{ratio_cell(runs, k[("lean full", "old")], k[("no image", "old")])} | '
                     f'**{ratio_cell(runs, k[("lean full", "new")], k[("no image", "new")])}** | '
                     f'{ratio_cell(runs, k[("lean full", "old")], k[("lean full", "new")])} | '
                     f'{ratio_cell(runs, k[("no image", "old")], k[("no image", "new")])} |')
    if any('AdamW fused' in name for name in runs):
        lines += ['', f'AdamW `fused=True` ({measure}; a config change, NOT applied; the new tree only):', '',
                  '| data | model | fused / as configured, paired | fused lean / fused no image, paired |',
                  '|---|---|---|---|']
        for kind in KINDS:
            for v in VARIANTS:
                against = ratio_cell(runs, f'new | {v}, AdamW fused | {kind}', f'new | {v} | {kind}')
                both = ratio_cell(runs, f'new | lean full, AdamW fused | {kind}',
                                  f'new | no image, AdamW fused | {kind}') if v == 'lean full' else ''
                lines.append(f'| {kind} | {v} | {against} | {both} |')
    ablations = [what for what in ABLATIONS.values() if any(what in name for name in runs)]
    if ablations:
        lines += ['', f'Each change on its own ({measure}): the new tree with ONE change undone while its step runs '
                  f'({old_name}\'s form, monkeypatched), against the new tree:', '',
                  '| data | undone | undone / new, paired | undone / no image, paired |', '|---|---|---|---|']
        for kind in KINDS:
            for what in ablations:
                name = f'new | lean full, {what} | {kind}'
                lines.append(f'| {kind} | {what} | {ratio_cell(runs, name, f"new | lean full | {kind}")} | '
                             f'{ratio_cell(runs, name, f"new | no image | {kind}")} |')
    return lines


def write_page(record: dict, out: Path, old_name: str) -> None:
    info = record['machine']
    lines = ['# The lean full model\'s training step against the no-image step, old and new code in one run '
             '(issue 23)', '', f'Command: `{info["command"]}`  ',
             f'Machine: {info["cpu"]}, {info["logical_cores"]} logical cores, torch {info["torch"]}, 1 thread per '
             f'worker, new commit {info["git_commit"]} (plus the working tree), old commit {old_name}  ',
             'One `train_step` (forward, backward, clipping, AdamW; flushed) per (code version, model, data), all '
             'interleaved round by round in two worker processes (one per source tree) that take turns, so both '
             'versions see the same load, and the order of the round alternates. Ratios: "paired" median of the '
             'per-round ratios [the middle half of the rounds] / "balanced": the mean over the rounds of each order, '
             'averaged over the two orders (the one to read where the step time depends on its place in the round, '
             'as at the FBM size). Two measures of each step: the CPU time of the stepping thread (torch runs on that '
             'one thread; it leaves out the waits for a core of an oversubscribed machine, so it is the one to read '
             'when the load average is above the 2 cores) and the wall-clock time.', '']
    for res in record['sizes']:
        lines += [f'## {res["size"]} size, batch {res["batch"]}, {res["repeats"]} rounds (load {res["load_before"]} '
                  f'-> {res["load_after"]})', '', '### CPU time of the step', '']
        lines += tables(res['cpu_runs_s'], 'CPU time', old_name)
        lines += ['', '### Wall-clock time of the step', '']
        lines += tables(res['runs_s'], 'wall-clock', old_name)
        check = res.get('trained_checkpoint_check')
        if check:
            diffs = check['max_abs_difference']
            worst = max(diffs, key=diffs.get)
            lines += ['', '### The same math', '', f'The training losses of the trained lean checkpoint '
                      f'`{check["checkpoint"]}` on the synthetic batch (same seed) under both versions: the largest '
                      f'difference is {diffs[worst]:.2e} ({worst} = {check["losses"][worst]:.5g}; {len(diffs)} '
                      'losses compared).']
        lines += ['', 'Largest difference of a logged loss between the two versions in the timed steps (fresh '
                  'weights; the real batches are not the same in two processes: their data pipeline draws '
                  'differently): ' + ', '.join(f'{k}: {v:.2e}' for k, v in res['max_loss_difference_old_new'].items()),
                  '', 'CPU time runs (s): ' + '; '.join(f'{k}: {v}' for k, v in res['cpu_runs_s'].items()), '',
                  'Wall-clock runs (s): ' + '; '.join(f'{k}: {v}' for k, v in res['runs_s'].items()), '']
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--old-tree', help='a worktree of the old commit (git worktree add DIR COMMIT)')
    parser.add_argument('--old-name', default='e245cc1', help='the old commit, for the page')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--sizes', nargs='+', default=['mini'], choices=list(SIZES))
    parser.add_argument('--fused-adamw', action='store_true')
    parser.add_argument('--ablate', nargs='+', choices=list(ABLATIONS), default=[],
                        help=f'also the new tree with one change undone: {ABLATIONS}')
    parser.add_argument('--check-checkpoint', help='a trained checkpoint of the lean model: both versions compute '
                        'its training losses on the synthetic batch (same seed), the page gives the largest difference')
    parser.add_argument('--tag', default='lean_fast_cpu')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--tree', help=argparse.SUPPRESS)
    parser.add_argument('--size', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.tree, args.size, args.batch, args.fused_adamw, args.ablate, args.check_checkpoint)
    if not args.old_tree:
        parser.error('--old-tree is required')
    from bench_common import REPO, command_line, machine_info
    trees = {'old': str(Path(args.old_tree).resolve()), 'new': str(REPO)}
    record = dict(sizes=[])
    out = REPO / 'benchmarks' / 'results' / f'training_step_{args.tag}'
    for size in args.sizes:
        flags = ['--fused-adamw'] * args.fused_adamw + (['--ablate', *args.ablate] if args.ablate else [])
        check = ['--check-checkpoint', str(Path(args.check_checkpoint).resolve())] if args.check_checkpoint else []
        record['sizes'].append(run_size(size, trees, args.repeats, args.batch, flags, check))
        record['machine'] = machine_info(command=command_line().replace(str(Path(args.old_tree).resolve()),
                                                                        '<old worktree>'))
        out.with_suffix('.json').write_text(json.dumps(record, indent=1))
        write_page(record, out, args.old_name)


if __name__ == '__main__':
    main()

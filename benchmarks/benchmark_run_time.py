"""How long one benchmark run takes on one core: old code against new, side by side, each pinned to its own core
(issue 23's goal: a 2000-iteration run in at most 12 minutes of one core).

    python benchmarks/benchmark_run_time.py --old-tree /tmp/imagin4d_old --old-name 004847f --old-variant sfie_lean
        --new-variant sfie_lean_bf16 [--iters 2000] [--cores 0 1] [--out benchmarks/results/benchmark_run_time_cpu]

Each side is one `tools/analysis/run_benchmark.py` chain of one variant at seed 0 (train -> test -> mirrored test ->
tables, the benchmark's budget and sampling, the archived text-motion evaluator), started at the same moment in its
tree under `taskset -c CORE`: the trainer, its loader worker and the tests share that one core, and the two sides
never share one. Scratch archives and work dirs go to --scratch. Measured per side: the wall time of the chain, of the
training (the log's first line to its last iteration) and of what follows it; the CPU time of the whole chain
(`os.wait4`); seconds per iteration over the run (log). Writes <out>.json and <out>.md.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from bench_common import REPO, command_line, machine_info, write_results

EVALUATOR = 'benchmarks/results/mini_fbm_runs/evaluator/text_motion_evaluator.pth'
STAMP = re.compile(r'^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) - mmengine - INFO - (.*)$')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--old-tree', required=True, help='a worktree of the old commit (git worktree add DIR COMMIT)')
    parser.add_argument('--old-name', default='old', help='how the old tree is named in the results (its commit)')
    parser.add_argument('--old-variant', default='sfie_lean')
    parser.add_argument('--new-variant', default='sfie_lean_bf16')
    parser.add_argument('--iters', type=int, default=2000)
    parser.add_argument('--cores', type=int, nargs=2, default=[0, 1], help='the old and the new side\'s core')
    parser.add_argument('--data-root', default=str(REPO / 'data' / 'mini_fbm'))
    parser.add_argument('--scratch', default='/tmp/benchmark_run_time')
    parser.add_argument('--out', default='benchmarks/results/benchmark_run_time_cpu')
    return parser.parse_args(argv)


def train_times(log: Path) -> dict:
    """The first logged moment and the moment of the last training iteration (its log line or its checkpoint)."""
    stamps, last_iter = [], None
    for line in log.read_text().splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        moment = datetime.strptime(match.group(1), '%Y/%m/%d %H:%M:%S')
        stamps.append(moment)
        if 'Iter(train)' in match.group(2) or match.group(2).startswith('Saving checkpoint'):
            last_iter = moment
    return dict(start=stamps[0], end=last_iter)


def main(argv=None):
    args = parse_args(argv)
    scratch = Path(args.scratch)
    sides = {'old': (Path(args.old_tree).resolve(), args.old_variant, args.cores[0], args.old_name),
             'new': (REPO, args.new_variant, args.cores[1], 'new')}
    info = machine_info(command=command_line())
    procs = {}
    for side, (tree, variant, core, _) in sides.items():
        work = scratch / side
        command = ['taskset', '-c', str(core), sys.executable, 'tools/analysis/run_benchmark.py',
                   '--variants', variant, '--seeds', '0', '--jobs', '1', '--iters', str(args.iters),
                   '--data-root', args.data_root, '--archive', str(work / 'archive'), '--work-dir', str(work / 'wd'),
                   '--evaluator-ckpt', str(REPO / EVALUATOR), '--out', str(work / 'page.md')]
        work.mkdir(parents=True, exist_ok=True)
        log = open(work / 'chain.log', 'w')
        procs[side] = (subprocess.Popen(command, cwd=tree, stdout=log, stderr=subprocess.STDOUT), time.time(), command)
    results = {}
    pending = {p.pid: side for side, (p, _, _) in procs.items()}
    while pending:
        pid, status, usage = os.wait4(-1, 0)
        side = pending.pop(pid, None)
        if side is None:
            continue
        proc, start, command = procs[side]
        _, variant, core, name = sides[side]
        wall = time.time() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f'benchmark_run_time: the {side} chain failed (exit {status}); see {scratch / side / "chain.log"}')
        log = sorted((scratch / side / 'wd' / variant / 'seed0').glob('2*/2*.log'))[0]
        times = train_times(log)
        train_s = (times['end'] - times['start']).total_seconds()
        results[side] = dict(name=name, variant=variant, core=core, chain_wall_s=round(wall, 1),
                             train_wall_s=train_s, after_training_s=round(wall - train_s, 1),
                             chain_cpu_s=round(usage.ru_utime + usage.ru_stime, 1),
                             s_per_iter=round(train_s / args.iters, 3),
                             command=shlex.join(command).replace(sys.executable, 'python')
                             .replace(f'{REPO}/', ''))
    old, new = results['old'], results['new']
    record = dict(machine=info, iters=args.iters, sides=results,
                  new_over_old_train=round(new['train_wall_s'] / old['train_wall_s'], 3),
                  new_over_old_chain=round(new['chain_wall_s'] / old['chain_wall_s'], 3))
    lines = ['# One benchmark run on one core: old against new (issue 23)', '',
             f'Command: `{info["command"]}`  ',
             f'Machine: {info["cpu"]}, {info["logical_cores"]} logical cores, torch {info["torch"]}; commit '
             f'{info["git_commit"]}; load average at the start {info["load_average_1_5_15"]}.', '',
             f'Both chains ran at the same time, each pinned to its own core (`taskset`), {args.iters} training '
             'iterations at seed 0 with the benchmark\'s sampling (tools/analysis/run_benchmark.py: train, test, '
             'mirrored test, tables). Goal: at most 12 minutes of one core.', '',
             '| side | code | variant | core | training min | s / iteration | test and tables min | whole run min | '
             'CPU min |', '|---|---|---|---|---|---|---|---|---|']
    for side, r in results.items():
        lines.append(f'| {side} | {r["name"]} | {r["variant"]} | {r["core"]} | {r["train_wall_s"] / 60:.1f} | '
                     f'{r["s_per_iter"]} | {r["after_training_s"] / 60:.1f} | {r["chain_wall_s"] / 60:.1f} | '
                     f'{r["chain_cpu_s"] / 60:.1f} |')
    lines += ['', f'new / old: training {record["new_over_old_train"]}, whole run {record["new_over_old_chain"]}.', '']
    write_results(args.out, record, '\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()

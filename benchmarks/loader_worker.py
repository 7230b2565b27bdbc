"""The loader worker's cost: CPU time to produce one train batch, old code against new, in turns (issue 23).

    IMAGIN4D_MINI_FBM_ROOT=data/mini_fbm python benchmarks/loader_worker.py --old-tree /tmp/imagin4d_old
        [--old-name 8565e3c] [--config projects/imagin4d/mini_fbm_sfie_lean.py] [--batches 20] [--rounds 2]
        [--out benchmarks/results/loader_worker_cpu]

A training's loader worker assembles every sample (window, canonical frame, BPS of the placed object, reference
features from the cache) and collates the batch; on a 2-core machine that runs two trainings, its CPU time is taken
from the trainings. Each run is one process importing imagin4d from one tree (the data and config read from this
checkout) that builds the config's train loader without workers and times `next()` in process CPU time, after two
untimed batches (--skip), from the same seeds; the trees alternate. Also measured: the share of the time in
`placed_object_bps` (the BPS k-d tree queries) and a digest of every batch's tensors, so the page can say whether
the two trees produce the same batches (floating tensors as float32: the model's view). With --workers N the loader
runs its N worker processes as in a training: then the CPU time per batch is the workers' (read from /proc, the
hand-over through shared memory included: what a training on one core pays besides its steps) and the main thread's
in `next()` is given beside it. Writes <out>.json and <out>.md.
"""
import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

from bench_common import REPO, alternate_trees, write_results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='projects/imagin4d/mini_fbm_sfie_lean.py')
    parser.add_argument('--old-tree', help='a worktree of the old commit (git worktree add DIR COMMIT)')
    parser.add_argument('--old-name', default='old', help='how the old tree is named in the results (its commit)')
    parser.add_argument('--batches', type=int, default=20, help='timed batches per run (after two untimed)')
    parser.add_argument('--rounds', type=int, default=2, help='runs per tree, alternating')
    parser.add_argument('--skip', type=int, default=2,
                        help='untimed batches first (more than an epoch, 50 mini-FBM batches: per-process memos warm, '
                             'as in most of a training)')
    parser.add_argument('--workers', type=int, default=0, help='loader worker processes (0: in this process)')
    parser.add_argument('--out', default='benchmarks/results/loader_worker_cpu')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)   # internal: one tree's run
    return parser.parse_args(argv)


def batch_digest(batch) -> str:
    """sha256 over the batch's input tensors (name, shape, bytes; floating ones as float32), in name order."""
    digest = hashlib.sha256()
    for name in sorted(batch['inputs']):
        for tensor in batch['inputs'][name]:
            if hasattr(tensor, 'numpy'):
                digest.update(f'{name}{tuple(tensor.shape)}'.encode())
                tensor = tensor.float() if tensor.is_floating_point() else tensor
                digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def child(args) -> dict:
    import copy
    import random

    sys.path.insert(0, args.child)
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import imagin4d  # noqa: F401  (registers the data set and transforms)
    import imagin4d.datasets.window_assembly as assembly
    from imagin4d.engine.runner_setup import load_config
    assert Path(imagin4d.__file__).resolve().is_relative_to(Path(args.child).resolve()), imagin4d.__file__
    init_default_scope('imagin4d')
    cfg = load_config(str(REPO / args.config))
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(num_workers=args.workers, persistent_workers=args.workers > 0)
    bps_seconds = [0.0]
    query = assembly.placed_object_bps

    def timed_bps(*a, **k):
        start = time.process_time()
        out = query(*a, **k)
        bps_seconds[0] += time.process_time() - start
        return out
    assembly.placed_object_bps = timed_bps
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    iterator = iter(Runner.build_dataloader(loader_cfg, seed=0))
    for _ in range(args.skip):
        next(iterator)
    workers = [w.pid for w in getattr(iterator, '_workers', [])]
    cpu, main, digests = [], [], []
    bps_seconds[0] = 0.0
    worker_start = sum(process_cpu_s(pid) for pid in workers)
    for _ in range(args.batches):
        start, thread_start = time.process_time(), time.thread_time()
        batch = next(iterator)
        cpu.append(time.process_time() - start)
        main.append(time.thread_time() - thread_start)
        digests.append(batch_digest(batch))
        if workers:
            time.sleep(0.05)                        # the consumer's step: the workers run ahead, as in a training
    if workers:                          # the workers' CPU per batch (ahead by the same prefetch at both ends)
        cpu = [(sum(process_cpu_s(pid) for pid in workers) - worker_start) / args.batches] * args.batches
    return dict(tree=args.child, batch_size=loader_cfg.batch_size, workers=args.workers, cpu_s=cpu, main_s=main,
                bps_s=bps_seconds[0], digests=digests)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (every thread), from /proc/PID/stat."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def main():
    args = parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    trees, runs, info = alternate_trees(__file__, args.old_tree, args.old_name, args.rounds,
                                        ['--config', args.config, '--batches', args.batches, '--skip', args.skip,
                                         '--workers', args.workers])
    summary = {}
    for name in trees:
        mine = [r for r in runs if r['name'] == name]
        summary[name] = dict(cpu_ms=1000 * statistics.median([t for r in mine for t in r['cpu_s']]),
                             main_ms=1000 * statistics.median([t for r in mine for t in r.get('main_s', [0.0])]),
                             bps_share=sum(r['bps_s'] for r in mine) / sum(sum(r['cpu_s']) for r in mine),
                             digests=mine[0]['digests'])
    same = len({tuple(s['digests']) for s in summary.values()}) == 1 and \
        all(r['digests'] == runs[0]['digests'] for r in runs)
    report = dict(machine=info, config=args.config, skip=args.skip, workers=args.workers, runs=runs, summary=summary,
                  same_batches=same)
    write_results(args.out, report, markdown(report))


def markdown(r: dict) -> str:
    m, names = r['machine'], list(r['summary'])
    lines = ['# Train loader worker: CPU time to produce one batch (issue 23)', '',
             f'Command: `{m["command"]}`  ',
             f'Machine: {m["cpu"]}, {m["logical_cores"]} logical cores, torch {m["torch"]}, commit '
             f'{m["git_commit"]}; load average {m["load_average_1_5_15"]} -> {m["load_average_at_end"]}.  ',
             f'Config `{r["config"]}` train loader, batch {r["runs"][0]["batch_size"]}, ' + (
                 f'{r["workers"]} worker process(es) in each run\'s own process (the trees alternate); the workers\' '
                 f'CPU time (hand-over included) over the batches after {r["skip"]} untimed ones, per batch; the main '
                 'thread\'s CPU time in `next()`, median.' if r.get('workers') else
                 'built without workers in each run\'s own process (the trees alternate); process CPU time of '
                 f'`next()` after {r.get("skip", 2)} untimed batches, median over every timed batch.'),
             '', '| code | CPU ms per batch | of it in the BPS queries | main thread ms in next() |',
             '|---|---|---|---|']
    for name in names:
        s = r['summary'][name]
        share = f'{s["bps_share"]:.0%}' if not r.get('workers') else '(in the worker)'
        lines.append(f'| {name} | {s["cpu_ms"]:.1f} | {share} | {s.get("main_ms", 0):.1f} |')
    if len(names) == 2:
        old, new = (r['summary'][n] for n in names)
        lines += ['', f'new / {names[0]}: {new["cpu_ms"] / old["cpu_ms"]:.2f}x.']
    lines += ['', 'Batches: ' + ('the same in every run of both trees (digest of every input tensor of each timed '
                                 'batch).' if r['same_batches'] else 'NOT the same in every run: see the digests '
                                 'in the JSON record.'), '']
    return '\n'.join(lines)


if __name__ == '__main__':
    main()

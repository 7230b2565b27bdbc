"""The main process's cost of receiving a train batch from a loader worker, per tensor-sharing strategy.

    IMAGIN4D_MINI_FBM_ROOT=data/mini_fbm_demo python benchmarks/loader_handover.py [--config C] [--batches 16]
        [--out benchmarks/results/loader_handover_cpu]

A training's data_time is the main thread waiting in `next(loader)`. With one worker that is always ahead (the
consumer sleeps between batches), what is left is the hand-over: the worker pickles the collated batch, each
tensor travels through shared memory, the main thread rebuilds them. Measured per strategy in its own process (the
strategy is process-wide; the runs alternate, twice each): the main thread's CPU time in `next()` (insensitive to
other jobs on the machine) and its wall time, the tensors per batch, and the pickled size of the data samples.
Writes <out>.json and <out>.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import REPO, command_line, machine_info

STRATEGIES = ('file_descriptor', 'file_system')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='projects/imagin4d/mini_fbm_sfie.py')
    parser.add_argument('--batches', type=int, default=16, help='timed batches per run (after one untimed)')
    parser.add_argument('--rounds', type=int, default=2, help='runs per strategy, alternating')
    parser.add_argument('--pause', type=float, default=0.8, help='seconds between batches (the worker gets ahead)')
    parser.add_argument('--out', default='benchmarks/results/loader_handover_cpu')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)   # internal: one strategy's run
    return parser.parse_args(argv)


def count_tensors(value) -> int:
    import torch
    if isinstance(value, torch.Tensor):
        return 1
    if isinstance(value, dict):
        return sum(count_tensors(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(count_tensors(v) for v in value)
    if hasattr(value, 'all_values'):                          # an mmengine data element
        return sum(count_tensors(v) for v in value.all_values())
    return 0


def child(args) -> dict:
    """One strategy: the config's train loader (its workers), `--batches` hand-overs timed."""
    import pickle

    import torch
    torch.set_num_threads(1)
    torch.multiprocessing.set_sharing_strategy(args.child)
    sys.path.insert(0, str(REPO))
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import imagin4d  # noqa: F401  (registers the data set and transforms)
    from imagin4d.engine.runner_setup import load_config
    init_default_scope('imagin4d')
    cfg = load_config(str(REPO / args.config))
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    iterator = iter(loader)
    batch = next(iterator)
    wall, cpu = [], []
    for _ in range(args.batches):
        time.sleep(args.pause)
        start, start_cpu = time.perf_counter(), time.thread_time()
        batch = next(iterator)
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return dict(strategy=args.child, num_workers=cfg.train_dataloader.num_workers,
                batch_size=cfg.train_dataloader.batch_size, tensors_per_batch=count_tensors(batch),
                data_samples_pickled_mb=round(len(pickle.dumps(batch['data_samples'])) / 2 ** 20, 2),
                cpu_s=cpu, wall_s=wall)


def main():
    args = parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    info = machine_info(command=command_line())
    runs = []
    for _ in range(args.rounds):
        for strategy in STRATEGIES:
            out = subprocess.run([sys.executable, __file__, '--child', strategy, '--config', args.config,
                                  '--batches', str(args.batches), '--pause', str(args.pause)], cwd=REPO, check=True,
                                 capture_output=True, text=True, env=dict(os.environ)).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
    info['load_average_at_end'] = [round(v, 2) for v in os.getloadavg()]
    summary = {}
    for strategy in STRATEGIES:
        mine = [r for r in runs if r['strategy'] == strategy]
        summary[strategy] = dict(cpu_ms=1000 * statistics.median([t for r in mine for t in r['cpu_s']]),
                                 wall_ms=1000 * statistics.median([t for r in mine for t in r['wall_s']]))
    report = dict(machine=info, config=args.config, runs=runs, summary=summary)
    out = Path(args.out if os.path.isabs(args.out) else REPO / args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(report, indent=1))
    out.with_suffix('.md').write_text(markdown(report))
    print(markdown(report))


def markdown(r: dict) -> str:
    m, first = r['machine'], r['runs'][0]
    base, new = (r['summary'][s] for s in STRATEGIES)
    lines = ['# Train loader hand-over: the main process receiving a batch from its worker (issue 23)', '',
             f'Command: `{m["command"]}`  ',
             f'Machine: {m["cpu"]}, {m["logical_cores"]} logical cores shared with other jobs, torch {m["torch"]}, '
             f'commit {m["git_commit"]}; load average {m["load_average_1_5_15"]} -> {m["load_average_at_end"]}.  ',
             f'Config `{r["config"]}` train loader: batch {first["batch_size"]}, {first["num_workers"]} worker(s), '
             f'{first["tensors_per_batch"]} tensors per batch, data samples {first["data_samples_pickled_mb"]} MB '
             'pickled. Strategies alternate, each in its own process; medians over every timed batch.', '',
             '| sharing strategy | main-thread CPU ms per batch | wall ms per batch |', '|---|---|---|']
    lines += [f'| {s} | {r["summary"][s]["cpu_ms"]:.1f} | {r["summary"][s]["wall_ms"]:.1f} |' for s in STRATEGIES]
    lines += ['', f'file_system / file_descriptor: CPU {new["cpu_ms"] / base["cpu_ms"]:.2f}x, wall '
                  f'{new["wall_ms"] / base["wall_ms"]:.2f}x. The wall time also holds waiting for the worker when the '
                  'machine is busy (file_descriptor asks the worker for every tensor\'s descriptor).', '']
    return '\n'.join(lines)


if __name__ == '__main__':
    main()

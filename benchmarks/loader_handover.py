"""The main process's cost of receiving a train batch from a loader worker: old code against new, in turns.

    IMAGIN4D_MINI_FBM_ROOT=data/mini_fbm_demo python benchmarks/loader_handover.py --old-tree /tmp/imagin4d_base
        [--old-name d308821] [--config C] [--batches 16] [--strategy file_system]
        [--out benchmarks/results/loader_handover_cpu]

A training's data_time is the main thread waiting in `next(loader)`. With one worker that is always ahead (the
consumer sleeps between batches), what is left is the hand-over: the worker pickles the collated batch, each
storage travels through shared memory, the main thread rebuilds them. Each run is one process (the sharing
strategy is process-wide) importing imagin4d from one tree (the old worktree or this checkout, the data and config
read from this checkout); the trees alternate, `--rounds` each. Measured: the main thread's CPU time in `next()`
(insensitive to other jobs on the machine) and its wall time, the tensors and distinct storages per batch, the
bytes through the pipe (the batch as the loader pickles it) and the data samples' size under a plain `pickle`.
Writes <out>.json and <out>.md. Without --old-tree only this checkout is measured.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench_common import REPO, alternate_trees, write_results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='projects/imagin4d/mini_fbm_sfie.py')
    parser.add_argument('--old-tree', help='a worktree of the old commit (git worktree add DIR COMMIT)')
    parser.add_argument('--old-name', default='old', help='how the old tree is named in the results (its commit)')
    parser.add_argument('--strategy', default='file_system', choices=('file_system', 'file_descriptor'),
                        help="torch's tensor-sharing strategy (the CPU runtime set-up chooses file_system)")
    parser.add_argument('--batches', type=int, default=16, help='timed batches per run (after one untimed)')
    parser.add_argument('--rounds', type=int, default=2, help='runs per tree, alternating')
    parser.add_argument('--pause', type=float, default=0.8, help='seconds between batches (the worker gets ahead)')
    parser.add_argument('--out', default='benchmarks/results/loader_handover_cpu')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)   # internal: one tree's run
    return parser.parse_args(argv)


def count_tensors(value, storages=None) -> int:
    """Tensors in a batch (a tensor held twice counts twice); adds their storages' addresses to `storages`."""
    import torch
    if isinstance(value, torch.Tensor):
        if storages is not None:
            storages.add(value.untyped_storage().data_ptr())
        return 1
    if isinstance(value, dict):
        return sum(count_tensors(v, storages) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(count_tensors(v, storages) for v in value)
    if hasattr(value, 'all_values'):                          # an mmengine data element
        return sum(count_tensors(v, storages) for v in value.all_values())
    return 0


def child(args) -> dict:
    """One tree: the config's train loader (its workers), `--batches` hand-overs timed."""
    import pickle
    from multiprocessing.reduction import ForkingPickler

    sys.path.insert(0, args.child)
    import torch
    torch.set_num_threads(1)
    torch.multiprocessing.set_sharing_strategy(args.strategy)
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import imagin4d  # noqa: F401  (registers the data set and transforms)
    from imagin4d.engine.runner_setup import load_config
    assert Path(imagin4d.__file__).resolve().is_relative_to(Path(args.child).resolve()), imagin4d.__file__
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
    storages = set()
    tensors = count_tensors(batch, storages)
    for sample in batch['data_samples']:                      # pickle as the worker does (new code: views kept)
        getattr(sample, 'keep_views_once', lambda: None)()
    return dict(tree=args.child, strategy=args.strategy, num_workers=cfg.train_dataloader.num_workers,
                batch_size=cfg.train_dataloader.batch_size, tensors_per_batch=tensors,
                storages_per_batch=len(storages), pipe_kb=round(len(ForkingPickler.dumps(batch)) / 2 ** 10, 1),
                data_samples_pickled_mb=round(len(pickle.dumps(batch['data_samples'])) / 2 ** 20, 2),
                cpu_s=cpu, wall_s=wall)


def main():
    args = parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    trees, runs, info = alternate_trees(__file__, args.old_tree, args.old_name, args.rounds,
                                        ['--config', args.config, '--strategy', args.strategy, '--batches',
                                         args.batches, '--pause', args.pause])
    summary = {}
    for name in trees:
        mine = [r for r in runs if r['name'] == name]
        summary[name] = dict(cpu_ms=1000 * statistics.median([t for r in mine for t in r['cpu_s']]),
                             wall_ms=1000 * statistics.median([t for r in mine for t in r['wall_s']]),
                             **{k: mine[0][k] for k in ('tensors_per_batch', 'storages_per_batch', 'pipe_kb',
                                                        'data_samples_pickled_mb')})
    report = dict(machine=info, config=args.config, strategy=args.strategy, runs=runs, summary=summary)
    write_results(args.out, report, markdown(report))


def markdown(r: dict) -> str:
    m, first, names = r['machine'], r['runs'][0], list(r['summary'])
    lines = ['# Train loader hand-over: the main process receiving a batch from its worker (issue 23)', '',
             f'Command: `{m["command"]}`  ',
             f'Machine: {m["cpu"]}, {m["logical_cores"]} logical cores shared with other jobs, torch {m["torch"]}, '
             f'commit {m["git_commit"]}; load average {m["load_average_1_5_15"]} -> {m["load_average_at_end"]}.  ',
             f'Config `{r["config"]}` train loader: batch {first["batch_size"]}, {first["num_workers"]} worker(s), '
             f'sharing strategy {r["strategy"]}. The trees alternate, each run in its own process; medians over every '
             'timed batch.', '',
             '| code | main-thread CPU ms per batch | wall ms per batch | tensors | storages | pipe KB | '
             'data samples, plain pickle MB |', '|---|---|---|---|---|---|---|']
    for name in names:
        s = r['summary'][name]
        lines.append(f'| {name} | {s["cpu_ms"]:.1f} | {s["wall_ms"]:.1f} | {s["tensors_per_batch"]} | '
                     f'{s["storages_per_batch"]} | {s["pipe_kb"]} | {s["data_samples_pickled_mb"]} |')
    if len(names) == 2:
        old, new = (r['summary'][n] for n in names)
        lines += ['', f'new / {names[0]}: CPU {new["cpu_ms"] / old["cpu_ms"]:.2f}x, wall '
                      f'{new["wall_ms"] / old["wall_ms"]:.2f}x.']
    lines += ['', 'The wall time also holds waiting for the worker when the machine is busy. "storages": distinct '
                  'shared-memory blocks the main thread maps; "pipe KB": the batch as the loader pickles it (tensors '
                  'travel as handles); a plain `pickle` writes every tensor\'s whole storage.', '']
    return '\n'.join(lines)


if __name__ == '__main__':
    main()

"""The retraining check of the lean image cues (issue 23): is the new full model's benchmark run within the seed
spread of today's full model?

    python benchmarks/training_step_rerun.py [--runs benchmarks/results/mini_fbm_runs/iters2000_steps20]
        [--new-runs benchmarks/results/lean_mini_fbm_runs/iters2000_steps20]
        [--new sfie_lean] [--old sfie] [--floor no_image] [--control sfie no_image]
        [--out benchmarks/results/training_step_rerun.md]

Reads the benchmark's archived runs (`ARCHIVE/iters<N>_steps<S>/<variant>/seed<k>.json`, written by
tools/analysis/run_benchmark.py; the lean runs have their own archive, since the benchmark's holds the runs of one
scoring protocol: `run_benchmark.py --variants sfie_lean --archive benchmarks/results/lean_mini_fbm_runs
--evaluator-ckpt benchmarks/results/mini_fbm_runs/evaluator/text_motion_evaluator.pth`) and, per headline metric,
puts the new variant's runs beside the old full model's (mean ± std over its seeds) and the no-image model's.
Verdict per metric: `within` when |mean_new - mean_old| <= std_old + std_new (`claims.within_spread`), where a single
new run borrows the old spread as its own (one seed has none); otherwise `better` / `WORSE` in the metric's
direction.

--control VARIANT[=ARCHIVED] ...: runs of UNCHANGED variants retrained beside the new ones (in the new archive, e.g. the
full and the no-image model on the machine, data build and code of the new runs), each compared with its own archived
runs (or those of ARCHIVED: `no_image_bf16=no_image`) the same way: a control outside its spread says the machine,
the build or the code around the model moved the numbers, not the new variant.

Runs are compared under one scoring protocol (`imagin4d.engine.benchmark.archive`: CHOIS's floor, joints and object
rotation choices; runs archived before protocols were recorded scored with `LEGACY_PROTOCOL`). A new run scored
under another protocol than the old runs is scored again under theirs: its archived `tools/test.py` command is
repeated on its checkpoint with the old protocol's options (cached in
`benchmarks/results/training_step_rerun/<variant>_seed<k>.json`, so a second call runs nothing).
"""
import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from bench_common import REPO

sys.path.insert(0, str(REPO))
from imagin4d.engine.benchmark.archive import (  # noqa: E402
    archived_protocol,
    protocol_cfg_options,
    protocol_groups,
)
from imagin4d.engine.benchmark.claims import within_spread  # noqa: E402

RESCORED = REPO / 'benchmarks' / 'results' / 'training_step_rerun'

#: Headline metrics of the benchmark's tables and whether higher is better.
METRICS = {'ia_success': True, 'ia_pose_err': False, 'ia_obj_pos_err': False, 'ia_contact_both': True,
           'ia_layout': True, 'factor_accuracy': True, 'mirror_consistency': True, 'waypoint_xy_err': False,
           'contact_f1': True, 'foot_sliding': False, 'hand_penetration': False, 'hand_jpe': False,
           'mpjpe': False, 'obj_trans_err': False, 'fid': False, 'r_precision_top1': True}


def load_runs(folder: Path) -> list:
    """Every archived seed of one variant (sorted by seed): {seed, protocol, record, metrics}."""
    files = sorted(folder.glob('seed*.json'))
    if not files:
        raise FileNotFoundError(f'{folder}: no archived runs (seed*.json); run tools/analysis/run_benchmark.py first')
    runs = []
    for f in files:
        record = json.loads(f.read_text())
        runs.append(dict(seed=record['seed'], protocol=archived_protocol(record), record=record,
                         metrics=record['metrics']))
    return runs


def one_protocol(runs: list, what: str) -> dict:
    groups = protocol_groups([r['record'] for r in runs])
    if len(groups) != 1:
        raise ValueError(f'{what}: archived runs scored under different protocols {sorted(groups)}; '
                         'compare runs of one protocol')
    return runs[0]['protocol']


def rescore(run: dict, protocol: dict, variant: str, work_dir: Path, rescored: Path = RESCORED) -> dict:
    """The run's metrics under `protocol`: its archived test command again, with the protocol's options. Cached in
    `rescored/<variant>_seed<k>_<commit>.json` (the run's commit: two checks of the same variant and seed at other
    commits keep their own); a cache named without the commit (written before) is read when its commit matches."""
    commit = run['record']['commit']
    cache = rescored / f'{variant}_seed{run["seed"]}_{commit[:12]}.json'
    for path in (cache, rescored / f'{variant}_seed{run["seed"]}.json'):
        if path.exists():
            cached = json.loads(path.read_text())
            if cached['protocol'] == protocol and cached['checkpoint_run'] == commit:
                return cached['metrics']
    tests = [c['command'] for c in run['record']['commands'] if c['command'].startswith('tools/test.py')]
    if not tests:
        raise ValueError(f'{variant} seed {run["seed"]}: the archived run has no tools/test.py command to repeat')
    argv = shlex.split(tests[-1])
    config, checkpoint = argv[1], argv[2]
    if not (REPO / checkpoint).exists():
        raise FileNotFoundError(f'{checkpoint}: checkpoint of {variant} seed {run["seed"]} needed to score it under '
                                f'the old runs\' protocol {protocol}')
    out = work_dir / variant / f'seed{run["seed"]}' / 'test_metrics.json'
    for flag, value in (('--work-dir', out.parent), ('--out', out)):
        argv[argv.index(flag) + 1] = str(value)
    argv += protocol_cfg_options(config, protocol)
    print('+', shlex.join(argv), flush=True)
    subprocess.run([sys.executable] + argv, cwd=REPO, check=True)
    metrics = json.loads(out.read_text())
    rescored.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(dict(variant=variant, seed=run['seed'], protocol=protocol,
                                     checkpoint_run=commit, command=shlex.join(argv),
                                     metrics=metrics), indent=1) + '\n')
    return metrics


def stats(runs: list, metric: str):
    values = [float(r['metrics'][metric]) for r in runs if r['metrics'].get(metric) is not None]
    if not values:
        return None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


def compare(new: list, old: list, floor: list) -> list:
    """One row per metric: {metric, new, old, floor (mean, std, n), verdict}."""
    rows = []
    for metric, higher in METRICS.items():
        a, b, c = stats(new, metric), stats(old, metric), stats(floor, metric)
        if a is None or b is None:
            continue
        borrowed = (a[0], a[1] if a[2] > 1 else b[1], max(a[2], 2))
        if within_spread(borrowed, b):
            verdict = 'within'
        else:
            verdict = 'better' if (a[0] > b[0]) == higher else 'WORSE'
        rows.append(dict(metric=metric, new=a, old=b, floor=c, verdict=verdict))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', default=str(REPO / 'benchmarks' / 'results' / 'mini_fbm_runs' / 'iters2000_steps20'))
    parser.add_argument('--new-runs', default=str(REPO / 'benchmarks' / 'results' / 'lean_mini_fbm_runs'
                                                  / 'iters2000_steps20'), help='archive of the new variant\'s runs')
    parser.add_argument('--new', default='sfie_lean')
    parser.add_argument('--old', default='sfie')
    parser.add_argument('--floor', default='no_image')
    parser.add_argument('--control', nargs='*', default=[], metavar='VARIANT[=ARCHIVED]',
                        help='variants retrained into the new archive, each compared with its archived runs (of '
                             'ARCHIVED when given: no_image_bf16=no_image)')
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results' / 'training_step_rerun.md'))
    parser.add_argument('--rescore-dir', default=str(REPO / 'work_dirs' / 'training_step_rerun'),
                        help='work dir of the tests that score a new run under the old runs\' protocol')
    parser.add_argument('--rescored', default=str(RESCORED), help='their metrics (kept: a second call runs nothing)')
    args = parser.parse_args(argv)
    command = sys.argv[1:] if argv is None else argv
    runs = Path(args.runs)
    new = load_runs(Path(args.new_runs) / args.new)
    old, floor = (load_runs(runs / v) for v in (args.old, args.floor))
    protocol = one_protocol(old + floor, f'{args.old} and {args.floor}')
    archived_name = dict(c.split('=', 1) if '=' in c else (c, c) for c in args.control)
    controls = {name: load_runs(Path(args.new_runs) / name) for name in archived_name}
    groups = ((args.new, new), *controls.items())
    rescored = [f'{name} seed {r["seed"]}' for name, group in groups for r in group if r['protocol'] != protocol]
    for name, group in groups:
        for run in group:
            if run['protocol'] != protocol:
                # the test's metrics rescored; those of the mirrored test (not scored by this protocol) as archived
                run['metrics'] = {**run['metrics'], **rescore(run, protocol, name, Path(args.rescore_dir),
                                                              Path(args.rescored))}
    rows = compare(new, old, floor)
    archived = {args.old: old, args.floor: floor}
    checks = {}
    for name, group in controls.items():
        own_name = archived_name[name]
        own = archived[own_name] if own_name in archived else load_runs(runs / own_name)
        checks[name] = {r['metric']: r for r in compare(group, own, floor)}

    def shown(path: Path):
        return path.relative_to(REPO) if path.is_relative_to(REPO) else path

    def fmt(s):
        return '-' if s is None else f'{s[0]:.4g} ± {s[1]:.2g} ({s[2]})'
    lines = [f'# Retraining check: {args.new} against {args.old} (issue 23)', '',
             f'Command: `{shlex.join(["python", "benchmarks/training_step_rerun.py", *map(str, command)])}`  ',
             'Runs: ' + '; '.join(f'{name} seed {r["seed"]} at {r["record"].get("commit", "?")[:12]}'
                                  for name, group in ((args.new, new), (args.old, old), (args.floor, floor),
                                                      *((f'{c} (control)', g) for c, g in controls.items()))
                                  for r in group), '',
             f'Archived benchmark runs in `{shown(runs)}` ({args.new}: `{shown(Path(args.new_runs))}`); '
             f'{args.new} seeds {[r["seed"] for r in new]}, {args.old} seeds {[r["seed"] for r in old]}, '
             f'{args.floor} seeds {[r["seed"] for r in floor]}. Verdict: within = |mean gap| <= the two seed spreads '
             'together (a single run borrows the old spread).',
             f'All scored under one protocol: {protocol}'
             + (f' ({", ".join(rescored)} scored again under it from their checkpoints: '
                f'`{Path(args.rescored).name}/`).' if rescored else '.'), '']
    columns = ['metric', args.new, args.old, args.floor, 'verdict']
    if controls:
        against = ', '.join(c if archived_name[c] == c else f'{c} (against {archived_name[c]})' for c in controls)
        lines += [f'Controls: {against} retrained beside the new runs (`{shown(Path(args.new_runs))}`), '
                  'each against its own archived runs, same verdict rule.', '']
        columns += [cell for c in controls for cell in (f'{c} (control)', 'verdict')]
    lines += ['| ' + ' | '.join(columns) + ' |', '|---' * len(columns) + '|']

    def row(r):
        cells = f'| {r["metric"]} | {fmt(r["new"])} | {fmt(r["old"])} | {fmt(r["floor"])} | {r["verdict"]} |'
        for name in controls:
            check = checks[name].get(r['metric'])
            cells += f' {fmt(check["new"])} | {check["verdict"]} |' if check else ' - | - |'
        return cells
    lines += [row(r) for r in rows]
    worse = [r['metric'] for r in rows if r['verdict'] == 'WORSE']
    lines += ['', f'{len(rows) - len(worse)} of {len(rows)} metrics within the spread or better'
              + (f'; worse: {", ".join(worse)}.' if worse else '.')]
    for name, rows_of in checks.items():
        off = [f'{m} ({r["verdict"]})' for m, r in rows_of.items() if r['verdict'] != 'within']
        lines += [f'Control: {len(rows_of) - len(off)} of {len(rows_of)} metrics of {name} within its archived '
                  'spread' + (f'; outside: {", ".join(off)}.' if off else '.')]
    Path(args.out).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'training_step_rerun: {err}')

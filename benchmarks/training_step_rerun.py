"""The retraining check of the lean image cues (issue 23): is the new full model's benchmark run within the seed
spread of today's full model?

    python benchmarks/training_step_rerun.py [--runs benchmarks/results/mini_fbm_runs/iters2000_steps20]
        [--new sfie_lean] [--old sfie] [--floor no_image] [--out benchmarks/results/training_step_rerun.md]

Reads the benchmark's archived runs (`ARCHIVE/iters<N>_steps<S>/<variant>/seed<k>.json`, written by
tools/analysis/run_benchmark.py) and, per headline metric, puts the new variant's runs beside the old full model's
(mean ± std over its seeds) and the no-image model's. Verdict per metric: `within` when |mean_new - mean_old| <=
std_old + std_new (`claims.within_spread`), where a single new run borrows the old spread as its own (one seed
has none); otherwise `better` / `WORSE` in the metric's direction.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

from bench_common import REPO

sys.path.insert(0, str(REPO))
from imagin4d.engine.benchmark.claims import within_spread  # noqa: E402

#: Headline metrics of the benchmark's tables and whether higher is better.
METRICS = {'ia_success': True, 'ia_pose_err': False, 'ia_obj_pos_err': False, 'ia_contact_both': True,
           'ia_layout': True, 'factor_accuracy': True, 'mirror_consistency': True, 'waypoint_xy_err': False,
           'contact_f1': True, 'foot_sliding': False, 'hand_penetration': False, 'hand_jpe': False,
           'mpjpe': False, 'obj_trans_err': False, 'fid': False, 'r_precision_top1': True}


def load_runs(folder: Path) -> list:
    """The metrics of every archived seed of one variant (sorted by seed)."""
    files = sorted(folder.glob('seed*.json'))
    if not files:
        raise FileNotFoundError(f'{folder}: no archived runs (seed*.json); run tools/analysis/run_benchmark.py first')
    return [dict(seed=json.loads(f.read_text())['seed'], **json.loads(f.read_text())['metrics']) for f in files]


def stats(runs: list, metric: str):
    values = [float(r[metric]) for r in runs if r.get(metric) is not None]
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
    parser.add_argument('--new', default='sfie_lean')
    parser.add_argument('--old', default='sfie')
    parser.add_argument('--floor', default='no_image')
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results' / 'training_step_rerun.md'))
    args = parser.parse_args(argv)
    runs = Path(args.runs)
    new, old, floor = (load_runs(runs / v) for v in (args.new, args.old, args.floor))
    rows = compare(new, old, floor)

    def fmt(s):
        return '-' if s is None else f'{s[0]:.4g} ± {s[1]:.2g} ({s[2]})'
    lines = [f'# Retraining check: {args.new} against {args.old} (issue 23)', '',
             f'Archived benchmark runs in `{runs.relative_to(REPO) if runs.is_relative_to(REPO) else runs}`; '
             f'{args.new} seeds {[r["seed"] for r in new]}, {args.old} seeds {[r["seed"] for r in old]}, '
             f'{args.floor} seeds {[r["seed"] for r in floor]}. Verdict: within = |mean gap| <= the two seed spreads '
             'together (a single run borrows the old spread).', '',
             f'| metric | {args.new} | {args.old} | {args.floor} | verdict |', '|---|---|---|---|---|']
    lines += [f'| {r["metric"]} | {fmt(r["new"])} | {fmt(r["old"])} | {fmt(r["floor"])} | {r["verdict"]} |'
              for r in rows]
    worse = [r['metric'] for r in rows if r['verdict'] == 'WORSE']
    lines += ['', f'{len(rows) - len(worse)} of {len(rows)} metrics within the spread or better'
              + (f'; worse: {", ".join(worse)}.' if worse else '.')]
    Path(args.out).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()

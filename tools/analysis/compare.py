"""Collect several evaluation results (tools/test.py --out JSON files) into one table, one row per config.

    python tools/analysis/compare.py RUN.json [RUN.json ...] [--names A B ...] [--metrics hand_jpe ia_success ...]
        [--out docs/results.md] [--group-by-name]

A run's name is --names, else the JSON's parent folder. With --group-by-name, runs that share a name (e.g. several
seeds of one config: work_dirs/<config>/seed<k>/metrics.json named by the config) are reduced to mean ± standard
deviation with the seed count. Writes Markdown (and CSV next to it) in the format of the results tables in docs/.
"""
import argparse
import csv
import json
import math
import os.path as osp
import statistics
import sys
from collections import OrderedDict


def load_run(path: str) -> dict:
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, list):
        raise SystemExit(f'{path} holds a sweep (a list of settings); compare takes single-setting results')
    return {k: v for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def summarise(values):
    """(mean, std, n) of the finite values; std 0 for one value."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None, 0
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0), len(vals)


def fmt(mean, std, n) -> str:
    if mean is None:
        return '–'
    # three decimals, or three significant digits below 0.1 (a penetration of 0.0021 m must not read 0.002 everywhere)
    if abs(mean) >= 100:
        digits = 1
    elif abs(mean) >= 0.1 or mean == 0:
        digits = 3
    else:
        digits = min(6, 2 - math.floor(math.log10(abs(mean))))
    return f'{mean:.{digits}f}' if n <= 1 else f'{mean:.{digits}f} ± {std:.{digits}f}'


def build_table(runs, metrics=None, group=False):
    """runs: [(name, {metric: value})] -> (header, rows of strings, rows of numbers)."""
    groups = OrderedDict()
    for name, values in runs:
        key = name if group else f'{name}#{len(groups)}'
        groups.setdefault(key, (name, []))[1].append(values)
    if metrics is None:
        metrics = []
        for _, values in runs:
            metrics += [k for k in values if k not in metrics]
    header = ['config', 'runs'] + list(metrics)
    text_rows, num_rows = [], []
    for name, members in groups.values():
        text, nums = [name, str(len(members))], {'config': name, 'runs': len(members)}
        for m in metrics:
            mean, std, n = summarise([v.get(m) for v in members])
            text.append(fmt(mean, std, n))
            nums[m], nums[f'{m}_std'] = mean, std
        text_rows.append(text)
        num_rows.append(nums)
    return header, text_rows, num_rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', help='metrics JSON files written by tools/test.py --out')
    parser.add_argument('--names', nargs='*', help='row names (default: each file\'s folder name)')
    parser.add_argument('--metrics', nargs='*', help='columns, in order (default: every metric found)')
    parser.add_argument('--group-by-name', action='store_true', help='mean ± std over runs with the same name')
    parser.add_argument('--out', help='Markdown file to write (CSV next to it); default: print only')
    args = parser.parse_args(argv)
    if args.names and len(args.names) != len(args.runs):
        parser.error(f'{len(args.names)} names for {len(args.runs)} runs')
    for path in args.runs:
        if not osp.isfile(path):
            parser.error(f'no results file {path}')
    names = args.names or [osp.basename(osp.dirname(osp.abspath(p))) for p in args.runs]
    runs = [(n, load_run(p)) for n, p in zip(names, args.runs)]
    header, rows, nums = build_table(runs, args.metrics, args.group_by_name)
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)] + ['| ' + ' | '.join(r) + ' |' for r in rows]
    print('\n'.join(lines))
    if args.out:
        with open(args.out, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        with open(osp.splitext(args.out)[0] + '.csv', 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(nums[0]))
            writer.writeheader()
            writer.writerows(nums)
        print(f'written: {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()

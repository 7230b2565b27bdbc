"""Step time and data time of real trainings, read from their MMEngine logs (issue 23).

    python benchmarks/training_log.py WORK_DIR [WORK_DIR ...] [--early 100] [--late 1500] [--halfwidth 50]
        [--load-log FILE] [--tag NAME] [--out-dir benchmarks/results]

WORK_DIR is one training's work dir (e.g. `work_dirs/sampling_study/no_image/seed2`); a training resumed across
sessions has one `<timestamp>/<timestamp>.log` per segment, read in order (a later segment's line for an iteration
replaces an earlier one; the first logged line after each start is left out: it carries the start-up). Each logged
line holds MMEngine's running means of the last iterations: `time` (the whole iteration) and `data_time` (waiting for
the loader). The page reports, per run, the median `time` in a window around iteration `--early` and around `--late`
(the issue's check: the late step within 10% of the early one, i.e. no slowdown as the model learns) and the
`data_time` share of the step (the issue's goal: under 5%). On a shared machine a step's time moves with the load:
`--load-log` reads a file of `<unix time> <1-min> <5-min> <15-min>` lines (e.g. written every 20 s by
`while true; do echo "$(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 20; done`) and gives the median 1-minute
load beside each window, so a ratio is only read where the loads agree.
Writes <out-dir>/training_log_<tag>.{json,md}.
"""
import argparse
import bisect
import glob
import os
import re
import statistics
from datetime import datetime, timezone
from pathlib import Path

from bench_common import REPO, command_line, machine_info, write_results

LINE = re.compile(r'^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) - mmengine - INFO - Iter\(train\) \[\s*(\d+)/(\d+)\].*?'
                  r'\btime: ([0-9.]+)\s+data_time: ([0-9.]+)')


def read_log(work_dir: str) -> dict:
    """iteration -> {time, data_time, stamp (unix s), segment} over every segment of a (resumed) training."""
    logs = sorted(glob.glob(os.path.join(work_dir, '[0-9]*_[0-9]*', '[0-9]*_[0-9]*.log')))
    if not logs:
        raise FileNotFoundError(f'{work_dir}: no <timestamp>/<timestamp>.log of an MMEngine training')
    rows = {}
    for segment, log in enumerate(logs):
        first = True
        with open(log) as f:
            for line in f:
                match = LINE.match(line)
                if not match:
                    continue
                if first:  # the first logged line after a (re)start carries the start-up
                    first = False
                    continue
                stamp = datetime.strptime(match[1], '%Y/%m/%d %H:%M:%S').replace(tzinfo=timezone.utc).timestamp()
                rows[int(match[2])] = dict(time=float(match[4]), data_time=float(match[5]), stamp=stamp,
                                           segment=segment)
    return rows


def read_load(path: str):
    """Sorted (unix times, 1-min loads) of a load log."""
    samples = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            try:
                samples.append((float(parts[0]), float(parts[1])))
            except (IndexError, ValueError):
                raise ValueError(f'{path}: line {n}: expected "<unix time> <1-min load> ...", got {line.strip()!r}')
    samples.sort()
    return [s[0] for s in samples], [s[1] for s in samples]


def load_at(load, stamp: float):
    """The 1-minute load sampled nearest before `stamp` (within 2 minutes), or None."""
    if load is None:
        return None
    times, values = load
    i = bisect.bisect_right(times, stamp) - 1
    return values[i] if i >= 0 and stamp - times[i] <= 120 else None


def window(rows: dict, centre: int, halfwidth: int, load) -> dict:
    picked = [rows[i] for i in sorted(rows) if abs(i - centre) <= halfwidth]
    if not picked:
        return dict(lines=0)
    loads = [v for v in (load_at(load, r['stamp']) for r in picked) if v is not None]
    return dict(lines=len(picked), time=statistics.median(r['time'] for r in picked),
                data_share=statistics.median(r['data_time'] / r['time'] for r in picked),
                load=statistics.median(loads) if loads else None, segments=sorted({r['segment'] for r in picked}))


def summarise(work_dir: str, early: int, late: int, halfwidth: int, load) -> dict:
    rows = read_log(work_dir)
    share = statistics.median(r['data_time'] / r['time'] for r in rows.values())
    path = Path(work_dir).resolve()
    out = dict(run=str(path.relative_to(REPO) if path.is_relative_to(REPO) else work_dir), lines=len(rows),
               iterations=[min(rows), max(rows)] if rows else None, data_share_all=share,
               early=window(rows, early, halfwidth, load), late=window(rows, late, halfwidth, load))
    if out['early'].get('time') and out['late'].get('time'):
        out['late_over_early'] = out['late']['time'] / out['early']['time']
    return out


def _cell(w: dict, key: str, fmt: str) -> str:
    value = w.get(key)
    return '' if value is None else format(value, fmt)


def page(results: list, args, info: dict) -> str:
    lines = ['# Step time and data time of real trainings, from their logs (issue 23)', '',
             f'Command: `{command_line()}`  ',
             f'Machine: {info["cpu"]}, {info["logical_cores"]} logical cores; commit {info["git_commit"]}; '
             f'written {datetime.now(timezone.utc).isoformat(timespec="seconds")}.', '',
             f'Windows: iterations {args.early} ± {args.halfwidth} (early) and {args.late} ± {args.halfwidth} (late); '
             'each logged line is MMEngine\'s mean over the last iterations. Goals: late / early within 1.10 '
             '(no slowdown as the model learns), data_time under 5% of the step.', '',
             '| run | iterations | early s/it | early load | late s/it | late load | late / early | data_time share '
             '(early, late, all) |', '|---|---|---|---|---|---|---|---|']
    for r in results:
        e, la = r['early'], r['late']
        its = f'{r["iterations"][0]}-{r["iterations"][1]}' if r['iterations'] else ''
        ratio = f'{r["late_over_early"]:.2f}' if 'late_over_early' in r else ''
        shares = ', '.join(_cell(w, 'data_share', '.1%') or '-' for w in (e, la)) + f', {r["data_share_all"]:.1%}'
        lines.append(f'| {r["run"]} | {its} | {_cell(e, "time", ".3f")} | {_cell(e, "load", ".1f")} | '
                     f'{_cell(la, "time", ".3f")} | {_cell(la, "load", ".1f")} | {ratio} | {shares} |')
    lines += ['', 'A ratio is a statement about the model only where the two windows ran at about the same load '
              '(2 cores: a load above 2 means the training shared its core).', '']
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--early', type=int, default=100)
    parser.add_argument('--late', type=int, default=1500)
    parser.add_argument('--halfwidth', type=int, default=50)
    parser.add_argument('--load-log')
    parser.add_argument('--tag', default='cpu')
    parser.add_argument('--out-dir', default=str(REPO / 'benchmarks' / 'results'))
    args = parser.parse_args()
    load = read_load(args.load_log) if args.load_log else None
    results = [summarise(d, args.early, args.late, args.halfwidth, load) for d in args.work_dirs]
    info = machine_info()
    out = Path(args.out_dir).resolve() / f'training_log_{args.tag}'
    write_results(str(out), dict(command=command_line(), machine=info, runs=results), page(results, args, info))


if __name__ == '__main__':
    main()

"""The benchmark's results page: one comparison table per group of metrics (tools/analysis/compare.py, mean ± std
over seeds), the run time and provenance lines, the claims with their verdicts, the notes and every command."""
import csv
import math
import os
import os.path as osp
import platform
import time
from collections import Counter

from .archive import archive_provenance, cpu_name, evaluator_label
from .claims import chance_levels, claim_lines
from .runner import FACTORS, Runner

DISTRIBUTION_COLUMNS = ('fid', 'r_precision_top1', 'r_precision_top3', 'matching_score', 'diversity')
# The results page's tables: (title, columns); every column is a key of the merged per-run metrics.
TABLES = (
    ('Image adherence at the depicted frame t* (success: all cues within threshold; _best: best frame within ±15; '
     'errors in m and degrees, reprojection in px; ia_frame_err: |t^ - t*| of SFIE\'s predicted frame in frames, '
     '– without SFIE or for runs measured before it was scored)',
     ('ia_success', 'ia_success_best', 'ia_pose_err', 'ia_obj_pos_err', 'ia_obj_rot_err', 'ia_contact_both',
      'ia_layout', 'ia_reproj_px', 'ia_iou_body', 'ia_iou_object', 'ia_frame_err', 'ia_frame_within5')),
    ('Hidden factors (not in the text) recovered from the generation, and the mirrored-reference test',
     ('factor_accuracy', *FACTORS, 'mirror_contact_side_flip_rate', 'mirror_layout_flip_rate',
      'mirror_consistency')),
    ('Control and physical plausibility (CHOIS protocol; errors in mm, foot sliding in mm/frame, penetration in m)',
     ('waypoint_start_err', 'waypoint_end_err', 'waypoint_xy_err', 'contact_f1', 'foot_sliding', 'hand_penetration',
      'hand_jpe', 'mpjpe', 'obj_trans_err')),
    ('Distribution (text-motion evaluator trained on mini-FBM; FID lower is better)', DISTRIBUTION_COLUMNS),
)


def write_page(run: Runner, args, tasks, results, missing) -> None:
    """Write the results page of the finished `tasks` (their merged metrics files `results`) to `args.out`;
    `missing`: the runs a --collect did not find, listed on the page."""
    names = [variant for variant, _ in tasks]
    labels = [evaluator_label(args, *task) for task in tasks]
    reference = Counter(label for label in labels if label).most_common(1)[0][0] if any(labels) else None
    one_evaluator = [i for i, label in enumerate(labels) if label == reference] if reference else range(len(tasks))
    tables, started = [], time.time()
    for i, (title, columns) in enumerate(TABLES):
        table = osp.join(args.work_dir, f'table{i + 1}.md')
        rows = one_evaluator if columns == DISTRIBUTION_COLUMNS else range(len(tasks))
        run('tools/analysis/compare.py', *[results[k] for k in rows], '--names', *[names[k] for k in rows],
            '--group-by-name', '--metrics', *columns, '--out', table)
        tables.append((title, table))
    summary = read_summary([osp.splitext(t)[0] + '.csv' for _, t in tables])
    # every command that produced these results (earlier invocations included); compare.py only from this one
    records = [r for r in run.records() if 'compare.py' not in r['command'] or r['start'] >= started]
    work = [r for r in records if 'compare.py' not in r['command']]
    span = work or records   # the table commands run at collection time: counting them would stretch the wall time
    wall = busy_time([(r['start'], r['start'] + r['seconds']) for r in span])
    busy = sum(r['seconds'] for r in work)
    lines = [f'# mini-FBM benchmark ({"smoke run" if args.smoke else "full run"})', '',
             f'Page written on: {cpu_name()}, {os.cpu_count()} logical cores, '
             f'{platform.platform()}; wall time {wall / 60:.1f} min (while at least one run command was running), '
             f'{busy / 60:.1f} min of tool run time in all'
             + ('.  ' if args.collect else f' ({args.jobs} chain(s) at a time).  '),
             f'Budget: {args.iters} training iterations per variant (batch and schedule of '
             '`_base_/schedules/cpu_mini.py`' + ('; trained in bf16 autocast, `--amp`' if getattr(args, 'amp', False)
                                                 else '') + '), seeds ' + ', '.join(map(str, args.seeds)) +
             f', DDIM {args.num_steps} steps; test split of {args.data_root}. Mean ± standard deviation over seeds '
             '(`runs` = seeds).']
    lines += archive_provenance(args, tasks)
    if reference:
        others = [f'{v} seed {k} ({label})' for (v, k), label in zip(tasks, labels) if label != reference]
        lines.append(f'FID, R-precision, matching score and diversity need one text-motion evaluator: their table has '
                     f'the {len(one_evaluator)} runs measured with evaluator {reference}'
                     + (f'; measured with another, not in it: {", ".join(others)}.' if others else '.'))
    if missing:
        lines.append('Not measured yet (not in the work dir or the archive): '
                     + ', '.join(f'{v} seed {k}' for v, k in missing) + '.')
    lines += ['', '## Claims', '']
    lines += claim_lines(summary, chance_levels(args.data_root))
    if args.notes:
        with open(args.notes) as f:
            lines += ['', f.read().rstrip()]
    for title, table in tables:
        lines += ['', f'## {title}', '', open(table).read().rstrip()]
    lines += ['', '## Commands', '']
    lines += [f'- `python {r["command"]}` ({r["seconds"] / 60:.1f} min)' for r in records]
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'results written to {args.out}')


def busy_time(intervals) -> float:
    """Length of the union of (start, end) intervals: the wall time in which at least one command ran (runs from
    several invocations, e.g. days apart, do not count the pause between them)."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def read_summary(csv_files) -> dict:
    """compare.py's CSVs -> {variant: {metric: (mean, std, runs)}}."""
    summary = {}
    for path in csv_files:
        with open(path) as f:
            for row in csv.DictReader(f):
                entry = summary.setdefault(row['config'], {})
                for key, value in row.items():
                    if key in ('config', 'runs') or key.endswith('_std') or value in ('', 'None'):
                        continue
                    entry[key] = (float(value), float(row.get(f'{key}_std') or 0.0), int(row['runs']))
    return summary

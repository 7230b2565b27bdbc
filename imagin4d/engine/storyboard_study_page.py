"""The storyboard study's page: the storyboard table (one image vs storyboards of 2 and 3: image adherence and hidden
factors at every depicted frame, waypoints), the long-sequence table (waypoint errors, foot sliding, seam metric and
hidden factors per segment, beside the single-window numbers), the answers derived from them (K = 1 against the full
model within the seed spreads, what more images change, long against single windows), provenance and every
command. Tables are `tools/analysis/compare.py` (mean ± std over seeds) through `sampling_study_page.compare_rows`."""
import os.path as osp
import statistics
from collections import Counter, defaultdict
from typing import List, Optional

from imagin4d.engine.benchmark.archive import describe_machine
from imagin4d.engine.benchmark.runner import Runner

from .sampling_study_page import change_answer, compare_rows, describe_build, flat_metrics, shown
from .storyboard_study import BOARDS, FLIP, LONG, SMOKE_BOARDS, STORYBOARD_INDEX, TRAINED

LABELS = dict(single='one image (test split, contact-centred frame)', board1='storyboard K=1 (first frame)',
              board2='storyboard K=2', board3='storyboard K=3', long_one='long, one image',
              long_board='long, storyboard (one image per segment)',
              board3_flip='storyboard K=3, middle image mirrored')
MODEL_LABELS = dict(storyboard='storyboard-trained', sfie='full model (one image)')
STORY_COLUMNS = ('ia_success', 'ia_success_img0', 'ia_success_img1', 'ia_success_img2', 'factor_accuracy',
                 'factor_accuracy_img0', 'factor_accuracy_img1', 'factor_accuracy_img2', 'ia_frame_err',
                 'waypoint_start_err',
                 'waypoint_xy_err', 'waypoint_end_err', 'contact_f1', 'foot_sliding', 'hand_penetration',
                 'mirror_contact_side_flip_rate', 'mirror_layout_flip_rate', 'fid')
LONG_COLUMNS = ('waypoint_start_err', 'waypoint_xy_err', 'waypoint_end_err', 'foot_sliding', 'hand_penetration',
                'seam_joint_jump_ratio', 'seam_joint_velocity_jump_ratio', 'seam_object_jump_ratio',
                'factor_accuracy_seg0', 'factor_accuracy_seg1', 'factor_accuracy_seg2', 'factor_accuracy_segments')
K1_METRICS = ('ia_success', 'factor_accuracy', 'waypoint_xy_err', 'waypoint_end_err', 'foot_sliding', 'contact_f1')
FLIP_COLUMNS = ('flip_contact_side_flip_rate', 'flip_layout_flip_rate', 'flip_others_unchanged_rate',
                'flip_others_grasp_unchanged_rate', 'flip_others_layout_unchanged_rate', 'flip_contact_side_windows',
                'flip_layout_windows', 'flip_other_moments')
LONG_METRICS = ('waypoint_xy_err', 'waypoint_end_err', 'foot_sliding', 'seam_joint_jump_ratio',
                'seam_object_jump_ratio', 'factor_accuracy_segments')


def row_name(model: str, key: str) -> str:
    return f'{MODEL_LABELS.get(model, model)} · {LABELS[key]}'


def _table(run: Runner, args, rows: List[dict], keys, columns, name: str) -> Optional[tuple]:
    members = [r for r in rows if r['key'] in keys]
    if not members:
        return None
    members.sort(key=lambda r: (args.models.index(r['variant']), list(keys).index(r['key']), r['seed']))
    present = set().union(*(flat_metrics(r['entry']) for r in members))
    flat_dir = osp.join(args.work_dir, 'page')
    return compare_rows(run, members, [row_name(r['variant'], r['key']) for r in members], flat_dir,
                        osp.join(flat_dir, f'{name}.md'), [c for c in columns if c in present])


def flip_answer(flip: dict, model: str) -> str:
    """One model's mirrored-middle-image line: the flipped moment's flip rates, the other moments' unchanged rate."""
    row = flip.get(row_name(model, FLIP))
    if row is None:
        return f'{MODEL_LABELS.get(model, model)}: not measured yet.'
    def cell(metric):
        mean, std, runs = row.get(metric, (float('nan'), 0.0, 0))
        return f'{mean:.2f}' + (f' ± {std:.2f}' if runs > 1 else '')
    return (f'{MODEL_LABELS.get(model, model)}: at the mirrored picture\'s moment the grasp side flips in '
            f'{cell("flip_contact_side_flip_rate")} and the layout in {cell("flip_layout_flip_rate")} of the one-sided '
            f'windows; the other two moments keep grasp and layout in {cell("flip_others_unchanged_rate")}.')


def answers(args, story: Optional[dict], long: Optional[dict], flip: Optional[dict] = None) -> List[str]:
    """The answers the tables give (summaries {row: {metric: (mean, std, runs)}})."""
    lines = []
    boards = [f'board{k}' for k in (SMOKE_BOARDS if args.smoke else BOARDS)]
    if story:
        lines.append('- **K = 1 is the full model** (the storyboard-trained model against the full model on the '
                     "benchmark's one-image test; within = |mean difference| <= the two seed spreads together):")
        lines.append('  - ' + change_answer(story, 'full model -> storyboard-trained', row_name('sfie', 'single'),
                                           row_name(TRAINED, 'single'), K1_METRICS))
        lines.append('- **More images** (storyboard K=1 -> the largest K, the same test windows; per image position '
                     'in the table):')
        for model in args.models:
            lines.append('  - ' + change_answer(story, MODEL_LABELS.get(model, model), row_name(model, boards[0]),
                                               row_name(model, boards[-1]), K1_METRICS))
        if len(args.models) > 1:
            lines.append(f'- **Storyboard training** (full model -> storyboard-trained, at {LABELS[boards[-1]]}):')
            lines.append('  - ' + change_answer(story, LABELS[boards[-1]], row_name('sfie', boards[-1]),
                                               row_name(TRAINED, boards[-1]), K1_METRICS))
    if flip:
        lines.append('- **One picture of the storyboard mirrored** (the middle one of 3; only its moment should '
                     'follow, `tools/analysis/mirror_test.py --flip-image 1`):')
        lines += ['  - ' + flip_answer(flip, model) for model in args.models]
    if long:
        lines.append('- **Long sequences, storyboard against one image** (one picture per segment at its frame):')
        for model in args.models:
            lines.append('  - ' + change_answer(long, MODEL_LABELS.get(model, model), row_name(model, 'long_one'),
                                               row_name(model, 'long_board'), LONG_METRICS))
        lines.append('- **Long sequences against single windows** (one image; waypoint errors and foot sliding of '
                     'the whole chained motion against the one-window test):')
        for model in args.models:
            lines.append('  - ' + change_answer(long, MODEL_LABELS.get(model, model), row_name(model, 'single'),
                                               row_name(model, 'long_one'), ('waypoint_xy_err', 'waypoint_end_err',
                                                                             'foot_sliding', 'hand_penetration')))
    return lines


def _truth_line(truth: Optional[dict]) -> List[str]:
    if not truth:
        return []
    m = truth['metrics']
    return ['', f'Ground truth (the {len(truth["rows"])} long test sequences themselves, no seams): foot sliding '
                f'{m.get("foot_sliding", float("nan")):.3f}, hand penetration {m.get("hand_penetration", 0):.4f}, '
                'hidden factors at the segments\' depicted frames '
                f'{m.get("factor_accuracy_segments", float("nan")):.3f}'
                ' (recovered from the motion: the rule the generated rows are scored with).']


def _cost_lines(rows: List[dict]) -> List[str]:
    """Median seconds per evaluation kind over the evaluations measured."""
    seconds = defaultdict(list)
    for r in rows:
        for record in r['entry'].get('commands', []):
            seconds[LABELS[r['key']]].append(record['seconds'])
    lines = ['| evaluation | commands | median seconds |', '|---|---|---|']
    return lines + [f'| {label} | {len(v)} | {statistics.median(v):.0f} |'
                    for label, v in sorted(seconds.items(), key=lambda kv: statistics.median(kv[1]))]


def write_page(run: Runner, args, rows: List[dict], missing: List[dict], truth: Optional[dict]) -> str:
    boards = [f'board{k}' for k in (SMOKE_BOARDS if args.smoke else BOARDS)]
    story = _table(run, args, rows, ['single'] + boards, STORY_COLUMNS, 'storyboards')
    long = _table(run, args, rows, ['single'] + list(LONG), LONG_COLUMNS, 'long')
    flip = _table(run, args, rows, [FLIP], FLIP_COLUMNS, 'flip')
    entries = [r['entry'] for r in rows]
    machines = Counter(describe_machine(e.get('machine')) for e in entries)
    builds = Counter(describe_build(e.get('data')) for e in entries)
    commits = Counter(e.get('commit') or '?' for e in entries)
    lines = [f'# Storyboards and long sequences on mini-FBM ({"smoke run" if args.smoke else "issue 29"})', '',
             f'Models: the storyboard-trained model (`projects/imagin4d/mini_fbm_storyboard.py`, K drawn in 1..3 per '
             f'training window) and the full model (`mini_fbm_sfie.py`, one image), seeds '
             f'{", ".join(map(str, args.seeds))}, {args.iters} training iterations each, DDIM {args.num_steps}. '
             f'Storyboard test windows: the first K of the 3 depicted frames rendered per test window '
             f'(`{STORYBOARD_INDEX}`), scored at every depicted frame (`_img<k>`: image k in time order). Long '
             f'sequences: the first {args.long_num} mini-FBM long test sequences (3 chained carry segments), windows '
             'of 120 frames blended over 30. Mean ± standard deviation over seeds (`runs` = seeds).', '',
             'Provenance: measured on ' + ('; '.join(f'{m} ({n} evaluations)' for m, n in sorted(machines.items()))
                                           or '-')
             + '; data ' + ('; '.join(f'{b} ({n})' for b, n in builds.items()) or '-')
             + '; commits ' + (', '.join(f'{c} ({n})' for c, n in commits.items()) or '-') + '.',
             f'Written by: `python tools/analysis/storyboard_study.py {shown(" ".join(map(str, args.argv)))}`.']
    if missing:
        lines.append(f'Not measured yet ({len(missing)} evaluations): '
                     + ', '.join(f'{m["variant"]} seed {m["seed"]} {m["key"]}' for m in missing[:40])
                     + (' ...' if len(missing) > 40 else '') + '.')
    lines += ['', '## Answers', ''] + answers(args, story and story[1], long and long[1], flip and flip[1])
    if args.notes:
        with open(args.notes) as f:
            lines += ['', f.read().rstrip()]
    if story:
        lines += ['', '## One image against storyboards', '', story[0]]
    if flip:
        lines += ['', '## One picture of the storyboard mirrored', '',
                  'The storyboard of 3 with its middle picture flipped horizontally (the other two unchanged), '
                  'generated again with the same seed: flip rates at the middle picture\'s moment over the windows '
                  'whose original generation is one-sided there; unchanged rates (grasp hand and layout as in the '
                  'original generation) at the other two moments.', '', flip[0]]
    if long:
        lines += ['', '## Long sequences', '', 'The one-image rows repeat the single-window test (120 frames) for '
                  'comparison; seam ratios <= 1: the seams are no rougher than the windows.', '', long[0]]
        lines += _truth_line(truth)
    lines += ['', '## What each evaluation cost', '', 'Seconds of each command as it ran.', '']
    lines += _cost_lines(rows)
    lines += ['', '## Commands', '']
    for r in rows:
        for record in r['entry'].get('commands', []):
            lines.append(f'- {r["variant"]} seed {r["seed"]} {r["key"]}: `{shown(record["command"])}`')
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return args.out

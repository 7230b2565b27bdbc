"""The embedded benchmark: train and evaluate every mini-FBM variant with one budget and several seeds, run the
mirrored-reference test, and write one results page with the paper's claims checked against the numbers.

    python tools/analysis/run_benchmark.py [--data-root data/mini_fbm] [--seeds 0 1 2] [--iters 2000]
        [--variants no_image global_token uniform_image sfie_spatial sfie sketch sfie_fused [sfie_spatial_separate]]
        [--work-dir work_dirs/benchmark]
        [--out docs/results/results_mini_fbm.md] [--notes docs/results/results_mini_fbm_notes.md] [--num-steps 20]
        [--evaluator-ckpt PATH] [--jobs 2] [--archive benchmarks/results/mini_fbm_runs] [--collect] [--smoke]

Every step is one of the project's own tools, run as a subprocess (its command is recorded in the report):
tools/data/prepare_mini_fbm.py (if the data root is incomplete), tools/train_evaluator.py (once, for FID and
R-precision, unless --evaluator-ckpt), then per variant and seed tools/train.py -> tools/test.py --out ->
tools/analysis/mirror_test.py (`--jobs` of these chains at a time, seed by seed, so an interrupted run leaves whole
seeds), and finally tools/analysis/compare.py (mean ± std over seeds) per table. Runs that already have their
results are not repeated (delete the work dir to start over); --collect only writes the page from the runs that
have finished (the page lists the missing ones). --notes: a hand-written Markdown file (the analysis of the numbers)
placed after the claims, so that the page can be regenerated without losing it. --smoke is the CI version: a few
iterations, one seed, two variants, two sampling steps.

--archive keeps every finished run's merged metrics and its commands as one small JSON file
(`ARCHIVE/iters<N>_steps<S>/<variant>/seed<k>.json`, committed with the page), so that a fresh clone can rewrite the
page (`--collect`) and a later invocation adds seeds or variants without retraining the runs it already has. An
archived run is reused only on a mini-FBM with the same generator version, seed, size and reference images
(`build_identity`) and with the same resolved config (`config_identity`: a run measured before its config, or a
`_base_` it inherits, changed what it trains is not reused); otherwise the benchmark stops and names the file and the
field. An earlier build that is gone can be declared the same as the current one in `ARCHIVE/equivalent_builds.json`
(with the evidence; declarations chain, old -> same_as -> ...); the page names the build and the machines its runs
were measured on, and refuses to put runs of different builds in one table. FID and R-precision are scored by the
archive's committed evaluator (`ARCHIVE/evaluator/text_motion_evaluator.pth`, unless --evaluator-ckpt; without either
one is trained into the work dir), whose digest each run records; the distribution table holds the runs of one
evaluator (the commonest) and the page names the others.
"""
import argparse
import csv
import hashlib
import json
import math
import os
import os.path as osp
import platform
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, REPO)
EQUIVALENT_BUILDS = 'equivalent_builds.json'  # in the archive: earlier builds declared the same data
DATA_ROOT_VARS = ('IMAGIN4D_MINI_FBM_ROOT', 'IMAGIN4D_FBM_ROOT', 'IMAGIN4D_BEHAVE_ROOT')
VARIANTS = ('no_image', 'global_token', 'uniform_image', 'sfie_spatial', 'sfie', 'sketch', 'sfie_fused')
# Checks of a cause, run only when named in --variants (not part of the default benchmark): variant -> config.
CHECK_VARIANTS = {'sfie_spatial_separate': 'projects/imagin4d/checks/mini_fbm_sfie_spatial_separate.py'}
FACTORS = ('factor_grasp_hand', 'factor_carry_height', 'factor_layout')
EVALUATOR_FILE = 'evaluator/text_motion_evaluator.pth'  # in the archive: the evaluator every archived run uses
DISTRIBUTION_COLUMNS = ('fid', 'r_precision_top1', 'r_precision_top3', 'matching_score', 'diversity')
# The results page's tables: (title, columns); every column is a key of the merged per-run metrics.
TABLES = (
    ('Image adherence at the depicted frame t* (success: all cues within threshold; _best: best frame within ±15; '
     'errors in m and degrees, reprojection in px)',
     ('ia_success', 'ia_success_best', 'ia_pose_err', 'ia_obj_pos_err', 'ia_obj_rot_err', 'ia_contact_both',
      'ia_layout', 'ia_reproj_px', 'ia_iou_body', 'ia_iou_object')),
    ('Hidden factors (not in the text) recovered from the generation, and the mirrored-reference test',
     ('factor_accuracy', *FACTORS, 'mirror_contact_side_flip_rate', 'mirror_layout_flip_rate',
      'mirror_consistency')),
    ('Control and physical plausibility (CHOIS protocol; errors in mm, foot sliding in mm/frame, penetration in m)',
     ('waypoint_start_err', 'waypoint_end_err', 'waypoint_xy_err', 'contact_f1', 'foot_sliding', 'hand_penetration',
      'hand_jpe', 'mpjpe', 'obj_trans_err')),
    ('Distribution (text-motion evaluator trained on mini-FBM; FID lower is better)', DISTRIBUTION_COLUMNS),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--iters', type=int, default=2000, help='training iterations of every variant')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS + tuple(CHECK_VARIANTS),
                        help='default: every variant of the paper; the checks (CHECK_VARIANTS) only when named')
    parser.add_argument('--num-steps', type=int, default=20, help='DDIM sampling steps at test time')
    parser.add_argument('--work-dir', default='work_dirs/benchmark')
    parser.add_argument('--out', default='docs/results/results_mini_fbm.md')
    parser.add_argument('--evaluator-ckpt', default=None, help='trained text-motion evaluator (default: train one)')
    parser.add_argument('--jobs', type=int, default=1, help='train/test chains run at the same time (one per core)')
    parser.add_argument('--notes', default=None, help='Markdown inserted after the claims (default: none)')
    parser.add_argument('--archive', default=None,
                        help='folder of finished runs kept with the page (default: benchmarks/results/mini_fbm_runs; '
                             'none for --smoke); "none" switches it off')
    parser.add_argument('--collect', action='store_true', help='write the page from finished runs; run nothing')
    parser.add_argument('--smoke', action='store_true', help='CI version: tiny budget, 1 seed, 2 variants')
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.iters, args.num_steps = args.seeds[:1], min(args.iters, 3), 2
        args.variants = [v for v in args.variants if v in ('no_image', 'sfie')] or ['sfie']
    if args.archive == 'none':
        args.archive = None
    elif args.archive is None and not args.smoke:
        args.archive = osp.join(REPO, 'benchmarks', 'results', 'mini_fbm_runs')
    return args


class Runner:
    """Runs tool commands from the repository with the data root in the environment; records each command, its
    start and its duration in `log_file` (JSON lines, appended: the record of every invocation on this work dir)."""

    def __init__(self, data_root: str, log_file: str):
        self.env = dict(os.environ, IMAGIN4D_MINI_FBM_ROOT=osp.abspath(data_root))
        self.env.setdefault('IMAGIN4D_BODY_MODEL_DIR', osp.join(REPO, 'data', 'body_models'))
        self.log_file = log_file
        self._lock = threading.Lock()

    def __call__(self, *args) -> float:
        """Run one tool; thread-safe (several chains may run at once)."""
        cmd = [sys.executable, *map(str, args)]
        shown = ' '.join(map(str, args))
        print(f'+ {shown}', flush=True)
        start = time.time()
        result = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True)
        seconds = time.time() - start
        if result.returncode != 0:
            raise SystemExit(f'failed ({result.returncode}): {shown}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
        self.append([dict(command=shown, start=start, seconds=seconds)])
        return seconds

    def append(self, records) -> None:
        """Add command records to the log, skipping those it already has (same command and start)."""
        with self._lock:
            known = {(r['command'], r['start']) for r in self.records()}
            with open(self.log_file, 'a') as f:
                for record in records:
                    if (record['command'], record['start']) not in known:
                        f.write(json.dumps(record) + '\n')

    def records(self) -> list:
        if not osp.isfile(self.log_file):
            return []
        with open(self.log_file) as f:
            return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    run = Runner(args.data_root, osp.join(args.work_dir, 'commands.jsonl'))
    if not args.collect and not osp.isfile(osp.join(args.data_root, 'references', 'test_sketch.json')):
        run('tools/data/prepare_mini_fbm.py', '--out', args.data_root)
    evaluator = args.evaluator_ckpt
    if evaluator is None and args.archive and osp.isfile(osp.join(args.archive, EVALUATOR_FILE)):
        evaluator = osp.relpath(osp.join(args.archive, EVALUATOR_FILE), REPO)   # the benchmark's fixed evaluator
    if evaluator is None:
        eval_dir = osp.join(args.work_dir, 'evaluator')
        evaluator = osp.join(eval_dir, 'text_motion_evaluator.pth')
        if not osp.isfile(evaluator) and not args.collect:
            extra = ['--cfg-options', 'train_cfg.max_iters=20'] if args.smoke else []
            run('tools/train_evaluator.py', 'projects/imagin4d/evaluators/mini_fbm_evaluator.py', '--work-dir',
                eval_dir, *extra)
    tasks = [(variant, seed) for seed in args.seeds for variant in args.variants]
    missing = []
    if args.collect:   # the checks join the page when they have run
        tasks += [(variant, seed) for seed in args.seeds for variant in CHECK_VARIANTS
                  if variant not in args.variants and finished(args, variant, seed)]
        done = [t for t in tasks if finished(args, *t)]
        missing, tasks = [t for t in tasks if t not in done], done
        if not tasks:
            raise SystemExit(f'--collect: no finished runs under {args.work_dir}')
    if args.jobs > 1:
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda task: run_variant(run, args, evaluator, *task), tasks))
    else:
        results = [run_variant(run, args, evaluator, *task) for task in tasks]
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
             '`_base_/schedules/cpu_mini.py`), seeds ' + ', '.join(map(str, args.seeds)) +
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


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def config_file(variant: str) -> str:
    return CHECK_VARIANTS.get(variant, f'projects/imagin4d/mini_fbm_{variant}.py')


def config_identity(config: str) -> dict:
    """{file, digest}: sha256 (16 hex digits) of the resolved config (every `_base_` merged, data roots at their
    defaults, so that the digest does not depend on where the data lies)."""
    from mmengine.config import Config
    saved = {k: os.environ.pop(k) for k in DATA_ROOT_VARS if k in os.environ}
    try:
        resolved = Config.fromfile(osp.join(REPO, config)).to_dict()
    finally:
        os.environ.update(saved)
    text = json.dumps(resolved, sort_keys=True, default=repr)
    return dict(file=config, digest=hashlib.sha256(text.encode()).hexdigest()[:16])


def archive_file(args, variant: str, seed: int) -> str:
    return osp.join(args.archive, f'iters{args.iters}_steps{args.num_steps}', variant, f'seed{seed}.json')


def run_dir(args, variant: str, seed: int) -> str:
    """The work dir of one run: its checkpoint, test outputs and merged metrics (`metrics.json`)."""
    return osp.join(args.work_dir, variant, f'seed{seed}')


def finished(args, variant: str, seed: int) -> bool:
    """Whether the run has its merged metrics, in the work dir or the archive."""
    return (osp.isfile(osp.join(run_dir(args, variant, seed), 'metrics.json'))
            or bool(args.archive) and osp.isfile(archive_file(args, variant, seed)))


def read_archived(args, variant: str, seed: int) -> Optional[dict]:
    """The archived entry of a run; None without an archive or an entry."""
    path = archive_file(args, variant, seed) if args.archive else None
    if path is None or not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def equivalent_builds(args) -> dict:
    """{references digest of an earlier mini-FBM build: the digest of the build it is declared the same as}, from
    ARCHIVE/equivalent_builds.json ({old: {"same_as": new, "evidence": "..."}}, written by hand with what was checked;
    the archived runs themselves are never rewritten). {} without an archive or a file."""
    path = osp.join(args.archive, EQUIVALENT_BUILDS) if args.archive else None
    if path is None or not osp.isfile(path):
        return {}
    try:
        with open(path) as f:
            declared = json.load(f)
    except json.JSONDecodeError as err:
        raise SystemExit(f'error: {path}: not valid JSON ({err}); expected {{old digest: {{"same_as": ..., '
                         '"evidence": ...}}}}') from None
    if not isinstance(declared, dict):
        raise SystemExit(f'error: {path}: expected an object {{old digest: {{"same_as": ..., "evidence": ...}}}}, '
                         f'got {type(declared).__name__}')
    for old, entry in declared.items():
        if not isinstance(entry, dict) or not isinstance(entry.get('same_as'), str) or not entry.get('evidence'):
            raise SystemExit(f'error: {path}: entry "{old}" needs "same_as" (a references digest) and "evidence" '
                             f'(what shows the two builds are the same), got {entry!r}')
    return {old: entry['same_as'] for old, entry in declared.items()}


def canonical_build(identity, equivalents: dict):
    """A build identity with its references digest replaced by the last of the chain of builds it is declared the
    same as (old -> same_as -> ...), so that builds declared the same one after another compare equal whichever of
    them a run was measured on and whichever is on the disk now. A chain that comes back to itself is an error."""
    if not isinstance(identity, dict) or identity.get('references') not in equivalents:
        return identity
    digest, seen = identity['references'], []
    while digest in equivalents:
        if digest in seen:
            raise SystemExit(f'error: {EQUIVALENT_BUILDS}: the declarations go round in a circle '
                             f'({" -> ".join(seen + [digest])}); each build must lead to one build it is the same as')
        seen.append(digest)
        digest = equivalents[digest]
    return dict(identity, references=digest)


def archive_provenance(args, tasks) -> list:
    """Page lines on the builds and machines the archived runs of `tasks` were measured on; stops when they were
    measured on different builds (a page of one table must not mix data sets)."""
    entries = [entry for entry in (read_archived(args, *task) for task in tasks) if entry]
    if not entries:
        return []
    equivalents = equivalent_builds(args)
    builds = {}
    for entry in entries:
        key = json.dumps(canonical_build(entry.get('data'), equivalents), sort_keys=True)
        builds.setdefault(key, []).append(entry)
    if len(builds) > 1:
        raise SystemExit('error: the archived runs were measured on different mini-FBM builds: '
                         + '; '.join(f'{key} ({", ".join(e["variant"] + " seed " + str(e["seed"]) for e in runs)})'
                                     for key, runs in builds.items())
                         + f'; declare equal builds in {osp.join(args.archive, EQUIVALENT_BUILDS)} or measure again')
    build = json.loads(next(iter(builds)))
    earlier = Counter(e['data']['references'] for e in entries if e['data'] != build)
    line = (f'Data: mini-FBM generator v{build.get("version")}, seed {build.get("seed")}, {build.get("num_train")} '
            f'train / {build.get("num_test")} test sequences, references `{build.get("references")}` '
            f'({len(entries)} runs')
    line += ''.join(f'; {n} of them measured on the build `{old}`, declared the same in `{EQUIVALENT_BUILDS}`'
                    for old, n in sorted(earlier.items())) + ').'
    machines = Counter(describe_machine(e.get('machine')) for e in entries)
    return [line, 'Runs measured on: ' + '; '.join(f'{m} ({n} run{"s" * (n != 1)})'
                                                for m, n in sorted(machines.items())) + '.']


def file_identity(path: str) -> dict:
    """{file, digest}: the path as given and the sha256 (16 hex digits) of the file's bytes."""
    with open(osp.join(REPO, path) if not osp.isabs(path) else path, 'rb') as f:
        return dict(file=path, digest=hashlib.sha256(f.read()).hexdigest()[:16])


def evaluator_label(args, variant: str, seed: int) -> Optional[str]:
    """Which text-motion evaluator an archived run's FID / R-precision come from: its recorded digest, or for a run
    archived before digests were recorded the checkpoint path of its test command; None without an archive entry."""
    entry = read_archived(args, variant, seed)
    if entry is None:
        return None
    if entry.get('evaluator'):
        return f'`{entry["evaluator"]["digest"]}`'
    options = [token.split('=', 1)[1] for r in entry['commands'] for token in r['command'].split()
               if token.startswith('test_evaluator.2.evaluator_ckpt=')]
    return f'`{options[-1]}` (digest not recorded)' if options else 'not recorded'


def machine() -> dict:
    return dict(cpu=cpu_name(), cores=os.cpu_count(), platform=platform.platform())


def describe_machine(record) -> str:
    if not record:
        return 'machine not recorded (runs archived before 2026-12-03)'
    return f'{record["cpu"]}, {record["cores"]} logical cores, {record["platform"]}'


def restore_archived(run: 'Runner', args, variant: str, seed: int, metrics_file: str) -> bool:
    """Put an archived run's metrics into its work dir and its commands into the log; False when none is archived."""
    entry = read_archived(args, variant, seed)
    if entry is None:
        return False
    path = archive_file(args, variant, seed)
    from imagin4d.datasets.synthetic import build_identity
    expected = build_identity(args.data_root)
    # no data root (a fresh clone's --collect): the page as measured
    equivalents = equivalent_builds(args)
    if expected and canonical_build(entry.get('data'), equivalents) != canonical_build(expected, equivalents):
        raise SystemExit(f'error: {path}: field "data" is {entry.get("data")}, but {args.data_root} is mini-FBM '
                         f'{expected}; move the archived run away (or pass --archive none) to measure it again')
    config = config_identity(config_file(variant))
    if entry.get('config') != config:
        raise SystemExit(f'error: {path}: field "config" is {entry.get("config")}, but the config now resolves to '
                         f'{config}: the run measured another model or schedule; move the archived run away (or '
                         'pass --archive none) to measure it again')
    os.makedirs(osp.dirname(metrics_file), exist_ok=True)
    with open(metrics_file, 'w') as f:
        json.dump(entry['metrics'], f, indent=1)
    run.append(entry['commands'])
    return True


def archive_run(run: 'Runner', args, variant: str, seed: int, wd: str, merged: dict, config: dict,
                evaluator: Optional[str] = None) -> None:
    """Keep a finished run (merged metrics, the commands that made it, the data and the resolved config it was
    measured with: `config_identity` taken when its training started) in the archive."""
    if not args.archive:
        return
    path = archive_file(args, variant, seed)
    commands = [r for r in run.records()
                if any(token == wd or token.startswith(wd + os.sep) for token in r['command'].split())]
    from imagin4d.datasets.synthetic import build_identity
    entry = dict(variant=variant, seed=seed, iters=args.iters, num_steps=args.num_steps,
                 data=build_identity(args.data_root), config=config, commit=git_commit(), machine=machine(),
                 evaluator=file_identity(evaluator) if evaluator else None, metrics=merged, commands=commands)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(entry, f, indent=1)
        f.write('\n')


def git_commit() -> str:
    """The checked-out commit (with '+changes' when the tree differs from it), for the record; '' outside git."""
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=REPO,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ''
    return head.stdout.strip() + ('+changes' if dirty.stdout.strip() else '')


def run_variant(run: Runner, args, evaluator: str, variant: str, seed: int) -> str:
    """Train, test and mirror-test one variant at one seed (skipping what exists, in the work dir or the archive)
    -> its merged metrics JSON."""
    config = config_file(variant)
    wd = run_dir(args, variant, seed)
    metrics_file = osp.join(wd, 'metrics.json')
    if osp.isfile(metrics_file) or restore_archived(run, args, variant, seed, metrics_file):
        return metrics_file
    identity = config_identity(config)    # before training: the config the run trains with
    ckpt = osp.join(wd, f'iter_{args.iters}.pth')
    if not osp.isfile(ckpt):
        run('tools/train.py', config, '--work-dir', wd, '--cfg-options', f'train_cfg.max_iters={args.iters}',
            f'randomness.seed={seed}', f'default_hooks.checkpoint.interval={args.iters}',
            'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None')
    options = [f'model.test_cfg.num_steps={args.num_steps}']
    run('tools/test.py', config, ckpt, '--work-dir', wd, '--out', osp.join(wd, 'test_metrics.json'),
        '--cfg-options', *options, f'test_evaluator.2.evaluator_ckpt={evaluator}')
    mirror = {}
    if variant != 'no_image':      # no image: nothing to mirror
        run('tools/analysis/mirror_test.py', config, ckpt, '--out', osp.join(wd, 'mirror.json'),
            '--dump-dir', osp.join(wd, 'mirror'), '--cfg-options', *options)
        with open(osp.join(wd, 'mirror.json')) as f:
            mirror = {(k if k.startswith('mirror_') else f'mirror_{k}'): v for k, v in json.load(f).items()
                      if k.endswith('rate') or k == 'mirror_consistency'}
    with open(osp.join(wd, 'test_metrics.json')) as f:
        merged = dict(json.load(f), **mirror)
    factors = [merged[k] for k in FACTORS if k in merged]
    if len(factors) == len(FACTORS):
        merged['factor_accuracy'] = sum(factors) / len(factors)
    with open(metrics_file, 'w') as f:
        json.dump(merged, f, indent=1)
    archive_run(run, args, variant, seed, wd, merged, identity, evaluator)
    return metrics_file


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


def chance_levels(data_root: str) -> dict:
    """Per hidden factor (and their mean), from mini_fbm_factors.json: (chance, majority, prior, prior majority).

    chance: a generator that ignores the image and follows the test split's factor frequencies (sum of squared
    frequencies); majority: always the commonest value; prior: a generator that follows the training split's
    frequencies for the sequence's object and action (the level a model reaches from the object and the prompt
    alone, since some objects allow only some values); prior majority: the commonest value for them. On a built data
    root (with its body model files) two more: body prior and the no-image ceiling (`body_levels`)."""
    path = osp.join(data_root, 'mini_fbm_factors.json')
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        sequences = json.load(f)['sequences']
    from imagin4d.datasets.synthetic import body_levels, reference_levels
    levels = {f'factor_{name}': values for name, values in reference_levels(sequences).items()}
    if osp.isdir(osp.join(data_root, 'smpl_all_models')):     # a real build (not a bare factors file)
        body = body_levels(data_root)
        levels = {key: values + body[key[len('factor_'):]] for key, values in levels.items()}
    size = len(levels[FACTORS[0]])
    levels['factor_accuracy'] = tuple(sum(levels[k][i] for k in FACTORS) / len(FACTORS) for i in range(size))
    return levels


def _value(summary, variant, metric):
    return summary.get(variant, {}).get(metric, (math.nan, math.nan, 0))


def _above(summary, a, b, metric) -> str:
    """'clearly' (gap > the two seed spreads together), 'yes' (gap > 0) or 'NO' for mean(a) > mean(b); with a
    single run on either side there is no spread to judge the gap against, and the verdict says so."""
    (ma, sa, na), (mb, sb, nb) = _value(summary, a, metric), _value(summary, b, metric)
    if math.isnan(ma) or math.isnan(mb):
        return 'not measured'
    gap = ma - mb
    return (f'{_gap_verdict(gap, sa + sb, min(na, nb))} ({ma:.3f} vs {mb:.3f}, gap {gap:+.3f}, '
            f'spreads {sa:.3f} / {sb:.3f})')


def _gap_verdict(gap: float, spread: float, runs: int) -> str:
    """Whether a positive gap stands out: 'clearly' (beyond the seed spread), 'yes, within the seed spread' or
    'NO'; with a single run there is no spread, and the verdict says so."""
    if runs < 2:
        return ('yes' if gap > 0 else 'NO') + ', one run: no seed spread to judge the gap'
    return 'clearly' if gap > spread and gap > 0 else 'yes, within the seed spread' if gap > 0 else 'NO'


MIRROR_BAR = 0.8   # the bar for the full model's mirrored-reference flip rates
# (better, worse): the orderings the paper claims for image adherence. The first two are the headline claims
# (full model > one pooled token > no image); then spatial factorisation over the uniform / pooled image summaries,
# and frame-aware tokens on top of the spatial ones (at the same routing: sfie_fused and sfie_spatial both sum the
# streams).
ORDERINGS = (('sfie', 'global_token'), ('global_token', 'no_image'), ('sfie_spatial', 'uniform_image'),
             ('sfie_spatial', 'global_token'), ('sfie_fused', 'sfie_spatial'))


def _close(summary, a, b, metric) -> str:
    """Whether a is about as good as b: the gap is within the two seed spreads together."""
    (ma, sa, na), (mb, sb, nb) = _value(summary, a, metric), _value(summary, b, metric)
    if math.isnan(ma) or math.isnan(mb):
        return 'not measured'
    gap = ma - mb
    verdict = 'yes' if abs(gap) <= sa + sb else 'NO'
    if min(na, nb) < 2:
        verdict = 'cannot judge, one run: no seed spread'
    return f'{verdict} ({ma:.3f} vs {mb:.3f}, gap {gap:+.3f}, spreads {sa:.3f} / {sb:.3f})'


def no_image_lines(summary: dict, chance: dict) -> list:
    """The claim "no image at chance on the hidden factors" and the image models' distance from that level. With the
    body levels (6-tuples of `chance_levels`) the verdict is against the no-image ceiling (no model without the image
    does better on average: above it means the conditions leak the factor); without them against the object-action
    prior. Within the seed spread or 0.03 counts as at the level."""
    body = len(chance['factor_accuracy']) == 6
    level, name = (5, 'the no-image ceiling') if body else (2, 'the prior')
    parts = []
    for key in ('factor_accuracy', *FACTORS):
        mean, std, _ = _value(summary, 'no_image', key)
        ref = chance[key][level]
        close = abs(mean - ref) <= max(std, 0.03)
        if math.isnan(mean):
            verdict = 'not measured'
        elif body:
            verdict = f'at {name}' if close else f'below {name}' if mean < ref else f'ABOVE {name} (a leak)'
        else:
            verdict = f'at {name}' if close else f'above {name}' if mean > ref else f'below {name}'
        levels = (f'ceiling {chance[key][5]:.3f}, body prior {chance[key][4]:.3f}; ' if body else '') + (
            f'object-action prior {chance[key][2]:.3f}, prior majority {chance[key][3]:.3f}; chance '
            f'{chance[key][0]:.3f}, majority {chance[key][1]:.3f}')
        parts.append(f'{key} {mean:.3f} ± {std:.3f}: {verdict} ({levels})')
    if body:
        intro = ('- no image at chance on the hidden factors. Without the image a model still knows the object and '
                 'the action (prompt) and the body (its start pose), and the generator draws the factors from what '
                 'that body can do with that object (`body_levels`: `feasible_options`, drawn as the generator '
                 'draws); the no-image ceiling is how often that distribution\'s most probable value is the true '
                 'one (no model without the image does better on average), the body prior a model sampling it. '
                 'Verdict against the ceiling, within the seed spread or 0.03: ')
    else:
        intro = ('- no image at chance on the hidden factors. The level a model without the image can reach is '
                 'the prior (a generator following the training frequencies of the factor for the object and '
                 'action: some objects allow only some values); chance (the test split\'s frequencies) and '
                 'majority ignore the object. Verdict against the prior, within the seed spread or 0.03: ')
    lines = [intro + '; '.join(parts) + '.']
    for variant in ('global_token', 'sfie'):
        mean, std, runs = _value(summary, variant, 'factor_accuracy')
        if math.isnan(mean):
            continue
        ref = chance['factor_accuracy'][level]
        lines.append(f'- `factor_accuracy` of {variant} above {name}: {_gap_verdict(mean - ref, std, runs)} '
                     f'({mean:.3f} ± {std:.3f} vs {ref:.3f}).')
    return lines


def claim_lines(summary: dict, chance: dict) -> list:
    """The paper's claims (full > global token > no image on adherence and hidden factors, the finer orderings of the
    ablations, no image at chance, waypoint error of the full model within 10% of no image, mirror flip rate >= 0.8,
    sketch references about as good as mesh ones), each with its verdict."""
    lines = []
    for metric in ('ia_success', 'factor_accuracy'):
        parts = [f'{a} > {b}: {_above(summary, a, b, metric)}' for a, b in ORDERINGS]
        lines.append(f'- `{metric}`: ' + '; '.join(parts) + '.')
    if 'factor_accuracy' in chance:
        lines += no_image_lines(summary, chance)
    for variant, name in (('sfie', 'the full model'), ('sfie_fused', 'the full model with summed streams')):
        for metric in ('waypoint_start_err', 'waypoint_end_err', 'waypoint_xy_err'):
            full, base = _value(summary, variant, metric)[0], _value(summary, 'no_image', metric)[0]
            if math.isnan(full) or math.isnan(base):
                lines.append(f'- `{metric}` of {name} within 10% of no image: not measured.')
                continue
            verdict = 'yes' if full <= 1.1 * base else 'NO'
            lines.append(f'- `{metric}` of {name} within 10% of no image: {verdict} ({full:.1f} vs {base:.1f} mm, '
                         f'{100 * (full / base - 1):+.0f}%).')
    for metric in ('mirror_contact_side_flip_rate', 'mirror_layout_flip_rate'):
        value, spread, runs = _value(summary, 'sfie', metric)
        if not math.isnan(value):   # 'clearly' when the mean is above the bar by more than the seed spread
            verdict = 'yes' if value == MIRROR_BAR else _gap_verdict(value - MIRROR_BAR, spread, runs)
            lines.append(f'- `{metric}` of the full model at least {MIRROR_BAR}: {verdict} ({value:.3f} ± '
                         f'{spread:.3f} over {runs} seed{"s" if runs > 1 else ""}).')
    for metric in ('ia_success', 'factor_accuracy', 'factor_layout'):
        lines.append(f'- `{metric}` of sketch references about that of mesh references (sfie): '
                     f'{_close(summary, "sketch", "sfie", metric)}.')
    if 'sfie_spatial_separate' in summary:   # the routing check, when it was run
        lines.append('- Check, not a claim of the paper: does routing each stream to its own modulation give the '
                     'spatial tokens their adherence back? `ia_success` sfie_spatial_separate > sfie_spatial: '
                     f'{_above(summary, "sfie_spatial_separate", "sfie_spatial", "ia_success")}; `ia_pose_err` '
                     'sfie_spatial > sfie_spatial_separate (lower is better): '
                     f'{_above(summary, "sfie_spatial", "sfie_spatial_separate", "ia_pose_err")}; and the two '
                     'ablation claims at that routing: `ia_success` sfie_spatial_separate > uniform_image: '
                     f'{_above(summary, "sfie_spatial_separate", "uniform_image", "ia_success")}; '
                     'sfie_spatial_separate > global_token: '
                     f'{_above(summary, "sfie_spatial_separate", "global_token", "ia_success")}.')
    return lines


if __name__ == '__main__':
    main()

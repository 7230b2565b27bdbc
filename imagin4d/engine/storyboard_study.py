"""The storyboard study (issue 29): one image against storyboards of 2 and 3, and long sequences, on the storyboard-
trained model and the full model, 3 seeds at the benchmark's budget.

Owns the runs (the storyboard model `projects/imagin4d/mini_fbm_storyboard.py`, trained by the benchmark's own chain
`benchmark.jobs.run_tasks` into `<study>/storyboard/seed<k>/`: train -> test -> mirror test -> metrics.json; the
full model `sfie` read from a reference work dir, the sampling study's `<reference>/sfie/seed<k>/`, never written),
the plan of evaluations (model x seed x evaluation, cheapest first), running one evaluation, and the archive that
makes the study restartable: one small JSON per evaluation, `ARCHIVE/<evaluation>/<model>/seed<k>.json` (metrics,
commands, checkpoint digest, data build, machine, commit; the sampling study's entry format and checks,
`sampling_study.read_entry` / `check_entry`), and `ARCHIVE/long_truth.json` (the ground-truth long sequences).
Evaluations:

    single        the run's own benchmark test (one image per window: the contact-centred frame) + mirror test
    board<K>      the storyboard test references (`<data>/references_storyboard/test_mesh.json`, 3 depicted
                  frames per window, `prepare_mini_fbm.py --storyboard-test`), the first K in time
                  (`max_images=K`), adherence and hidden factors at every depicted frame (`per_image`)
    board3_flip   the storyboard of 3 with its middle image mirrored (`tools/analysis/mirror_test.py --flip-image 1`):
                  the grasp side and layout flip at that image's moment, the other two moments stay
    long_one      the long test sequences with the first segment's picture (`storyboard_study_long`)
    long_board    ... with one picture per segment at its depicted frame

The page is `storyboard_study_page`.
"""
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional

from imagin4d.engine.benchmark.archive import config_identity, git_commit, machine
from imagin4d.engine.benchmark.jobs import map_jobs, run_tasks
from imagin4d.engine.benchmark.runner import FACTORS, REPO, Runner, config_file, sampling_options
from imagin4d.engine.sampling_study import archive_file, check_entry, checkpoint_digest, read_entry, write_entry
from imagin4d.engine.sampling_study import collected as archived
from imagin4d.utils.fileio import atomic_open

MODELS = ('storyboard', 'sfie')
TRAINED = 'storyboard'              # trained by the study; the others are read from the reference dir
BOARDS, SMOKE_BOARDS = (1, 2, 3), (1, 3)
LONG = ('long_one', 'long_board')
FLIP, FLIP_IMAGE = 'board3_flip', 1     # the storyboard of 3 with its middle image mirrored
STORYBOARD_INDEX = 'references_storyboard/test_mesh.json'
#: cost order of the evaluations (relative; the single rows cost nothing here, the benchmark chain measured them)
COST = dict(single=0, board1=1, board2=2, board3=3, board3_flip=4, long_one=5, long_board=6)


def evaluations(args) -> List[str]:
    boards = SMOKE_BOARDS if args.smoke else BOARDS
    return ['single'] + [f'board{k}' for k in boards] + [FLIP] + list(LONG)


def plan(args) -> List[dict]:
    """Every evaluation of the study, cheapest first: {key (evaluation), variant (model), seed}."""
    items = [dict(key=key, variant=model, seed=seed) for key in evaluations(args) for model in args.models
             for seed in args.seeds]
    return sorted(items, key=lambda i: (COST[i['key']], i['seed'], args.models.index(i['variant'])))


def run_dir(args, model: str, seed: int) -> str:
    """Where a run lives: the study's storyboard runs, the reference dir's (or, with --train-reference, the study's)
    full-model runs; the benchmark's layout."""
    root = args.study_dir if model == TRAINED or args.train_reference else args.reference_dir
    return osp.join(root, model, f'seed{seed}')


def checkpoint_path(args, model: str, seed: int) -> str:
    return osp.join(run_dir(args, model, seed), f'iter_{args.iters}.pth')


def ready(args, model: str, seed: int) -> bool:
    """A run can be evaluated once its benchmark chain finished (its checkpoint and merged `metrics.json`)."""
    return osp.isfile(checkpoint_path(args, model, seed)) and osp.isfile(osp.join(run_dir(args, model, seed),
                                                                                 'metrics.json'))


def _digest16(path: str) -> str:
    import hashlib
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def identity(args, model: str, seed: int) -> dict:
    """What an evaluation of a run must share with the study now: checkpoint digest and data build (and, for the
    long evaluations, the long test index, `long` in the entry)."""
    from imagin4d.datasets.synthetic import build_identity
    ckpt = checkpoint_path(args, model, seed)
    return dict(checkpoint=dict(file=osp.relpath(ckpt, REPO), digest=checkpoint_digest(ckpt)),
                data=build_identity(args.data_root))


def long_identity(args) -> dict:
    from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR
    index = osp.join(args.long_root, LONG_TEST_DIR, 'index.json')
    return dict(index=osp.relpath(osp.abspath(index), REPO), digest=_digest16(index), num=args.long_num)


# ------------------------------------------------------------------------------------------------------ training
def train_runs(args) -> None:
    """The runs this study trains, `args.jobs` at a time: the storyboard model (and the full model with
    --train-reference) at each seed, by the benchmark's chain (a finished run is not repeated)."""
    models = [TRAINED] + (['sfie'] if args.train_reference else [])
    tasks = [(model, seed) for seed in args.seeds for model in models if model in args.models]
    if not tasks:
        return
    run_tasks(Runner(args.data_root, osp.join(args.study_dir, 'commands.jsonl')), _ChainArgs(args),
              args.evaluator_ckpt, tasks)


class _ChainArgs:
    """The settings `benchmark.jobs.run_tasks` / `run_variant` read, for the study's work dir (no benchmark
    archive)."""

    def __init__(self, args):
        self.work_dir, self.iters, self.num_steps = args.study_dir, args.iters, args.num_steps
        self.archive, self.data_root, self.jobs = None, args.data_root, args.jobs


# ------------------------------------------------------------------------------------------------------ evaluating
def _commands_of(folder: str) -> List[dict]:
    """The command records of a run dir, from its work dir's `commands.jsonl` (the benchmark chain's log)."""
    log = osp.join(osp.dirname(osp.dirname(folder)), 'commands.jsonl')
    if not osp.isfile(log):
        return []
    with open(log) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if any(t == folder or t.startswith(folder + os.sep) for t in r['command'].split())]


def per_image_factors(metrics: dict) -> dict:
    """`factor_accuracy_img<k>`: the mean of the three hidden-factor accuracies at image position k."""
    out = {}
    k = 0
    while all(f'{f}_img{k}' in metrics for f in FACTORS):
        out[f'factor_accuracy_img{k}'] = sum(metrics[f'{f}_img{k}'] for f in FACTORS) / len(FACTORS)
        k += 1
    return out


def _storyboard_options(args, k: int) -> list:
    """--cfg-options of a test on the first K storyboard test references per window."""
    return [*sampling_options(args.num_steps),
            f'test_dataloader.dataset.pipeline.0.reference_index={{data_root}}/{STORYBOARD_INDEX}',
            f'test_dataloader.dataset.pipeline.0.max_images={k}']


def board_command(args, item: dict, out: str, work: str) -> list:
    """tools/test.py of the first K storyboard test references per window, scored at every depicted frame."""
    k = int(item['key'][len('board'):])
    model, seed = item['variant'], item['seed']
    command = ['tools/test.py', config_file(model), checkpoint_path(args, model, seed), '--work-dir', work, '--out',
               out, '--cfg-options', *_storyboard_options(args, k), 'test_evaluator.1.per_image=True']
    if args.evaluator_ckpt:
        command.append(f'test_evaluator.2.evaluator_ckpt={args.evaluator_ckpt}')
    return command


def flip_command(args, item: dict, out: str) -> list:
    """tools/analysis/mirror_test.py on the storyboards of 3 with the middle image mirrored."""
    model, seed = item['variant'], item['seed']
    return ['tools/analysis/mirror_test.py', config_file(model), checkpoint_path(args, model, seed), '--out', out,
            '--flip-image', str(FLIP_IMAGE), '--cfg-options', *_storyboard_options(args, 3)]


def _numbers(row: dict) -> dict:
    return {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def evaluate(run: Runner, args, item: dict, ident: dict) -> dict:
    """Run one evaluation (see the module docstring) unless archived; archive it; return its entry."""
    entry = read_entry(args, item)
    if entry is not None:
        check_entry(args, item, entry, ident)
        if 'long' in entry and entry['long'] != long_identity(args):
            raise SystemExit(f'error: {archive_file(args, item)}: field "long" is {entry["long"]}, but the study now '
                             f'has {long_identity(args)}; move the archived evaluation away to measure it again')
        return entry
    model, seed, key = item['variant'], item['seed'], item['key']
    base = dict(variant=model, seed=seed, evaluation=key, config=config_identity(config_file(model)), **ident,
                commit=git_commit(), machine=machine())
    folder = run_dir(args, model, seed)
    if key == 'single':
        with open(osp.join(folder, 'metrics.json')) as f:
            metrics = _numbers(json.load(f))
        entry = dict(base, metrics=metrics, source=osp.relpath(osp.join(folder, 'metrics.json'), REPO),
                     commands=_commands_of(folder))
    elif key == FLIP:
        out = osp.join(args.work_dir, key, model, f'seed{seed}', 'mirror.json')
        os.makedirs(osp.dirname(out), exist_ok=True)
        command = flip_command(args, item, out)
        start = time.time()
        seconds = run(*command)
        with open(out) as f:
            metrics = {f'flip_{k}': v for k, v in _numbers(json.load(f)).items()}
        entry = dict(base, metrics=metrics,
                     commands=[dict(command=' '.join(map(str, command)), start=start, seconds=seconds)])
    elif key.startswith('board'):
        work = osp.join(args.work_dir, key, model, f'seed{seed}')
        out = osp.join(work, 'test.json')
        command = board_command(args, item, out, work)
        start = time.time()
        seconds = run(*command)
        with open(out) as f:
            result = json.load(f)                  # tools/test.py --out: one setting's metrics (a dict)
        metrics = _numbers(result[0] if isinstance(result, list) else result)
        metrics.update(per_image_factors(metrics))
        if all(f in metrics for f in FACTORS):
            metrics['factor_accuracy'] = sum(metrics[f] for f in FACTORS) / len(FACTORS)
        entry = dict(base, metrics=metrics,
                     commands=[dict(command=' '.join(map(str, command)), start=start, seconds=seconds)])
    else:
        from .storyboard_study_long import evaluate_long
        setting = key[len('long_'):]
        start = time.time()
        report = evaluate_long(config_file(model), checkpoint_path(args, model, seed), args.long_root, setting,
                               args.long_num, osp.join(args.work_dir, 'long_pictures'), args.body_model_root,
                               steps=args.num_steps)
        shown = (f'storyboard_study_long.evaluate_long({config_file(model)}, {checkpoint_path(args, model, seed)}, '
                 f'{args.long_root}, {setting!r}, num={args.long_num}, steps={args.num_steps})')
        entry = dict(base, long=long_identity(args), metrics=_numbers(report['metrics']), rows=report['rows'],
                     commands=[dict(command=shown, start=start, seconds=time.time() - start)])
    write_entry(args, item, entry)
    return entry


def long_truth(args) -> Optional[dict]:
    """The ground-truth long sequences' numbers (`ARCHIVE/long_truth.json`, measured once per long test index)."""
    path = osp.join(args.archive, 'long_truth.json')
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    if args.collect:
        return None
    from .storyboard_study_long import ground_truth_long
    report = ground_truth_long(args.long_root, args.long_num)
    entry = dict(long=long_identity(args), metrics=_numbers(report['metrics']), rows=report['rows'])
    with atomic_open(path, 'w') as f:
        json.dump(entry, f, indent=1)
        f.write('\n')
    return entry


def check_inputs(args) -> None:
    """The storyboard test references and the long test sequences exist (else one line naming the command)."""
    index = osp.join(args.data_root, STORYBOARD_INDEX)
    if not osp.isfile(index):
        raise SystemExit(f'error: {index} missing; render the storyboard test references with python '
                         f'tools/data/prepare_mini_fbm.py --out {args.data_root} --storyboard-test')
    from .storyboard_study_long import read_long_index
    read_long_index(args.long_root)


def run_study(args) -> List[dict]:
    """Train what is missing, then evaluate every ready run (tests `args.jobs` at a time, long generation one at a
    time); returns the plan items still missing (their run is not ready)."""
    os.makedirs(args.work_dir, exist_ok=True)
    check_inputs(args)
    if args.train:
        train_runs(args)
    run = Runner(args.data_root, osp.join(args.work_dir, 'commands.jsonl'))
    idents: Dict[tuple, dict] = {}
    todo, missing = [], []
    for item in plan(args):
        run_key = (item['variant'], item['seed'])
        if not ready(args, *run_key):
            missing.append(item)
            continue
        if run_key not in idents:
            idents[run_key] = identity(args, *run_key)
        todo.append(item)
    def one(item):
        return evaluate(run, args, item, idents[(item['variant'], item['seed'])])
    map_jobs(one, [i for i in todo if not i['key'].startswith('long')], args.jobs)   # test subprocesses
    map_jobs(one, [i for i in todo if i['key'].startswith('long')], 1)              # generation in this process
    long_truth(args)
    print(f'storyboard study: {len(todo)} evaluations done or archived, {len(missing)} waiting for their run',
          flush=True)
    return missing


def collected(args) -> List[dict]:
    """The archived entries of the plan, each with its plan item."""
    return archived(args, plan(args))


def is_missing(args, item: dict) -> bool:
    return read_entry(args, item) is None

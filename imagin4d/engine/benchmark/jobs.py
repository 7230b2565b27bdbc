"""The benchmark's jobs: the evaluator that scores every run, the runs to do (or, for --collect, those done), and
the chain of one variant at one seed (train -> test -> mirror test -> merged metrics, archived when finished)."""
import json
import os.path as osp
from concurrent.futures import ThreadPoolExecutor

from .archive import EVALUATOR_FILE, archive_run, config_identity, finished, restore_archived
from .runner import CHECK_VARIANTS, FACTORS, REPO, Runner, config_file, run_dir, sampling_options

#: iterations between the checkpoints of a benchmark training (the configs keep the last two and the final one)
RESUME_INTERVAL = 250


def evaluator_checkpoint(run: Runner, args) -> str:
    """The text-motion evaluator for FID and R-precision: --evaluator-ckpt, else the archive's committed one, else one
    trained into the work dir (not trained by --collect)."""
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
    return evaluator


def plan_tasks(args):
    """(tasks, missing): the (variant, seed) runs, seed by seed; for --collect the finished ones (the checks join
    when they have run) and the missing ones (listed on the page)."""
    tasks = [(variant, seed) for seed in args.seeds for variant in args.variants]
    missing = []
    if args.collect:   # the checks join the page when they have run
        tasks += [(variant, seed) for seed in args.seeds for variant in CHECK_VARIANTS
                  if variant not in args.variants and finished(args, variant, seed)]
        done = [t for t in tasks if finished(args, *t)]
        missing, tasks = [t for t in tasks if t not in done], done
        if not tasks:
            raise SystemExit(f'--collect: no finished runs under {args.work_dir}')
    return tasks, missing


def map_jobs(function, items, jobs: int) -> list:
    """[function(item) for item in items], `jobs` at a time (threads; each item typically runs tool subprocesses),
    results in the order of `items`."""
    if jobs > 1:
        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(function, items))
    return [function(item) for item in items]


def run_tasks(run: Runner, args, evaluator: str, tasks) -> list:
    """Every task's merged metrics file, `args.jobs` chains at a time."""
    return map_jobs(lambda task: run_variant(run, args, evaluator, *task), tasks, args.jobs)


def train_command(config: str, work_dir: str, iters: int, seed: int, amp: bool = False) -> list:
    """tools/train.py of one benchmark training (no validation), with a checkpoint every RESUME_INTERVAL
    iterations and `--resume` when the work dir holds one: a run stopped with its session goes on from there
    (resumes repeat the uninterrupted run's draws exactly, so the result is the same); amp: `--amp` (bf16 autocast)."""
    resume = ['--resume'] if osp.isfile(osp.join(work_dir, 'last_checkpoint')) else []
    return ['tools/train.py', config, '--work-dir', work_dir, *resume, *(['--amp'] if amp else []), '--cfg-options',
            f'train_cfg.max_iters={iters}',
            f'randomness.seed={seed}', f'default_hooks.checkpoint.interval={min(iters, RESUME_INTERVAL)}',
            'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None']


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
        run(*train_command(config, wd, args.iters, seed, getattr(args, 'amp', False)))
    options = sampling_options(args.num_steps)
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

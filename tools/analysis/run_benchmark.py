"""The embedded benchmark: train and evaluate every mini-FBM variant with one budget and several seeds, run the
mirrored-reference test, and write one results page with the paper's claims checked against the numbers.

    python tools/analysis/run_benchmark.py [--data-root data/mini_fbm] [--seeds 0 1 2] [--iters 2000]
        [--variants no_image global_token uniform_image sfie_spatial sfie sketch sfie_fused [sfie_spatial_separate]]
        [--work-dir work_dirs/benchmark]
        [--out docs/results/results_mini_fbm.md] [--notes docs/results/results_mini_fbm_notes.md] [--num-steps 20]
        [--evaluator-ckpt PATH] [--jobs 2] [--archive benchmarks/results/mini_fbm_runs] [--collect] [--smoke] [--amp]

Every step is one of the project's own tools, run as a subprocess (its command is recorded in the report):
tools/data/prepare_mini_fbm.py (if the data root is incomplete), tools/train_evaluator.py (once, for FID and
R-precision, unless --evaluator-ckpt), then per variant and seed tools/train.py -> tools/test.py --out ->
tools/analysis/mirror_test.py (`--jobs` of these chains at a time, seed by seed, so an interrupted run leaves whole
seeds), and finally tools/analysis/compare.py (mean ± std over seeds) per table. Runs that already have their
results are not repeated (delete the work dir to start over) and an interrupted training resumes from its last
checkpoint (one every 250 iterations; a resumed run repeats the uninterrupted one's draws); --collect only writes
the page from the runs that have finished (the page lists the missing ones). --notes: a hand-written Markdown file
(the analysis of the numbers) placed after the claims, so that the page can be regenerated without losing it.
--smoke is the CI version: a few iterations, one seed, two variants, two sampling steps. --amp trains every run in
bf16 autocast (`tools/train.py --amp`); its runs are archived apart (`iters<N>_steps<S>_bf16/`), its default work
dir is work_dirs/benchmark_bf16 and it needs its own --out (the fp32 page is never overwritten by bf16 runs).

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

The claims (their text, the variants and metrics they compare, the thresholds) are data:
projects/imagin4d/benchmark_claims.yaml; the code is imagin4d/engine/benchmark/ (runs, archive, claim checks,
page).
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from imagin4d.engine.benchmark import (  # noqa: E402
    CHECK_VARIANTS,
    REPO,
    VARIANTS,
    Runner,
    evaluator_checkpoint,
    plan_tasks,
    run_tasks,
    write_page,
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
    parser.add_argument('--amp', action='store_true',
                        help='train in bf16 autocast (tools/train.py --amp), archived apart from the fp32 runs')
    args = parser.parse_args(argv)
    if args.amp:
        if args.out == parser.get_default('out'):
            parser.error(f'--amp: name the page of the bf16 runs with --out (not {args.out}, the fp32 page)')
        if args.work_dir == parser.get_default('work_dir'):
            args.work_dir += '_bf16'
    if args.smoke:
        args.seeds, args.iters, args.num_steps = args.seeds[:1], min(args.iters, 3), 2
        args.variants = [v for v in args.variants if v in ('no_image', 'sfie')] or ['sfie']
    if args.archive == 'none':
        args.archive = None
    elif args.archive is None and not args.smoke:
        args.archive = osp.join(REPO, 'benchmarks', 'results', 'mini_fbm_runs')
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    run = Runner(args.data_root, osp.join(args.work_dir, 'commands.jsonl'))
    if not args.collect and not osp.isfile(osp.join(args.data_root, 'references', 'test_sketch.json')):
        run('tools/data/prepare_mini_fbm.py', '--out', args.data_root)
    evaluator = evaluator_checkpoint(run, args)
    tasks, missing = plan_tasks(args)
    results = run_tasks(run, args, evaluator, tasks)
    write_page(run, args, tasks, results, missing)


if __name__ == '__main__':
    main()

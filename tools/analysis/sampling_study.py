"""The sampling study (issue 26): evaluate a benchmark's trained checkpoints at each sampling setting, keep every
result, and write one page of tables with the answers they give.

    python tools/analysis/sampling_study.py --study-dir WORK_DIR [--data-root data/mini_fbm] [--iters 2000]
        [--variants sfie no_image] [--seeds 0 1 2] [--sweeps steps guidance recon] [--no-mirror]
        [--archive benchmarks/results/sampling_mini_fbm] [--out docs/results/sampling_mini_fbm.md] [--notes MD]
        [--work-dir work_dirs/sampling_study_eval] [--jobs 1] [--ready metrics|checkpoint] [--wait MINUTES]
        [--collect] [--smoke]

WORK_DIR is a `tools/analysis/run_benchmark.py` work dir (`<variant>/seed<k>/iter_<iters>.pth`). The sweeps, each
setting a change of DDIM 20 / G 1 / no reconstruction guidance:
  steps:    DDIM 5, 10, 20, 50, 100 and DDPM 1000
  guidance: image guidance G in 0, 1, 1.5, 2, 3, 5 (models with an image), each with the mirrored-reference test
            (`tools/analysis/mirror_test.py`; --no-mirror: without)
  recon:    reconstruction guidance off and on (the config's `model.reconstruction_guidance`)
  frame:    SFIE's predicted depicted frame against the true one given (an oracle)
  protocol: the configs' scoring against CHOIS's (body-model joints, raw object rotation)
  defaults: the configs' sampling (DDIM 5 on 'quadratic' indices) at G 1, 1.5 and 2 (with the mirror test) and with
            reconstruction guidance at lr 1 (G 1 and 1.5)
Each (setting, variant, seed) is one `tools/test.py --sweep` run as a subprocess, cheapest first, `--jobs` at a
time; its metrics and commands are kept as one small JSON in the archive (`ARCHIVE/<setting>/<variant>/seed<k>.json`),
so that a later invocation (another session) runs only what is missing, and `--collect` writes the page from the
archive alone. A run is evaluated once its checkpoint exists and (`--ready metrics`, the default) the benchmark's own
test of it has finished; `--wait M` keeps polling the study for M minutes for runs still training. Run it with
`nice -n 5` beside trainings. `--smoke` is the CI version: DDIM 2 / DDPM 3, G 1 and 2, seed 0 unless --seeds.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from imagin4d.engine.benchmark.runner import VARIANTS, Runner  # noqa: E402
from imagin4d.engine.sampling_study import SWEEPS, collected, is_missing, plan, run_study, study_outputs  # noqa: E402
from imagin4d.engine.sampling_study_page import write_page  # noqa: E402

EVALUATOR = 'benchmarks/results/mini_fbm_runs/evaluator/text_motion_evaluator.pth'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--study-dir', required=True, help='the benchmark work dir holding the checkpoints')
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--iters', type=int, default=2000, help='the checkpoints evaluated: iter_<iters>.pth')
    parser.add_argument('--variants', nargs='+', default=['sfie', 'no_image'], choices=VARIANTS)
    parser.add_argument('--seeds', type=int, nargs='+', default=None, help='default 0 1 2 (0 with --smoke)')
    parser.add_argument('--sweeps', nargs='+', default=list(SWEEPS), choices=list(SWEEPS))
    parser.add_argument('--mirror', action=argparse.BooleanOptionalAction, default=True,
                        help='the mirrored-reference test at each G as well (default; --no-mirror: not)')
    parser.add_argument('--evaluator-ckpt', default=EVALUATOR, help='text-motion evaluator for FID ("none": no FID)')
    parser.add_argument('--archive', default=None, help='default: benchmarks/results/sampling_mini_fbm '
                                                        '(<work-dir>/archive with --smoke)')
    parser.add_argument('--out', default=None, help='default: docs/results/sampling_mini_fbm.md '
                                                    '(<work-dir>/sampling.md with --smoke)')
    parser.add_argument('--notes', default=None, help='hand-written Markdown placed after the answers (the '
                                                      'analysis; kept when the page is written again)')
    parser.add_argument('--work-dir', default='work_dirs/sampling_study_eval', help='test outputs and logs')
    parser.add_argument('--jobs', type=int, default=1, help='evaluations at a time')
    parser.add_argument('--ready', choices=('metrics', 'checkpoint'), default='metrics',
                        help="evaluate a run once the benchmark's own test of it finished (metrics) or as soon as "
                             'its checkpoint exists')
    parser.add_argument('--wait', type=float, default=0.0, help='minutes to keep polling for runs still training')
    parser.add_argument('--collect', action='store_true', help='write the page from the archive; run nothing')
    parser.add_argument('--smoke', action='store_true', help='CI version: two or three sampling steps, one seed')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.seeds is None:
        args.seeds = [0] if args.smoke else [0, 1, 2]
    study_outputs(args, 'sampling_mini_fbm')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.collect:
        missing = [item for item in plan(args) if is_missing(args, item)]
    else:
        missing = run_study(args)
    rows = collected(args)
    if not rows:
        raise SystemExit(f'error: no evaluations in {args.archive} yet (is {args.study_dir} trained?)')
    page = write_page(Runner(args.data_root, osp.join(args.work_dir, 'commands.jsonl')), args, rows, missing)
    print(f'sampling study: {len(rows)} evaluations on the page {page}, {len(missing)} missing')


if __name__ == '__main__':
    main()

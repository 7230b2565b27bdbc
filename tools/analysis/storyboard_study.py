"""The storyboard study (issue 29): one image against storyboards of 2 and 3, and long sequences, on the
storyboard-trained model and the full model; every result kept, one page of tables with the answers they give.

    python tools/analysis/storyboard_study.py [--study-dir work_dirs/storyboard_study]
        [--reference-dir work_dirs/sampling_study] [--data-root data/mini_fbm] [--long-root LONG_ROOT]
        [--iters 2000] [--seeds 0 1 2] [--models storyboard sfie] [--long-num 4] [--jobs 1] [--no-train]
        [--train-reference] [--archive benchmarks/results/storyboard_mini_fbm]
        [--out docs/results/storyboard_mini_fbm.md] [--work-dir work_dirs/storyboard_study_eval] [--collect] [--smoke]

Needs the storyboard test references (`tools/data/prepare_mini_fbm.py --out DATA --storyboard-test`) and the long
test sequences (`tools/data/make_mini_fbm.py --out LONG_ROOT --long-test 4 --long-test-only`);
scripts/storyboard_study.sh does all of it. The storyboard model (`projects/imagin4d/mini_fbm_storyboard.py`) is
trained at each seed by the benchmark's chain (tools/train.py -> tools/test.py -> mirror_test.py) into
`<study-dir>/storyboard/seed<k>/`; the full model's runs are read (never written) from the reference dir, the
sampling study's `<reference-dir>/sfie/seed<k>/iter_<iters>.pth` (with its `metrics.json`), when present; missing
ones are listed on the page (`--train-reference` trains them into the study dir instead). Each evaluation
(`imagin4d/engine/storyboard_study.py`: single, board1-3, long_one, long_board) is kept as one small JSON in the
archive (`ARCHIVE/<evaluation>/<model>/seed<k>.json`), so that a later invocation runs only what is missing, and
`--collect` writes the page from the archive alone. Run it with `nice -n 5` beside trainings. `--smoke` is the CI
version: 3 iterations, DDIM 2, seed 0, K 1 and 3, one long sequence, the full model trained too.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from imagin4d.engine.benchmark.runner import Runner  # noqa: E402
from imagin4d.engine.sampling_study import study_outputs  # noqa: E402
from imagin4d.engine.storyboard_study import MODELS, collected, is_missing, long_truth, plan, run_study  # noqa: E402
from imagin4d.engine.storyboard_study_page import write_page  # noqa: E402

EVALUATOR = 'benchmarks/results/mini_fbm_runs/evaluator/text_motion_evaluator.pth'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--study-dir', default='work_dirs/storyboard_study', help='the storyboard runs (trained here)')
    parser.add_argument('--reference-dir', default='work_dirs/sampling_study',
                        help="the full model's runs (<dir>/sfie/seed<k>/), read only")
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--long-root', default=None, help='a data root with long_test/ (default: <study-dir>/long)')
    parser.add_argument('--iters', type=int, default=2000, help='training iterations (the benchmark budget)')
    parser.add_argument('--num-steps', type=int, default=20, help='DDIM steps at test time (the benchmark)')
    parser.add_argument('--seeds', type=int, nargs='+', default=None, help='default 0 1 2 (0 with --smoke)')
    parser.add_argument('--models', nargs='+', default=list(MODELS), choices=MODELS)
    parser.add_argument('--long-num', type=int, default=None, help='long test sequences (default 4; 1 with --smoke)')
    parser.add_argument('--evaluator-ckpt', default=EVALUATOR, help='text-motion evaluator for FID ("none": no FID)')
    parser.add_argument('--body-model-root', default=os.environ.get('IMAGIN4D_BODY_MODEL_DIR', 'data/body_models'))
    parser.add_argument('--train', action=argparse.BooleanOptionalAction, default=True,
                        help='train the storyboard runs that are missing (default; --no-train: evaluate only)')
    parser.add_argument('--train-reference', action='store_true',
                        help='train the full-model runs into the study dir instead of reading the reference dir')
    parser.add_argument('--archive', default=None, help='default: benchmarks/results/storyboard_mini_fbm '
                                                        '(<work-dir>/archive with --smoke)')
    parser.add_argument('--out', default=None, help='default: docs/results/storyboard_mini_fbm.md '
                                                    '(<work-dir>/storyboard.md with --smoke)')
    parser.add_argument('--notes', default=None, help='hand-written Markdown placed after the answers (kept when the '
                                                      'page is written again)')
    parser.add_argument('--work-dir', default='work_dirs/storyboard_study_eval', help='test outputs and logs')
    parser.add_argument('--jobs', type=int, default=1, help='trainings / tests at a time (one per core)')
    parser.add_argument('--collect', action='store_true', help='write the page from the archive; run nothing')
    parser.add_argument('--smoke', action='store_true', help='CI version: tiny budget, one seed, one long sequence')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        args.iters, args.num_steps, args.train_reference = min(args.iters, 3), 2, True
    args.seeds = args.seeds if args.seeds is not None else [0] if args.smoke else [0, 1, 2]
    args.long_num = args.long_num if args.long_num is not None else 1 if args.smoke else 4
    args.long_root = args.long_root or osp.join(args.study_dir, 'long')
    study_outputs(args, 'storyboard_mini_fbm')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.collect:
        missing = [item for item in plan(args) if is_missing(args, item)]
    else:
        missing = run_study(args)
        missing = [item for item in missing if is_missing(args, item)]
    rows = collected(args)
    if not rows:
        raise SystemExit(f'error: no evaluations in {args.archive} yet (are the runs of {args.study_dir} and '
                         f'{args.reference_dir} trained?)')
    os.makedirs(args.work_dir, exist_ok=True)
    page = write_page(Runner(args.data_root, osp.join(args.work_dir, 'commands.jsonl')), args, rows, missing,
                      long_truth(args))
    print(f'storyboard study: {len(rows)} evaluations on the page {page}, {len(missing)} missing')


if __name__ == '__main__':
    main()

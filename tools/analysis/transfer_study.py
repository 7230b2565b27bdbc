"""The domain-transfer study (issue 28): train the full model on mesh only, scene only and the mixture of
domains, test each on mesh, scene, sketch and degraded references, and write the transfer table.

    python tools/analysis/transfer_study.py [--source data/mini_fbm] [--data-root data/mini_fbm_transfer]
        [--stage data|all] [--seeds 0 1 2] [--iters 2000] [--train-domains mesh scene mixture]
        [--test-domains mesh scene sketch degraded] [--mesh-from work_dirs/sampling_study] [--no-mirror] [--no-probe]
        [--work-dir work_dirs/transfer_study] [--archive benchmarks/results/transfer_mini_fbm]
        [--out docs/results/transfer_mini_fbm.md] [--notes MD] [--jobs 2] [--collect] [--smoke]

Stages, each doing only what is missing (run it again after an interruption):
  1. data: the study's root (--data-root) is a hard-linked copy of the built mini-FBM --source (so that the
     source's build identity, which the benchmark's and the sampling study's archives check, does not change),
     with the scene and degraded references and the mixture index rendered by tools/data/prepare_mini_fbm.py.
     `--stage data` stops here.
  2. training (tools/train.py, the benchmark's budget, resumed when interrupted); the mesh-only row reuses the
     sampling study's checkpoints (--mesh-from: <dir>/sfie/seed<k>/iter_<iters>.pth, read only; "none": train here).
  3. evaluation: per checkpoint and test domain tools/test.py and tools/analysis/mirror_test.py with
     `test_dataloader.dataset.pipeline.0.reference_index={data_root}/references/test_<domain>.json`, and
     tools/analysis/reference_probe.py per style, and per train domain the probe fitted on its references scored
     on every test domain's (--test-styles); each result one small JSON in the archive (not repeated).
  4. the page, from the archive (--collect: only this).
`--jobs` (train, seed) chains at a time, seed by seed, the probes after the first seed's chains. --smoke is the CI
version: a few iterations, two sampling steps, one seed, no reuse, the small demo data set (data/mini_fbm_demo) unless
--source, work under --work-dir.
Run it niced beside trainings (scripts/transfer_study.sh).
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from imagin4d.engine.benchmark.runner import Runner  # noqa: E402
from imagin4d.engine.sampling_study import study_outputs  # noqa: E402
from imagin4d.engine.transfer_study import (  # noqa: E402
    TEST_DOMAINS,
    TRAIN_DOMAINS,
    collected,
    missing,
    prepare_data,
    run_study,
)
from imagin4d.engine.transfer_study_page import write_page  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--source', default=None, help='the built mini-FBM the study root is derived from '
                                                       '(default data/mini_fbm; data/mini_fbm_demo with --smoke)')
    parser.add_argument('--data-root', default=None, help='the study\'s mini-FBM root (default '
                                                          'data/mini_fbm_transfer; <work-dir>/mini_fbm with --smoke)')
    parser.add_argument('--size', type=int, default=None, help='size of the rendered references (default 448, as '
                                                               'data/mini_fbm; 96 with --smoke)')
    parser.add_argument('--train-frames', type=int, default=None, help='depicted frames per training window '
                                                                       '(default 3, as data/mini_fbm; 1 with --smoke)')
    parser.add_argument('--stage', choices=('data', 'all'), default='all', help='data: stage 1 only')
    parser.add_argument('--seeds', type=int, nargs='+', default=None, help='default 0 1 2 (0 with --smoke)')
    parser.add_argument('--iters', type=int, default=None, help='training iterations (default 2000; 3 --smoke)')
    parser.add_argument('--num-steps', type=int, default=None, help='DDIM steps at test time (default 20; 2 --smoke)')
    parser.add_argument('--train-domains', nargs='+', default=list(TRAIN_DOMAINS), choices=list(TRAIN_DOMAINS))
    parser.add_argument('--test-domains', nargs='+', default=list(TEST_DOMAINS), choices=TEST_DOMAINS)
    parser.add_argument('--mesh-from', default='work_dirs/sampling_study',
                        help='run_benchmark work dir whose sfie/seed<k> checkpoints are the mesh-only row ("none": '
                             'train them here)')
    parser.add_argument('--mirror', action=argparse.BooleanOptionalAction, default=True,
                        help='the mirrored-reference test per test domain (default; --no-mirror: not)')
    parser.add_argument('--probe', action=argparse.BooleanOptionalAction, default=True,
                        help='the reference probe per style (default; --no-probe: not)')
    parser.add_argument('--probe-cells', type=int, default=None, help='reference_probe.py --cells (default 7, as '
                                                                       'the sketch probe page; 3 with --smoke)')
    parser.add_argument('--probe-cv', type=int, default=None, help='reference_probe.py --cv (default 5; 2 --smoke)')
    parser.add_argument('--evaluator-ckpt', default=None, help='text-motion evaluator for FID (default: no FID; the '
                                                               'table does not need it)')
    parser.add_argument('--work-dir', default=None, help='checkpoints, test outputs, logs (default '
                                                         'work_dirs/transfer_study; ..._smoke with --smoke)')
    parser.add_argument('--archive', default=None, help='default benchmarks/results/transfer_mini_fbm '
                                                        '(<work-dir>/archive with --smoke)')
    parser.add_argument('--out', default=None, help='default docs/results/transfer_mini_fbm.md '
                                                    '(<work-dir>/transfer.md with --smoke)')
    parser.add_argument('--notes', default=None, help='hand-written Markdown placed after the bars (kept when the '
                                                      'page is written again)')
    parser.add_argument('--jobs', type=int, default=1, help='(train domain, seed) chains at a time')
    parser.add_argument('--collect', action='store_true', help='write the page from the archive; run nothing')
    parser.add_argument('--smoke', action='store_true', help='CI version: tiny budget, one seed, demo data')
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    smoke = args.smoke
    args.work_dir = args.work_dir or f'work_dirs/transfer_study{"_smoke" if smoke else ""}'
    args.source = args.source or f'data/mini_fbm{"_demo" if smoke else ""}'
    args.data_root = args.data_root or (osp.join(args.work_dir, 'mini_fbm') if smoke else 'data/mini_fbm_transfer')
    args.seeds = args.seeds or ([0] if smoke else [0, 1, 2])
    args.iters = args.iters or (3 if smoke else 2000)
    args.num_steps = args.num_steps or (2 if smoke else 20)
    args.size = args.size or (96 if smoke else 448)
    args.train_frames = args.train_frames or (1 if smoke else 3)
    args.probe_cells = args.probe_cells or (3 if smoke else 7)
    args.probe_cv = args.probe_cv if args.probe_cv is not None else (2 if smoke else 5)
    if smoke or args.mesh_from in ('none', ''):
        args.mesh_from = None
    study_outputs(args, 'transfer_mini_fbm')
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    run = Runner(args.data_root, osp.join(args.work_dir, 'commands.jsonl'))
    if args.collect:
        left = missing(args)
    else:
        prepare_data(run, args)
        if args.stage == 'data':
            print(f'transfer study: data ready in {args.data_root}')
            return
        left = run_study(run, args)
    found = collected(args)
    if not found['cells'] and not found['probes']:
        raise SystemExit(f'error: no results in {args.archive} yet (run the study without --collect)')
    page = write_page(run, args, found, left)
    print(f'transfer study: {len(found["cells"])} evaluations and {len(found["probes"])} probes on the page {page}, '
          f'{len(left)} missing')


if __name__ == '__main__':
    main()

"""Build the embedded mini-FBM data set (procedural, FBM/OMOMO release layout) into a folder.

    python tools/data/make_mini_fbm.py --out data/mini_fbm [--num-train 360 --num-test 48 --seed 0]
    python tools/data/make_mini_fbm.py --out data/mini_fbm --long-test 4 --long-test-only   # long test sequences

The free SMPL-X-layout body model is built first if missing (a few minutes the first time) into
--body-model-dir (default: $IMAGIN4D_BODY_MODEL_DIR, else data/body_models) and copied into the data root.
--long-test K also writes K long test sequences (several carry-and-place segments chained, each starting where the
previous one left the body) into <out>/long_test/ (an extra output: without it the build and its files are exactly
the default ones).
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))


def parse_args(argv=None):
    from imagin4d.datasets.synthetic import DEFAULT_NUM_TEST, DEFAULT_NUM_TRAIN
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='data/mini_fbm', help='data root to write (default: data/mini_fbm)')
    p.add_argument('--num-train', type=int, default=DEFAULT_NUM_TRAIN, help='train sequences (subjects 1-15)')
    p.add_argument('--num-test', type=int, default=DEFAULT_NUM_TEST, help='test sequences (subjects 16-17)')
    p.add_argument('--seed', type=int, default=0, help='everything generated depends only on this seed')
    p.add_argument('--body-model-dir', default=os.environ.get('IMAGIN4D_BODY_MODEL_DIR', 'data/body_models'),
                   help='free body model folder (built there if missing)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing mini-FBM in --out')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--strip', default=None, metavar='PNG',
                   help='also render a strip of frames of one sequence to this PNG (e.g. docs/mini_fbm_strip.png)')
    p.add_argument('--strip-seq', default=None, metavar='NAME',
                   help='sequence for --strip (default: the first test sequence carried with both hands)')
    p.add_argument('--long-test', type=int, default=0, metavar='K',
                   help='also write K long test sequences (chained carry segments) into OUT/long_test/')
    p.add_argument('--long-segments', type=int, default=3, help='carry segments per long test sequence (3)')
    p.add_argument('--long-test-only', action='store_true', help='write only the long test sequences')
    args = p.parse_args(argv)
    if args.long_test < 0 or (args.long_test_only and not args.long_test):
        p.error('--long-test K needs K >= 1 (and is required by --long-test-only)')
    if args.num_train < 0 or args.num_test < 0:
        p.error('--num-train and --num-test must be >= 0')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from imagin4d.body_models.free_body import ensure_free_body_model
    from imagin4d.datasets.synthetic import build_mini_fbm
    from imagin4d.utils.errors import UserError
    print(f'make_mini_fbm: body model in {args.body_model_dir} (building it if missing)', flush=True)
    body_dir = str(ensure_free_body_model(args.body_model_dir))
    if args.long_test:
        from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR, build_long_test
    if not args.long_test_only:
        try:
            summary = build_mini_fbm(args.out, body_dir, num_train=args.num_train, num_test=args.num_test,
                                     seed=args.seed, progress=not args.no_progress, overwrite=args.overwrite)
        except FileExistsError as err:
            raise SystemExit(f'make_mini_fbm: {err} (use --overwrite)') from None
        except UserError as err:
            raise SystemExit(f'make_mini_fbm: {err}') from None
        print(f'make_mini_fbm: wrote {summary["num_train"]} train and {summary["num_test"]} test sequences to '
              f'{args.out} in {summary["seconds"]} s')
        print(json.dumps(summary['histogram']))
    if args.long_test:
        index = build_long_test(args.out, body_dir, num=args.long_test, segments=args.long_segments, seed=args.seed)
        frames = [s['num_frames'] for s in index['sequences'].values()]
        print(f'make_mini_fbm: wrote {len(frames)} long test sequences ({args.long_segments} carry segments, '
              f'{min(frames)}-{max(frames)} frames) to {osp.join(args.out, LONG_TEST_DIR)}')
    if args.strip:
        import imagin4d  # noqa: F401  (sets PYOPENGL_PLATFORM=egl before pyrender loads)
        from imagin4d.datasets.synthetic import load_factors
        from imagin4d.datasets.synthetic.preview import save_strip, story_frames
        seqs = load_factors(args.out)['sequences']
        name = args.strip_seq or next((n for n, v in seqs.items() if v['split'] == 'test' and v['action'] == 'carry'
                                       and v['grasp_hand'] == 'both'), next(iter(seqs)))
        if name not in seqs:
            raise SystemExit(f'make_mini_fbm: --strip-seq {name!r} is not in {args.out}')
        save_strip(args.strip, args.out, name, frames=story_frames(args.out, name), size=300)
        print(f'make_mini_fbm: strip of {name} ({seqs[name]["text"]!r}, factors: {seqs[name]["grasp_hand"]} hand(s), '
              f'{seqs[name]["carry_height"]}, {seqs[name]["layout"]}) -> {args.strip}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

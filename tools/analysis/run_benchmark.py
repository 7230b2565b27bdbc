"""The embedded benchmark: train and evaluate every mini-FBM variant with one budget and several seeds, run the
mirrored-reference test, and write one results table.

    python tools/analysis/run_benchmark.py [--data-root data/mini_fbm] [--seeds 0 1 2] [--iters 2000]
        [--variants no_image global_token uniform_image sfie_spatial sfie sketch] [--work-dir work_dirs/benchmark]
        [--out docs/results_mini_fbm.md] [--num-steps 20] [--evaluator-ckpt PATH] [--smoke]

Every step is one of the project's own tools, run as a subprocess (its command is recorded in the report):
tools/data/prepare_mini_fbm.py (if the data root is incomplete), tools/train_evaluator.py (once, for FID and
R-precision, unless --evaluator-ckpt), then per variant and seed tools/train.py -> tools/test.py --out ->
tools/analysis/mirror_test.py, and finally tools/analysis/compare.py (mean ± std over seeds). Runs that already
have their results are not repeated (delete the work dir to start over). --smoke is the CI version: a few
iterations, one seed, two variants, two sampling steps.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
VARIANTS = ('no_image', 'global_token', 'uniform_image', 'sfie_spatial', 'sfie', 'sketch')
COLUMNS = ('ia_success', 'ia_success_best', 'ia_pose_err', 'ia_obj_pos_err', 'ia_obj_rot_err', 'ia_contact_both',
           'ia_layout', 'factor_grasp_hand', 'factor_carry_height', 'factor_layout', 'mirror_contact_side_flip_rate',
           'mirror_layout_flip_rate', 'waypoint_start_err', 'waypoint_end_err', 'waypoint_xy_err', 'contact_f1',
           'foot_sliding', 'hand_penetration', 'fid', 'r_precision_top3', 'hand_jpe', 'mpjpe')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--iters', type=int, default=2000, help='training iterations of every variant')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument('--num-steps', type=int, default=20, help='DDIM sampling steps at test time')
    parser.add_argument('--work-dir', default='work_dirs/benchmark')
    parser.add_argument('--out', default='docs/results_mini_fbm.md')
    parser.add_argument('--evaluator-ckpt', default=None, help='trained text-motion evaluator (default: train one)')
    parser.add_argument('--smoke', action='store_true', help='CI version: tiny budget, 1 seed, 2 variants')
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.iters, args.num_steps = args.seeds[:1], min(args.iters, 3), 2
        args.variants = [v for v in args.variants if v in ('no_image', 'sfie')] or ['sfie']
    return args


class Runner:
    """Runs tool commands from the repository with the data root in the environment; records them and their time."""

    def __init__(self, data_root: str):
        self.env = dict(os.environ, IMAGIN4D_MINI_FBM_ROOT=osp.abspath(data_root))
        self.env.setdefault('IMAGIN4D_BODY_MODEL_DIR', osp.join(REPO, 'data', 'body_models'))
        self.log = []

    def __call__(self, *args) -> float:
        cmd = [sys.executable, *map(str, args)]
        shown = ' '.join(map(str, args))
        print(f'+ {shown}', flush=True)
        start = time.time()
        result = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True)
        seconds = time.time() - start
        if result.returncode != 0:
            raise SystemExit(f'failed ({result.returncode}): {shown}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
        self.log.append((shown, seconds))
        return seconds


def main(argv=None):
    args = parse_args(argv)
    run = Runner(args.data_root)
    started = time.time()
    if not osp.isfile(osp.join(args.data_root, 'references', 'test_sketch.json')):
        run('tools/data/prepare_mini_fbm.py', '--out', args.data_root)
    evaluator = args.evaluator_ckpt
    if evaluator is None:
        eval_dir = osp.join(args.work_dir, 'evaluator')
        evaluator = osp.join(eval_dir, 'text_motion_evaluator.pth')
        if not osp.isfile(evaluator):
            extra = ['--cfg-options', 'train_cfg.max_iters=20'] if args.smoke else []
            run('tools/train_evaluator.py', 'projects/imagin4d/evaluators/mini_fbm_evaluator.py', '--work-dir',
                eval_dir, *extra)
    results, names = [], []
    for variant in args.variants:
        config = f'projects/imagin4d/mini_fbm_{variant}.py'
        for seed in args.seeds:
            wd = osp.join(args.work_dir, variant, f'seed{seed}')
            metrics_file = osp.join(wd, 'metrics.json')
            ckpt = osp.join(wd, f'iter_{args.iters}.pth')
            if not osp.isfile(metrics_file):
                if not osp.isfile(ckpt):
                    run('tools/train.py', config, '--work-dir', wd, '--cfg-options', f'train_cfg.max_iters={args.iters}',
                        f'randomness.seed={seed}', f'default_hooks.checkpoint.interval={args.iters}',
                        'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None')
                options = [f'model.test_cfg.num_steps={args.num_steps}']
                run('tools/test.py', config, ckpt, '--work-dir', wd, '--out', osp.join(wd, 'test_metrics.json'),
                    '--cfg-options', *options, f'test_evaluator.2.evaluator_ckpt={evaluator}')
                mirror = {}
                if variant != 'no_image':
                    run('tools/analysis/mirror_test.py', config, ckpt, '--out', osp.join(wd, 'mirror.json'),
                        '--cfg-options', *options)
                    with open(osp.join(wd, 'mirror.json')) as f:
                        mirror = {f'mirror_{k}': v for k, v in json.load(f).items() if k.endswith('rate')}
                with open(osp.join(wd, 'test_metrics.json')) as f:
                    merged = dict(json.load(f), **mirror)
                with open(metrics_file, 'w') as f:
                    json.dump(merged, f, indent=1)
            results.append(metrics_file)
            names.append(variant)
    table = osp.join(args.work_dir, 'table.md')
    run('tools/analysis/compare.py', *results, '--names', *names, '--group-by-name', '--metrics', *COLUMNS,
        '--out', table)
    wall = time.time() - started
    lines = [f'# mini-FBM benchmark ({"smoke run" if args.smoke else "full run"})', '',
             f'Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, '
             f'{platform.platform()}; wall time {wall / 60:.1f} min.  ',
             f'Budget: {args.iters} training iterations per variant, seeds {args.seeds}, DDIM {args.num_steps} steps. '
             'Mean ± standard deviation over seeds.', '', open(table).read(), '## Commands', '']
    lines += [f'- `python {cmd}` ({sec / 60:.1f} min)' for cmd, sec in run.log]
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'results written to {args.out}')


if __name__ == '__main__':
    main()

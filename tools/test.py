"""Evaluate a checkpoint: `python tools/test.py CONFIG CKPT [--out metrics.json] [--dump results.npz]
[--sweep model.test_cfg.K=a,b]`.

`--dump` writes every sample (generated and GT motion, conditions, per-sample metrics) for tools/visualize.py, in
a file of arrays and plain values only (an .npz, whatever the extension: see `read_dump`); with --sweep one dump
per setting (`results_<i>.npz`).

Loading is strict: a checkpoint that does not fit the config's model is an error naming the keys and what it was
trained with; `--cfg-options load_strict=False` loads only what matches.

With one or more `--sweep` options the checkpoint is evaluated once per setting of their Cartesian product in
one process, and one table is written as CSV and Markdown (next to --out, else in the work dir).
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmengine.dist import is_main_process  # noqa: E402

import imagin4d  # noqa: E402,F401
from imagin4d.engine.config_checks import ConfigOptionsAction  # noqa: E402
from imagin4d.engine.runner_setup import build_runner, load_config, prepare_runtime, run_cli  # noqa: E402
from imagin4d.engine.sweep import apply_setting, expand_grid, parse_sweep_specs, write_table  # noqa: E402
from imagin4d.evaluation.metrics import write_dump  # noqa: E402
from imagin4d.utils.errors import UserError  # noqa: E402
from imagin4d.utils.fileio import check_writable  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) an imagin4d checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for logs and results')
    parser.add_argument('--out', help='write the metrics as JSON to this file')
    parser.add_argument('--dump', help='write per-sample results (.npz) for tools/visualize.py')
    parser.add_argument('--sweep', action='append', default=[], metavar='model.test_cfg.KEY=v1,v2',
                        help='evaluate every value (repeatable: Cartesian product)')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction, help='override config settings')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _jsonable(metrics: dict) -> dict:
    return {k: (v.item() if hasattr(v, 'item') else v) for k, v in metrics.items()}


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise UserError(f'checkpoint {args.checkpoint} does not exist')
    grid = expand_grid(parse_sweep_specs(args.sweep)) if args.sweep else [{}]
    cfg = load_config(args.config, args.cfg_options)
    prepare_runtime(cfg, args.launcher, args.work_dir)
    if is_main_process():                       # outputs that cannot be written: before evaluating, not after
        check_writable(cfg.work_dir, 'the work dir', folder=True)
        for flag, path in (('--out', args.out), ('--dump', args.dump)):
            if path:
                check_writable(path, flag)
    cfg.load_from = args.checkpoint
    if args.dump:
        evaluator = cfg.test_evaluator
        metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else \
            list(evaluator.get('metrics', [evaluator]) if evaluator.get('type') == 'Evaluator' else [evaluator])
        cfg.test_evaluator = [*metrics, dict(type='DumpHOIResults')]
    runner = build_runner(cfg)

    rows = []
    for setting in grid:
        for key, value in setting.items():
            apply_setting(runner.model, key, value)
        if setting:
            runner.logger.info(f'sweep setting: {setting}')
        rows.append({**setting, **_jsonable(runner.test())})
        if args.dump and is_main_process():
            stem, ext = osp.splitext(args.dump)
            path = f'{stem}_{len(rows) - 1}{ext}' if args.sweep else args.dump
            count = write_dump(path, runner.test_evaluator.metrics)
            print(f'{count} samples dumped to {path}')

    if not is_main_process():
        return
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(rows if args.sweep else rows[0], f, indent=2)
        print(f'metrics written to {args.out}')
    if args.sweep:
        prefix = osp.splitext(args.out)[0] if args.out else osp.join(cfg.work_dir, 'sweep')
        csv_path, md_path = write_table(rows, prefix)
        print(f'sweep table written to {csv_path} and {md_path}')
        print(md_path.read_text())


if __name__ == '__main__':
    run_cli(main)

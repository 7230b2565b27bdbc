"""Train a model from a config: `python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]] [--amp]`."""
import argparse
import glob
import logging
import os
import os.path as osp
import re
import sys
from pathlib import Path

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))  # configs may import projects.*

import imagin4d  # noqa: E402,F401  (applies the compat workarounds)
from imagin4d.engine.config_checks import ConfigOptionsAction  # noqa: E402
from imagin4d.engine.runner_setup import build_runner, load_config, prepare_runtime, run_cli  # noqa: E402
from imagin4d.engine.work_dir_lock import hold_work_dir  # noqa: E402
from imagin4d.utils.errors import UserError  # noqa: E402
from imagin4d.utils.fileio import remove_leftover_writes  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train an imagin4d model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints (default: ./work_dirs/<config>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help="resume from the latest checkpoint in the work dir ('auto', or no value), "
                             'or from a given checkpoint PATH')
    parser.add_argument('--amp', action='store_true',
                        help='train the networks in bf16 autocast (model.train_autocast): faster on GPUs and on CPUs '
                             'with AVX512-BF16 / AMX')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction,
                        help='override config settings, e.g. model.image_encoder.type=UniformImageEncoder')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def configure_resume(cfg, resume):
    """Translate --resume into cfg.resume/cfg.load_from; nothing to resume is an error, not a fresh start."""
    if resume is None:
        return
    leftovers = remove_leftover_writes(cfg.work_dir)
    if leftovers:
        print(f'{cfg.work_dir}: removed {len(leftovers)} incomplete file(s) of a killed run: {", ".join(leftovers)}')
    if resume == 'auto':
        marker = osp.join(cfg.work_dir, 'last_checkpoint')
        if not osp.isfile(marker):
            raise UserError(f'--resume: nothing to resume in {cfg.work_dir} (no last_checkpoint file); '
                            'train without --resume, or pass --resume PATH')
        with open(marker) as handle:
            named = handle.read().strip()
        if named and osp.isfile(named):
            cfg.resume, cfg.load_from = True, None
            return
        found = sorted(glob.glob(osp.join(cfg.work_dir, '*_[0-9]*.pth')),
                       key=lambda p: int(re.findall(r'_(\d+)\.pth$', p)[0]) if re.search(r'_\d+\.pth$', p) else -1)
        if not found:
            raise UserError(f'--resume: {marker} names {named or "nothing"} and {cfg.work_dir} holds no checkpoint')
        print(f'--resume: {marker} names {named or "nothing"} (a killed save); resuming from {found[-1]}')
        cfg.resume, cfg.load_from = True, found[-1]
    else:
        if not osp.isfile(resume):
            raise UserError(f'--resume: checkpoint {resume} does not exist')
        cfg.resume, cfg.load_from = True, resume


def configure_amp(cfg):
    """--amp: the networks of every training step in bf16 autocast (`model.train_autocast`), losses in fp32."""
    import inspect

    from mmengine.logging import print_log
    from mmengine.registry import init_default_scope

    from imagin4d.registry import MODELS
    from imagin4d.utils.numerics import bf16_is_fast
    init_default_scope('imagin4d')
    model_type = MODELS.get(cfg.model.get('type'))
    if model_type is None or 'train_autocast' not in inspect.signature(model_type).parameters:
        raise UserError(f"--amp: the model {cfg.model.get('type')} of {cfg.filename} has no train_autocast option "
                        '(HOIDiffusion has)')
    if not bf16_is_fast():
        print_log('note: --amp on a CPU without bf16 instructions (AVX512-BF16 / AMX): bf16 autocast is emulated '
                  'there and usually slower than fp32', logger='current', level=logging.WARNING)
    cfg.model.train_autocast = 'bfloat16'


def say_cpu_cost(cfg):
    """One line at start when a GPU-sized config (one with `cpu_cost`) runs without CUDA: the measured cost of an
    iteration on a CPU and the config of the same variant meant for CPUs."""
    import torch
    from mmengine.logging import print_log
    cost = cfg.get('cpu_cost')
    if not cost or torch.cuda.is_available():
        return
    variant = Path(cfg.filename).stem.split('_', 1)[-1]          # fbm_sfie -> sfie, behave_no_image -> no_image
    cpu = osp.join(osp.dirname(cfg.filename), cost.get('cpu_config', '').format(variant=variant))
    cpu = osp.relpath(cpu) if osp.isfile(cpu) else 'projects/imagin4d/mini_fbm_*.py'
    print_log(f'note: {osp.basename(cfg.filename)} is sized for GPUs; without CUDA one iteration takes about '
              f"{cost.get('seconds_per_iter')} s and {cost.get('memory')} of memory (measured: "
              f"{cost.get('measured')}); the config meant for CPUs is {cpu} (mini model and schedule)",
              logger='current', level=logging.WARNING)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    say_cpu_cost(cfg)
    prepare_runtime(cfg, args.launcher, args.work_dir)
    if args.amp:
        configure_amp(cfg)
    with hold_work_dir(cfg.work_dir):          # one training per work dir (a second one is refused)
        configure_resume(cfg, args.resume)
        build_runner(cfg).train()


if __name__ == '__main__':
    run_cli(main)

"""What tools/train.py and tools/test.py share: loading a config, preparing the runtime (plugins, CPU
distributed launch, default hooks) and turning known user errors into one clear message."""
import os
import sys
from pathlib import Path

from mmengine.config import Config

from imagin4d.engine import config_checks
from imagin4d.engine.config_checks import ConfigError, check_cfg_options, check_component_types, resolve_hook_keys
from imagin4d.engine.config_derive import derive_settings
from imagin4d.engine.hooks.random_state_hook import track_worker_states
from imagin4d.registry import explain_key_error
from imagin4d.utils import compat
from imagin4d.utils.errors import UserError
from imagin4d.utils.plugins import load_plugins, record_custom_imports

#: Hooks every run gets (a config listing one keeps its own settings): plugin versions in the log and the
#: checkpoints; strict checkpoint loading (`load_strict=False` to fine-tune from another variant); a stop on a
#: non-finite loss or gradient; the random state saved in checkpoints and restored on resume (a resumed run repeats
#: the uninterrupted run's draws).
DEFAULT_HOOKS = ('PluginInfoHook', 'StrictLoadHook', 'NonFiniteStopHook', 'RandomStateHook')


def load_config(path: str, cfg_options=None) -> Config:
    """Read a config file, apply `--cfg-options` (hooks may be named by type), and set the defaults and derived
    settings every imagin4d run relies on (`config_derive`: body_model_root, short runs)."""
    if not Path(path).is_file():
        raise UserError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg_options = resolve_hook_keys(cfg, cfg_options)
        check_cfg_options(cfg, cfg_options)
        try:
            cfg.merge_from_dict(cfg_options)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f'--cfg-options {" ".join(cfg_options)}: cannot be merged into {path} ({err})') \
                from None
    cfg.setdefault('default_scope', 'imagin4d')
    derive_settings(cfg)
    return cfg


def prepare_runtime(cfg: Config, launcher: str, work_dir: str = None) -> Config:
    """Plugins, launcher, work dir, torch threads and the DEFAULT_HOOKS; returns the same (mutated) config."""
    load_plugins()
    record_custom_imports((cfg.get('custom_imports') or {}).get('imports'))
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = os.path.join('./work_dirs', Path(cfg.filename).stem)
    hooks = list(cfg.get('custom_hooks') or [])
    for name in DEFAULT_HOOKS:
        if not any(str(h.get('type', '')).endswith(name) for h in hooks):
            hooks.append(dict(type=name))
    cfg.custom_hooks = hooks
    track_worker_states(cfg)        # for RandomStateHook: the data workers' random state travels with each batch
    check_component_types(cfg)
    threads = cfg.get('torch_num_threads')
    if threads:
        # Small CPU models: intra-op threads cost more than they give on a busy 2-core machine (the mini configs
        # set 1; benchmarks/results/ has the measurement). Set 0/None to keep torch's default.
        import torch
        torch.set_num_threads(int(threads))
    import torch
    if (cfg.get('model') or {}).get('flush_denormal', True) and torch.get_num_threads() > 1:
        # HOIDiffusion flushes subnormal floats inside its own steps (flush_denormal, issue 23). The flag is per
        # thread and intra-op threads inherit it when they start: start them here with it (they run only torch
        # kernels); the main thread stays IEEE outside the steps (SciPy's cKDTree crashes under flush-to-zero).
        torch.set_flush_denormal(True)
        torch.ones(1 << 20).mul_(1.0)           # a parallel kernel: the thread pool starts now
        torch.set_flush_denormal(False)
    if any((cfg.get(loader) or {}).get('num_workers') for loader in ('train_dataloader', 'val_dataloader',
                                                                     'test_dataloader')):
        # Loader workers hand each batch's tensors (about 480 for a mini-FBM batch of 16) to the main process
        # through shared memory. torch's default strategy passes one file descriptor per tensor over a socket that
        # the worker must answer; 'file_system' opens the segment by name: the main thread's cost per batch halves
        # (43 -> 22 ms of CPU) and it no longer waits on a busy worker (benchmarks/results/runtime_settings_cpu.md).
        torch.multiprocessing.set_sharing_strategy('file_system')
    if compat.init_cpu_distributed(launcher):
        cfg.model_wrapper_cfg = compat.cpu_distributed_wrapper_cfg()
    return cfg


def build_runner(cfg: Config):
    """Runner.from_cfg, or the registered runner type when the config names one."""
    from mmengine.runner import Runner

    from imagin4d.registry import RUNNERS
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def run_cli(main) -> None:
    """Run a tool's main(); known user errors print one line (set IMAGIN4D_DEBUG=1 for the traceback)."""
    try:
        main()
        compat.exit_distributed_run()
    except (UserError, FileNotFoundError, KeyError, TypeError) as err:
        if isinstance(err, TypeError):           # only a component given a setting it does not take
            message = config_checks.explain_unexpected_setting(err)
        else:
            message = explain_key_error(err) if isinstance(err, KeyError) else compat.worker_error_message(str(err))
        if os.environ.get('IMAGIN4D_DEBUG') == '1' or message is None:
            raise
        print(f'error: {message}\n(set IMAGIN4D_DEBUG=1 to see the traceback)', file=sys.stderr)
        sys.exit(1)

"""StrictLoadHook: `load_from`, `--resume` and `tools/test.py` refuse a checkpoint that does not fit the model, and
`--resume` refuses a config that changes the optimiser or schedule settings the checkpoint restores."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import find_latest_checkpoint

from imagin4d.engine.checkpoint import OPTIONAL_STATE_KEYS, check_checkpoint_matches, check_resume_settings, config_name
from imagin4d.registry import HOOKS


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Checks every checkpoint the Runner loads against the model before any weight is copied
    (`imagin4d.engine.checkpoint.check_checkpoint_matches`); registered by default by `prepare_runtime`.

    The config key `load_strict` (default True) is the opt-out for fine-tuning from another variant: False loads
    what matches and logs the rest as a warning. `optional_keys` are model state that older checkpoints lack.
    On resume the config's `RESUME_SETTINGS` (optimiser, schedule) must be those of the checkpoint's saved config.
    """
    priority = 'VERY_HIGH'       # before EMAHook copies the weights into its averaged model

    def __init__(self, optional_keys=OPTIONAL_STATE_KEYS):
        self.optional_keys = tuple(optional_keys)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        cfg = runner.cfg
        source = cfg.get('load_from') or (find_latest_checkpoint(runner.work_dir) if cfg.get('resume') else None)
        source = source or 'the checkpoint'
        check_checkpoint_matches(model, checkpoint, source, config_name(cfg), model_cfg=cfg.get('model'),
                                 optional_keys=self.optional_keys, strict=bool(cfg.get('load_strict', True)),
                                 logger=runner.logger)
        if cfg.get('resume'):
            check_resume_settings(checkpoint, cfg, source)

"""Strict checkpoint matching: one check used by `init_model` (generation), `tools/test.py`, `load_from` and
`--resume` (through `StrictLoadHook`).

A checkpoint whose weights do not fit the model (keys missing or unexpected, shapes that differ) is refused with one
line naming them and what the checkpoint was trained with (mmengine keeps the config text in
`checkpoint['meta']['cfg']`): loading only what matches would leave parts of the model random and still score it.
Fine-tuning from another variant is the explicit opt-out: `load_strict = False` in the config
(`--cfg-options load_strict=False`), which loads what matches and logs what did not.

Resuming also refuses a config whose optimiser or schedule settings (`RESUME_SETTINGS`) differ from the ones the
checkpoint was trained with: mmengine restores the optimiser's and schedulers' state on resume, which would
silently keep the old learning rate while the saved config shows the new one. Other settings (`max_iters`,
intervals, data loading) may change on resume. To train on from a checkpoint with new optimiser settings, start a
new run from its weights (`--cfg-options load_from=CKPT`: fresh optimiser state and schedule).
"""
from collections import OrderedDict
from typing import Iterable, List, Optional, Tuple

from imagin4d.utils.errors import CheckpointError

__all__ = ['CheckpointMismatchError', 'ResumeSettingsError', 'checkpoint_state_dict', 'check_checkpoint_matches',
           'check_resume_settings', 'trained_with', 'OPTIONAL_STATE_KEYS', 'RESUME_SETTINGS']

#: Model state that checkpoints written before it existed lack (the model fills it with a fallback).
OPTIONAL_STATE_KEYS = ('data_preprocessor.start_pose', 'data_preprocessor.start_object_xy',
                       'data_preprocessor.start_ready')

#: How a user loads only what matches (named in every mismatch message).
OPT_OUT = 'to load only the matching weights (fine-tuning), pass --cfg-options load_strict=False'


#: Config sections that a resumed run must share with its checkpoint (their state is restored from it).
RESUME_SETTINGS = ('optim_wrapper', 'param_scheduler')


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose weights do not fit the model; names the keys and what the checkpoint was trained with."""


class ResumeSettingsError(CheckpointError):
    """A resume whose config changes optimiser or schedule settings the checkpoint restores."""


def checkpoint_state_dict(checkpoint, filename: str) -> 'OrderedDict':
    """The weights of a loaded checkpoint (its `state_dict`, or the dict itself), without DDP's `module.` prefix."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(hasattr(v, 'shape') for v in state.values()):
        raise CheckpointError(f'{filename} holds no state_dict of tensors: not an imagin4d/mmengine checkpoint')
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in state.items())


def _flatten(value, prefix: str = '') -> dict:
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, (dict, list, tuple)) and (isinstance(value, dict) or any(isinstance(v, dict) for v in value)):
        flat = {}
        for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
            flat.update(_flatten(item, f'{prefix}{key}.'))
        return flat or {prefix.rstrip('.'): {}}
    return {prefix.rstrip('.'): list(value) if isinstance(value, tuple) else value}


def _differences(old, new, limit: int) -> List[str]:
    """`key=old (here: new)` for the settings that differ between two (nested) config values, components first."""
    old, new = _flatten(old), _flatten(new)

    def lookup(flat, key):
        return flat.get(key, flat.get(key.rsplit('.', 1)[0], None))
    keys = [k for k in dict.fromkeys((*old, *new)) if lookup(old, k) != lookup(new, k)]
    keys.sort(key=lambda k: (not k.endswith('.type'), k.count('.'), len(k)))   # components first
    parts = []
    for key in keys[:limit]:
        name = key[:-5] if key.endswith('.type') else key
        parts.append(f'{name}={lookup(old, key)!r} (here: {lookup(new, key)!r})'.replace("'", ''))
    if len(keys) > limit:
        parts.append(f'... {len(keys) - limit} more settings')
    return parts


def _saved_config(checkpoint):
    """The config a checkpoint was trained with (mmengine keeps its text in meta.cfg), or None."""
    meta = (checkpoint.get('meta') or {}) if isinstance(checkpoint, dict) else {}
    if not meta.get('cfg'):
        return None
    from mmengine.config import Config
    try:
        return Config.fromstring(meta['cfg'], '.py')
    except Exception:  # noqa: BLE001 - an unreadable saved config only loses the comparison
        return None


def trained_with(checkpoint, model_cfg=None, limit: int = 4) -> str:
    """What the checkpoint was trained with: its experiment (config name + time) and the model settings of its
    saved config that differ from `model_cfg` (`image_encoder=SpatiallyQFormer (here: None)`); '' when unknown."""
    meta = (checkpoint.get('meta') or {}) if isinstance(checkpoint, dict) else {}
    saved = _saved_config(checkpoint) if model_cfg is not None else None
    parts = _differences(saved.get('model') or {}, model_cfg, limit) if saved is not None else []
    experiment = meta.get('experiment_name')
    where = f"experiment {experiment}'s config" if experiment else ''
    if parts:
        return 'it was trained with ' + ', '.join(parts) + (f' ({where})' if where else '')
    return f'it was trained with {where}' if where else ''


def check_resume_settings(checkpoint, cfg, filename: str, limit: int = 4) -> None:
    """Raise `ResumeSettingsError` naming the `RESUME_SETTINGS` of `cfg` that differ from the checkpoint's saved
    config (nothing to compare when the checkpoint holds no config)."""
    saved = _saved_config(checkpoint)
    if saved is None:
        return
    parts = [p for section in RESUME_SETTINGS
             for p in _differences({section: saved.get(section)}, {section: cfg.get(section)}, limit)]
    if parts:
        raise ResumeSettingsError(
            f'--resume: the config changes settings that {filename} restores: {", ".join(parts[:limit])}; '
            'resuming would keep the checkpoint\'s optimiser state and schedule. Resume with the settings it was '
            f'trained with, or start a new run from its weights with --cfg-options load_from={filename}')


def check_checkpoint_matches(model, checkpoint, filename: str, config_name: str = '', model_cfg=None,
                             optional_keys: Iterable[str] = (), strict: bool = True,
                             logger=None) -> Tuple[List[str], List[str], List[str]]:
    """Compare a loaded checkpoint's weights with `model.state_dict()`.

    Raises `CheckpointMismatchError` when keys are missing (other than `optional_keys`: state that older
    checkpoints lack and the model fills itself), unexpected, or of another shape; with `strict=False` logs the
    same line as a warning instead (fine-tuning). Returns (missing, unexpected, shapes).
    """
    state = checkpoint_state_dict(checkpoint, filename)
    own = model.state_dict()
    optional = set(optional_keys)
    missing = [k for k in own if k not in state and k not in optional]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in own
              if k in state and hasattr(state[k], 'shape') and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        hint = trained_with(checkpoint, model_cfg)
        message = (f'{filename} does not match the config {config_name}: {len(missing)} missing {missing[:4]}, '
                   f'{len(unexpected)} unexpected {unexpected[:4]}, {len(shapes)} of another shape {shapes[:3]}'
                   f'{"; " + hint if hint else ""}')
        if strict:
            raise CheckpointMismatchError(f'{message}; {OPT_OUT}')
        if logger is not None:
            logger.warning(f'{message}; load_strict=False: loading only the matching weights')
    return missing, unexpected, shapes


def config_name(cfg: Optional[object]) -> str:
    """The file a config was read from ('' for a config built in code)."""
    return str(getattr(cfg, 'filename', '') or '')

"""Checks of a config and its `--cfg-options` before anything is built, so a mistake is one line naming the key.

Owns what is checked:

- the syntax of every `--cfg-options` item (`KEY=VALUE`; `ConfigOptionsAction`);
- the value of an option that replaces a number or a boolean of the config must be one too (`max_iters=abc`);
- an option that adds a key to a component (a dict with a `type`, or a loop / data loader) must be a setting that
  the component's class takes (`train_cfg.max_iter=5` is not a setting of IterBasedTrainLoop), unless the class
  takes any keyword (`**kwargs`), and of the type of its default when that is a number or a boolean (the class is
  the one of a `type` given in the same options, when there is one);
- an option that replaces a dict of settings must be one (or None), and an option for a setting of a component
  whose class annotates it (`clip_grad: Optional[dict]`, `betas: tuple[float, float]`, `save_best: str | None`)
  must be of that type, also where there is no typed default (annotations of basic types only: numbers,
  booleans, strings, None, dicts, lists / tuples, literals; anything else is left to the builder). Components
  nested in others (`model.denoiser`) are found by their `type` in the model or domain registries;
- a hook of `custom_hooks` named by its type (`custom_hooks.EMAHook.momentum=0.001`) stands for its list index
  (`resolve_hook_keys`; a type listed twice must be named by index);
- the `type` of every top-level component (model, optimiser and its wrapper, schedulers, data sets and samplers,
  hooks, loops) is registered: an unknown one is named with its key and the closest registered names.

Components whose class cannot be resolved here (deeper ones, built by their parent) are left to their builder; a
setting their class does not take (mmengine's "got an unexpected keyword argument" TypeError) is turned into one
line naming the class, the key and what it takes by the tools (`explain_unexpected_setting`, in `run_cli`).
"""
import collections.abc
import inspect
import re
import types
import typing
from typing import Optional

from mmengine.config import DictAction

from imagin4d.utils.errors import UserError

__all__ = ['ConfigError', 'ConfigOptionsAction', 'check_cfg_options', 'check_component_types', 'resolve_hook_keys',
           'explain_unexpected_setting']


class ConfigError(UserError, ValueError):
    """A config setting or `--cfg-options` item that cannot work: names the key and what was expected."""


class ConfigOptionsAction(DictAction):
    """`DictAction` whose malformed items (no `=`) are a `ConfigError` naming them."""

    def __call__(self, parser, namespace, values, option_string=None):
        bad = [v for v in values if '=' not in v or not v.split('=', 1)[0].strip()]
        if bad:
            raise ConfigError(f'--cfg-options {bad[0]!r}: expected KEY=VALUE (e.g. train_cfg.max_iters=100)')
        super().__call__(parser, namespace, values, option_string)


def _registry_of(path: tuple):
    """The registry a component at `path` (a tuple of keys) is built from, or None when not known here."""
    from imagin4d import registry as r
    head, depth = (path[0] if path else ''), len(path)
    if path == ('model',):
        return r.MODELS
    if path == ('optim_wrapper',):
        return r.OPTIM_WRAPPERS
    if path == ('optim_wrapper', 'optimizer'):
        return r.OPTIMIZERS
    if head == 'param_scheduler' and depth <= 2:
        return r.PARAM_SCHEDULERS
    if head.endswith('_dataloader') and depth == 2 and path[1] in ('dataset', 'sampler'):
        return r.DATASETS if path[1] == 'dataset' else r.DATA_SAMPLERS
    if (head == 'default_hooks' and depth == 2) or (head == 'custom_hooks' and depth == 2):
        return r.HOOKS
    if head in ('train_cfg', 'val_cfg', 'test_cfg') and depth == 1:
        return r.LOOPS
    return None


def _default_type(path: tuple, node: dict):
    """The class mmengine builds for a component without `type` (loops, data loaders), or None."""
    if path == ('train_cfg',):
        return 'EpochBasedTrainLoop' if node.get('by_epoch', False) else 'IterBasedTrainLoop'
    if path in (('val_cfg',), ('test_cfg',)):
        return 'ValLoop' if path[0] == 'val_cfg' else 'TestLoop'
    return None


#: Keys a builder consumes besides the class's own arguments.
_CONSUMED = {'train_cfg': {'type', 'by_epoch'}, 'dataloader': {'dataset', 'sampler', 'batch_sampler', 'collate_fn',
             'worker_init_fn', 'disable_subprocess_warning', 'num_batch_per_epoch', 'type'}}


def _nested_class(path: tuple, name: str):
    """The class of a component nested in a model (`model.denoiser`): the one registered as `name` in the model
    registry or a domain registry (motion codecs, diffusion schedulers, ...); None when not exactly one."""
    from mmengine.registry import Registry

    from imagin4d import registry as r
    if path[0] != 'model':
        return None
    found = {id(c): c for reg in (r.MODELS, r.MOTION_CODECS, r.DIFFUSION_SCHEDULERS, r.ATTENTION_BACKENDS,
                                  r.BODY_MODELS) if isinstance(reg, Registry) for c in [reg.get(name)] if c}
    return next(iter(found.values())) if len(found) == 1 else None


def _component_class(path: tuple, node) -> Optional[type]:
    if len(path) == 1 and path[0].endswith('_dataloader'):
        from torch.utils.data import DataLoader
        return DataLoader
    registry = _registry_of(path)
    name = node.get('type', _default_type(path, node)) if isinstance(node, dict) else None
    if registry is None or not isinstance(name, str):
        return name if isinstance(name, type) else None
    return registry.get(name)


def _parameters(cls) -> tuple:
    """({name: (default, annotation)} of what `cls(...)` takes by name, whether it takes any keyword); ({}, True)
    when it cannot be inspected. String annotations are evaluated where they can be."""
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return {}, True
    init = getattr(cls, '__init__', cls)
    names = getattr(init, '__globals__', {})
    taken = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = p.annotation
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(names))    # noqa: S307 (the class's own annotation text)
            except Exception:
                annotation = p.empty
        taken[p.name] = (None if p.default is p.empty else p.default, annotation)
    return taken, any(p.kind is p.VAR_KEYWORD for p in params)


_BASIC = ((bool, 'True or False', bool), (int, 'a number', (int, float)), (float, 'a number', (int, float)),
          (str, 'a string', str), (dict, 'a dict', dict), (list, 'a list', (list, tuple)),
          (tuple, 'a tuple', (list, tuple)), (collections.abc.Mapping, 'a dict', dict),
          (collections.abc.Sequence, 'a list', (list, tuple, str)), (collections.abc.Iterable, 'a list',
                                                                      (list, tuple, str)))


def _kinds(annotation) -> Optional[list]:
    """[(description, accepts(value))] an annotation admits, or None when it is not built of basic types only."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [_kinds(a) for a in args]
        return None if any(k is None for k in parts) else [k for part in parts for k in part]
    if origin is typing.Literal:
        return [(' or '.join(map(repr, args)), lambda v: v in args)]
    if annotation is type(None) or annotation is None:
        return [('None', lambda v: v is None)]
    import torch
    if annotation is torch.Tensor:
        return []                                   # a command-line value is never a tensor
    base = origin or annotation
    for kind, description, accepted in _BASIC:
        if base is kind:
            return [(description, lambda v, a=accepted: isinstance(v, a) and (a is bool or a is str
                                                                               or not isinstance(v, bool)))]
    return None


def _not_annotated_as(annotation, value) -> Optional[str]:
    """What `value` should be per `annotation`, when it is not that; None when it is or the annotation is not
    made of basic types."""
    kinds = _kinds(annotation) if annotation is not inspect.Parameter.empty else None
    if not kinds or any(accepts(value) for _, accepts in kinds):
        return None
    names = list(dict.fromkeys(description for description, _ in kinds))
    return ', '.join(names[:-1]) + (' or ' if len(names) > 1 else '') + names[-1]


def _walk(cfg, key: str):
    """(parents [(path, node)], found, value) of a dotted key in a config (list items by index)."""
    node, path, parents = (cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg), (), []
    parts = key.split('.')
    for i, part in enumerate(parts):
        parents.append((path, node))
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return parents, False, None
        path = path + (part,)
    return parents, True, node


def _expected(old, new) -> Optional[str]:
    """What the value of an option replacing `old` should be, when `new` is not that; else None."""
    if new is None or old is None:
        return None
    if isinstance(old, bool):
        return None if isinstance(new, bool) else 'True or False'
    if isinstance(old, (int, float)):
        return None if isinstance(new, (int, float)) and not isinstance(new, bool) else f'a number (like {old!r})'
    if isinstance(old, dict) and 'type' in old and not isinstance(new, (dict, str)):
        return f"a dict of settings (the config has {old['type']})"
    if isinstance(old, dict) and 'type' not in old and not isinstance(new, dict):
        return f'a dict of settings like {old!r}, or None'
    return None


def _type_name(hook) -> str:
    name = hook.get('type', '') if isinstance(hook, dict) else ''
    return (name if isinstance(name, str) else getattr(name, '__name__', str(name))).split('.')[-1]


def resolve_hook_keys(cfg, options: dict) -> dict:
    """`options` with `custom_hooks.<Type>.<key>` written as `custom_hooks.<index>.<key>` (the hook of that type)."""
    hooks = list(cfg.get('custom_hooks') or [])
    resolved = {}
    for key, value in (options or {}).items():
        parts = key.split('.')
        if len(parts) > 2 and parts[0] == 'custom_hooks' and not parts[1].isdigit():
            found = [i for i, h in enumerate(hooks) if _type_name(h) == parts[1]]
            if len(found) != 1:
                listed = ', '.join(f'{i}: {_type_name(h)}' for i, h in enumerate(hooks)) or 'none'
                why = 'is not in custom_hooks' if not found else 'is listed more than once; name it by index'
                raise ConfigError(f'--cfg-options {key}: hook {parts[1]!r} {why} (custom_hooks: {listed})')
            key = '.'.join([parts[0], str(found[0]), *parts[2:]])
        resolved[key] = value
    return resolved


def check_cfg_options(cfg, options: dict) -> None:
    """Check `--cfg-options` against the config they are merged into (call before merging)."""
    for key, value in (options or {}).items():
        parents, found, old = _walk(cfg, key)
        expected = _expected(old, value) if found else None
        if expected:
            raise ConfigError(f'--cfg-options {key}={value!r}: expected {expected}')
        if len(parents) != len(key.split('.')):
            continue                                 # a new branch of the config: nothing to compare with
        path, node = parents[-1]
        new_type = options.get('.'.join((*path, 'type')))
        if isinstance(node, dict) and isinstance(new_type, str):
            node = dict(node, type=new_type)         # the class the same options swap in
        cls = _component_class(path, node) if path else None
        nested = cls is None and path and isinstance(node, dict) and isinstance(node.get('type'), str)
        cls = _nested_class(path, node['type']) if nested else cls
        if cls is None:
            continue
        leaf = key.split('.')[-1]
        consumed = _CONSUMED['dataloader'] if path[0].endswith('_dataloader') and len(path) == 1 else \
            _CONSUMED.get(path[0], {'type'}) if len(path) == 1 else {'type'}
        takes, any_keyword = _parameters(cls)
        if leaf in consumed:
            continue
        if leaf not in takes:
            if found or any_keyword:
                continue
            names = [n for n in takes if n not in ('runner', 'dataloader', 'dataset', 'params')]
            raise ConfigError(f'--cfg-options {key}: {".".join(path)} ({cls.__name__}) has no setting {leaf!r}; '
                              f'it takes {", ".join(names)}')
        default, annotation = takes[leaf]
        expected = None if found else _expected(default, value)
        if expected:
            raise ConfigError(f'--cfg-options {key}={value!r}: expected {expected}')
        expected = None if value is None and default is None else _not_annotated_as(annotation, value)
        if expected:
            default = '' if default is None else f', default {default!r}'
            raise ConfigError(f'--cfg-options {key}={value!r}: expected {expected} ({cls.__name__}.{leaf}{default})')


def _components(cfg):
    for head in ('model', 'optim_wrapper', 'train_cfg', 'val_cfg', 'test_cfg'):
        if isinstance(cfg.get(head), dict):
            yield (head,), cfg[head]
    if isinstance(cfg.get('optim_wrapper'), dict) and isinstance(cfg.optim_wrapper.get('optimizer'), dict):
        yield ('optim_wrapper', 'optimizer'), cfg.optim_wrapper.optimizer
    schedulers = cfg.get('param_scheduler')
    if isinstance(schedulers, dict):
        yield ('param_scheduler',), schedulers
    for i, item in enumerate(schedulers if isinstance(schedulers, (list, tuple)) else []):
        yield ('param_scheduler', str(i)), item
    for name, hook in (cfg.get('default_hooks') or {}).items():
        yield ('default_hooks', name), hook
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        yield ('custom_hooks', str(i)), hook
    for head in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for part in ('dataset', 'sampler'):
            if isinstance(cfg.get(head), dict) and isinstance(cfg[head].get(part), dict):
                yield (head, part), cfg[head][part]


def check_component_types(cfg) -> None:
    """Every top-level component's `type` is registered (an unknown one: `ConfigError` naming its key)."""
    from imagin4d.registry import unknown_type_message
    for path, node in _components(cfg):
        name = node.get('type') if isinstance(node, dict) else None
        registry = _registry_of(path)
        if isinstance(name, str) and registry is not None and registry.get(name) is None:
            raise ConfigError(f'{".".join(path)}.type: {unknown_type_message(name, registry)}')


_UNEXPECTED = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def explain_unexpected_setting(err: TypeError) -> Optional[str]:
    """One line for a component built with a setting its class does not take (a misspelt key of the config or of
    `--cfg-options` deeper than `check_cfg_options` resolves): the class mmengine's `build_from_cfg` was building
    (read from the traceback), the key and the settings it takes; None for another TypeError."""
    unexpected = _UNEXPECTED.search(str(err))
    if unexpected is None:
        return None
    owner, key = unexpected.groups()
    built, tb = [], err.__traceback__
    while tb is not None:                       # outermost first: the components being built, nested
        if tb.tb_frame.f_code.co_name == 'build_from_cfg' and isinstance(tb.tb_frame.f_locals.get('obj_cls'), type):
            built.append(tb.tb_frame.f_locals['obj_cls'])
        tb = tb.tb_next
    if not built:
        return f'{owner} has no setting {key!r} (a misspelt key in the config or in --cfg-options?)'
    cls = built[-1]
    names = [c.__name__ for c in cls.__mro__]
    chain = cls.__mro__[:names.index(owner) + 1] if owner in names else (cls,)   # the classes kwargs reach
    named = dict.fromkeys(n for c in chain for n in _parameters(c)[0])
    inside = f' (inside {" > ".join(c.__name__ for c in built[:-1])})' if len(built) > 1 else ''
    return (f'{cls.__name__}{inside} has no setting {key!r} (a misspelt key in the config or in --cfg-options?); '
            f'it takes {", ".join(named)}')

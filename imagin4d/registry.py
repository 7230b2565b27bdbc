"""Every imagin4d registry, in one file.

Each generic registry is a child of mmengine's root registry with explicit `locations`, so a config's
`type='Name'` resolves without manual imports. The domain registries (motion codecs, diffusion schedulers,
attention backends, render styles) have no mmengine parent. Cue encoders and image backbones live in
MODELS (they are nn.Modules). An unknown `type` raises a KeyError that names the registry and the closest
registered names.
"""
import difflib
import re
from typing import Callable, Optional

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry, build_from_cfg


def registered_names(registry: Registry) -> list:
    """All names visible from `registry`: its own and its parents' (the lookup order of mmengine)."""
    names, node = [], registry
    while node is not None:
        node.import_from_location()
        names.extend(node.module_dict)
        node = node.parent
    return names


def unknown_type_message(obj_type: str, registry: Registry) -> str:
    """The error text for a `type` that `registry` (and its parents) do not know, with close matches."""
    known = registered_names(registry)
    close = difflib.get_close_matches(obj_type.split('.')[-1], known, n=5, cutoff=0.4)
    hint = ', '.join(close) if close else 'none similar'
    return (f"unknown type '{obj_type}' in the '{registry.name}' registry (scope '{registry.scope}'); "
            f"closest registered names: {hint}. A plugin type needs custom_imports or a scope prefix "
            f"such as 'mycues.{obj_type.split('.')[-1]}'.")


_MMENGINE_UNKNOWN = re.compile(r'(\S+) is not in the (\w+)::(.+?) registry')


def explain_key_error(err: KeyError) -> Optional[str]:
    """Rewrite mmengine's 'X is not in the scope::name registry' KeyError (raised when the Runner builds
    through mmengine's root registries); None for any other KeyError."""
    text = str(err.args[0]) if err.args else ''
    if 'closest registered names' in text:
        return text
    match = _MMENGINE_UNKNOWN.search(text)
    if match is None:
        return None
    obj_type, scope, name = match.groups()
    for candidate in globals().values():
        if isinstance(candidate, Registry) and candidate.scope == scope and candidate.name == name:
            return unknown_type_message(obj_type, candidate)
    return text


def _suggesting(build_func: Callable) -> Callable:
    """Wrap a registry build function so an unknown `type` names the registry and close matches."""

    def build(cfg, registry, *args, **kwargs):
        try:
            return build_func(cfg, registry, *args, **kwargs)
        except KeyError as err:
            message = explain_key_error(err)
            if message is None or message == str(err.args[0]):
                raise
            raise KeyError(message) from None

    return build


def _child(name: str, parent: Registry, locations: list) -> Registry:
    return Registry(name, parent=parent, locations=locations,
                    build_func=_suggesting(parent.build_func or build_from_cfg))


RUNNERS = _child('runner', MMENGINE_RUNNERS, ['imagin4d.engine'])
LOOPS = _child('loop', MMENGINE_LOOPS, ['imagin4d.engine'])
HOOKS = _child('hook', MMENGINE_HOOKS, ['imagin4d.engine.hooks'])
LOG_PROCESSORS = _child('log processor', MMENGINE_LOG_PROCESSORS, ['imagin4d.engine'])
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, ['imagin4d.engine'])
OPTIM_WRAPPERS = _child('optim wrapper', MMENGINE_OPTIM_WRAPPERS, ['imagin4d.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, ['imagin4d.engine'])
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS, ['imagin4d.engine'])
DATASETS = _child('dataset', MMENGINE_DATASETS, ['imagin4d.datasets'])
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, ['imagin4d.datasets'])
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, ['imagin4d.datasets.transforms'])
MODELS = _child('model', MMENGINE_MODELS, ['imagin4d.models'])
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS, ['imagin4d.models'])
METRICS = _child('metric', MMENGINE_METRICS, ['imagin4d.evaluation'])
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, ['imagin4d.evaluation'])
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS, ['imagin4d.visualization'])
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS, ['imagin4d.visualization'])
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, ['imagin4d.utils'])

# Domain registries (no mmengine counterpart).
MOTION_CODECS = Registry('motion codec', locations=['imagin4d.models.codecs'],
                         build_func=_suggesting(build_from_cfg))
DIFFUSION_SCHEDULERS = Registry('diffusion scheduler', locations=['imagin4d.models.schedulers'],
                                build_func=_suggesting(build_from_cfg))
ATTENTION_BACKENDS = Registry('attention backend', locations=['imagin4d.models.layers'],
                              build_func=_suggesting(build_from_cfg))
BODY_MODELS = Registry('body model', locations=['imagin4d.body_models'],
                       build_func=_suggesting(build_from_cfg))
RENDER_STYLES = Registry('render style', locations=['imagin4d.rendering'],
                         build_func=_suggesting(build_from_cfg))

"""Registries: children of mmengine's, lazy `locations`, scope-prefixed plugin types, clear unknown-type errors."""
import sys
import textwrap

import pytest
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import init_default_scope

from imagin4d import registry


def test_registries_are_scoped_children_of_mmengine():
    assert registry.MODELS.parent is MMENGINE_MODELS
    assert registry.MODELS.scope == 'imagin4d'
    for reg in (registry.MOTION_CODECS, registry.DIFFUSION_SCHEDULERS, registry.ATTENTION_BACKENDS,
                registry.BODY_MODELS, registry.RENDER_STYLES):
        assert reg.scope == 'imagin4d' and reg._locations


def test_locations_import_lazily():
    assert {'sdpa', 'math', 'xformers'} <= set(registry.registered_names(registry.ATTENTION_BACKENDS))
    assert 'PluginInfoHook' in registry.registered_names(registry.HOOKS)


def test_unknown_type_lists_close_names():
    with pytest.raises(KeyError) as info:
        registry.HOOKS.build(dict(type='PluginInfoHok'))
    message = info.value.args[0]
    assert "unknown type 'PluginInfoHok' in the 'hook' registry" in message
    assert 'PluginInfoHook' in message


def test_scope_prefixed_plugin_type_resolves(tmp_path, monkeypatch):
    package = tmp_path / 'scopedcues'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'registry.py').write_text(textwrap.dedent('''
        from mmengine.registry import Registry
        from imagin4d.registry import MODELS as IMAGIN4D_MODELS
        MODELS = Registry('model', parent=IMAGIN4D_MODELS, locations=['scopedcues.models'])
    '''))
    (package / 'models.py').write_text(textwrap.dedent('''
        import torch
        from scopedcues.registry import MODELS

        @MODELS.register_module()
        class DepthCueV1(torch.nn.Module):
            def __init__(self, dim=4):
                super().__init__()
                self.proj = torch.nn.Linear(dim, dim)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    init_default_scope('imagin4d')
    module = registry.MODELS.build(dict(type='scopedcues.DepthCueV1', dim=3))
    assert type(module).__name__ == 'DepthCueV1' and module.proj.in_features == 3
    # an unscoped name does not resolve from imagin4d's registry (lookups go to parents, not children)
    with pytest.raises(KeyError):
        registry.MODELS.build(dict(type='DepthCueV1'))
    for name in [m for m in sys.modules if m.startswith('scopedcues')]:
        del sys.modules[name]

"""Discovery of third-party plugins through the `imagin4d.plugins` entry-point group.

A plugin package declares `[project.entry-points."imagin4d.plugins"] name = "module"`; loading imports the
module, which registers its classes. A plugin that fails to import is reported, never fatal.
`IMAGIN4D_PLUGINS=0` turns discovery off (configs can still import plugins with `custom_imports`).
"""
import importlib
import os
import sys
import traceback
from importlib import metadata

ENTRY_POINT_GROUP = 'imagin4d.plugins'

# name -> dict(module, version, status[, error]); filled by load_plugins and by configs' custom_imports.
LOADED_PLUGINS = {}


def _distribution_version(entry_point) -> str:
    dist = getattr(entry_point, 'dist', None)
    return dist.version if dist is not None else 'unknown'


def load_plugins(logger=None) -> dict:
    """Import every `imagin4d.plugins` entry point; return {name: info} (also kept in LOADED_PLUGINS)."""
    if os.environ.get('IMAGIN4D_PLUGINS', '1').strip().lower() in ('0', 'false', 'off', 'no'):
        return {}
    report = print if logger is None else logger.info
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        info = dict(module=entry_point.value, version=_distribution_version(entry_point))
        try:
            importlib.import_module(entry_point.value)
            info['status'] = 'loaded'
        except Exception as err:  # noqa: BLE001 - a broken plugin must not break every run
            info.update(status='failed', error=f'{type(err).__name__}: {err}')
            report(f'[imagin4d] plugin {entry_point.name!r} ({entry_point.value}) failed to load and was '
                   f'skipped: {info["error"]}\n{traceback.format_exc(limit=3)}')
        LOADED_PLUGINS[entry_point.name] = info
    return dict(LOADED_PLUGINS)


def record_custom_imports(module_names) -> None:
    """Record modules a config imported through `custom_imports`, with their package versions."""
    for name in module_names or ():
        top = name.split('.')[0]
        try:
            version = metadata.version(top)
        except metadata.PackageNotFoundError:
            module = sys.modules.get(top)
            version = getattr(module, '__version__', 'unknown')
        LOADED_PLUGINS.setdefault(name, dict(module=name, version=version, status='custom_imports'))


def plugin_summary() -> dict:
    """{name: 'version (status)'} of every plugin this process loaded: for logs and checkpoint meta."""
    return {name: f"{info['version']} ({info['status']})" for name, info in sorted(LOADED_PLUGINS.items())}

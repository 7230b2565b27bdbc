"""PluginInfoHook: writes the loaded plugins and their versions into the log and the checkpoint meta."""
from mmengine.hooks import Hook

from imagin4d.registry import HOOKS
from imagin4d.utils.plugins import plugin_summary
from imagin4d.version import __version__


@HOOKS.register_module()
class PluginInfoHook(Hook):
    """Logs `imagin4d` and plugin versions at the start of a run; stores them in `checkpoint['meta']`."""
    priority = 'VERY_LOW'

    def before_run(self, runner) -> None:
        plugins = plugin_summary()
        runner.logger.info(f'imagin4d {__version__}; plugins: {plugins if plugins else "none"}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        meta['imagin4d_version'] = __version__
        meta['imagin4d_plugins'] = plugin_summary()

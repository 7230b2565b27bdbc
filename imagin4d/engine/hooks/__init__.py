"""Runner hooks of imagin4d."""
from .plugin_info_hook import PluginInfoHook

__all__ = ['PluginInfoHook']

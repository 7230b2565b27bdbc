"""Runner hooks of imagin4d."""
from .codec_stats_hook import CodecStatsHook
from .plugin_info_hook import PluginInfoHook

__all__ = ['CodecStatsHook', 'PluginInfoHook']

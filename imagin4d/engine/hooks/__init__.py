"""Runner hooks of imagin4d."""
from .codec_stats_hook import CodecStatsHook
from .hoi_visualization_hook import HOIVisualizationHook
from .plugin_info_hook import PluginInfoHook
from .strict_load_hook import StrictLoadHook

__all__ = ['CodecStatsHook', 'HOIVisualizationHook', 'PluginInfoHook', 'StrictLoadHook']

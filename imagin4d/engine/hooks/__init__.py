"""Runner hooks of imagin4d."""
from .codec_stats_hook import CodecStatsHook
from .hoi_visualization_hook import HOIVisualizationHook
from .non_finite_stop_hook import NonFiniteStopHook
from .plugin_info_hook import PluginInfoHook
from .random_state_hook import RandomStateHook
from .strict_load_hook import StrictLoadHook

__all__ = ['CodecStatsHook', 'HOIVisualizationHook', 'NonFiniteStopHook', 'PluginInfoHook', 'RandomStateHook',
           'StrictLoadHook']

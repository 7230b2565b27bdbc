"""Visualisation of HOI samples: `HOIVisualizer` (registered in VISUALIZERS) and its numpy/OpenCV renderer.

Owns the public API of `imagin4d.visualization`: rendering a sample as video frames (reference image | GT |
generated), drawing one frame, and writing videos/GIFs/images. OpenCV and Pillow are imported on use.
"""
from .hoi_visualizer import HOIVisualizer, add_gif_summary
from .raster import DRAW_STYLE, draw_hoi_frame, overview_camera, scale_camera, simplify_mesh
from .sample_render import (
                            MARK_COLORS,
                            PANEL_KINDS,
                            depicted_frames,
                            motion_geometry,
                            render_hoi_sample,
                            render_layout,
                            sample_to_numpy,
)
from .video_io import VIDEO_FORMATS, encode_gif, video_encoder, write_image, write_video

__all__ = [
    'HOIVisualizer', 'add_gif_summary',
    'render_hoi_sample', 'render_layout', 'sample_to_numpy', 'motion_geometry', 'depicted_frames', 'PANEL_KINDS',
    'MARK_COLORS', 'draw_hoi_frame', 'overview_camera', 'scale_camera', 'simplify_mesh', 'DRAW_STYLE',
    'write_video', 'encode_gif', 'video_encoder', 'write_image', 'VIDEO_FORMATS',
]

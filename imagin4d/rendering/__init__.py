"""Reference-image rendering: cameras, pyrender/EGL scenes, styles (mesh, sketch, scene, degraded), render cache.

Owns the public API of `imagin4d.rendering` (re-exported here) and registers the styles in RENDER_STYLES
(this package is that registry's location). Importing it is light: pyrender, OpenGL, OpenCV and trimesh are
imported only when something is rendered, inked, cached or built. The frozen-backbone feature cache is imported
from its own module, `imagin4d.models.backbones.feature_cache`.
"""
from .cache import CacheEntry, RenderCache, style_identity
from .camera import (
                     DEFAULT_CAMERA_RANGES,
                     MIRROR_WORLD,
                     Camera,
                     camera_rng,
                     intrinsics_from_fov,
                     look_at_world_to_cam,
                     mirror_camera,
                     points_in_view,
                     project_points,
                     sample_camera,
)
from .errors import RenderError
from .mirror import mirror_mesh, mirror_points
from .reference import ReferenceImage, ReferenceRenderer, look_at_point
from .scene import (
                     RENDERER_VERSION,
                     SCENE_DEFAULTS,
                     OffscreenRenderer,
                     get_renderer,
                     key_light_direction,
                     render_scene,
                     validate_mesh,
)
from .styles import DegradedStyle, MeshStyle, RenderStyle, SceneStyle, SketchStyle, build_style

__all__ = [
    # cameras and mirroring
    'Camera', 'intrinsics_from_fov', 'look_at_world_to_cam', 'sample_camera', 'camera_rng', 'project_points',
    'points_in_view', 'mirror_camera', 'MIRROR_WORLD', 'DEFAULT_CAMERA_RANGES', 'mirror_points', 'mirror_mesh',
    # scene rendering
    'RENDERER_VERSION', 'SCENE_DEFAULTS', 'OffscreenRenderer', 'render_scene', 'get_renderer', 'validate_mesh',
    'key_light_direction', 'RenderError',
    # styles
    'RenderStyle', 'MeshStyle', 'SketchStyle', 'SceneStyle', 'DegradedStyle', 'build_style',
    # cache and the reference-image pipeline
    'RenderCache', 'CacheEntry', 'style_identity', 'ReferenceRenderer', 'ReferenceImage', 'look_at_point',
]

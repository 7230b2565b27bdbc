"""Offscreen rendering of one interaction state (body mesh + object mesh + floor) with pyrender over EGL.

Owns `OffscreenRenderer` (one pyrender.OffscreenRenderer and a persistent scene: camera, lights, floor),
`render_scene` (a per-process, per-thread cached renderer), the mesh checks and `RENDERER_VERSION`.
Inputs are plain arrays in the Z-up world frame (metres, floor at z = 0); cameras use the OpenCV convention
of `camera.Camera` and are converted here to pyrender's OpenGL convention. pyrender is imported lazily, so
`import imagin4d.rendering` stays light.
"""
import os
import threading
from typing import Optional

import numpy as np

from .camera import Camera
from .errors import RenderError

__all__ = ['RENDERER_VERSION', 'SCENE_DEFAULTS', 'OffscreenRenderer', 'render_scene', 'get_renderer', 'validate_mesh',
           'vertex_normals', 'key_light_direction']

# Bump whenever a change alters rendered pixels (scene, lights, materials, camera conversion, styles); it is
# part of every render-cache key, so old cache entries are then ignored.
RENDERER_VERSION = 'imagin4d-render-1'

# Appearance defaults (linear RGB in [0, 1]): the paper's MeshImg look, light-blue body and yellow object on
# white, plus a light-grey floor disc under the interaction.
SCENE_DEFAULTS = dict(
    body_color=(0.55, 0.72, 0.95), object_color=(0.98, 0.76, 0.25), floor_color=(0.70, 0.70, 0.70),
    background=(1.0, 1.0, 1.0), floor_radius=2.0, shadows=True, shadow_strength=0.45, smooth_object=False,
    key_light=2.0, fill_light=0.5, ambient=0.3, light_color=(1.0, 1.0, 1.0), key_tilt=0.6)

# Segmentation colours of the mask pass (one channel each).
_SEG_BODY, _SEG_OBJECT, _SEG_FLOOR, _SEG_SHADOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 128)
_SEG_ROOM = (0, 0, 64)  # walls and furniture of a room (`room.py`); a room's floor is drawn as _SEG_FLOOR
_FLOOR_Z = -1e-3  # the floor sits 1 mm below z = 0 so that soles resting at z = 0 do not z-fight with it
_SHADOW_LIFT = 1e-3  # projected shadows lie 1 mm above the floor
# OpenCV camera axes (x right, y down, z forward) -> OpenGL camera axes (x right, y up, z backward).
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def validate_mesh(vertices, faces, what: str, context: str = ''):
    """Check a triangle mesh and return it as (vertices (V, 3) float32, faces (F, 3) int64).

    Raises RenderError naming `what` ('body'/'object') and `context` (sequence and frame) for a missing
    (None/empty) mesh, wrong shapes, non-finite vertices or face indices out of range.
    """
    where = f' ({context})' if context else ''
    if vertices is None or faces is None:
        raise RenderError(f'missing {what} mesh{where}: vertices and faces are required')
    vertices, faces = np.asarray(vertices), np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) < 3:
        raise RenderError(f'{what} vertices{where} must be (V >= 3, 3), got shape {vertices.shape}')
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise RenderError(f'{what} faces{where} must be (F >= 1, 3), got shape {faces.shape}')
    if not np.issubdtype(faces.dtype, np.integer):
        raise RenderError(f'{what} faces{where} must be integers, got {faces.dtype}')
    if not np.isfinite(vertices).all():
        raise RenderError(f'{what} vertices{where} contain NaN or inf')
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise RenderError(f'{what} faces{where} index vertices outside [0, {len(vertices)})')
    return vertices.astype(np.float32), faces.astype(np.int64)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals.  vertices: (V, 3), faces: (F, 3) -> (V, 3) float32."""
    tri = vertices[faces].astype(np.float64)
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3), length = 2 * area
    normals = np.stack([np.bincount(faces.ravel(), weights=np.repeat(face_n[:, k], 3), minlength=len(vertices))
                        for k in range(3)], axis=1)
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(norm, 1e-12)).astype(np.float32)


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces].astype(np.float64)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def key_light_direction(camera: Camera, tilt: float = SCENE_DEFAULTS['key_tilt']) -> np.ndarray:
    """(3,) unit direction in which the key light travels: from above and from behind the camera.

    It mixes world-down with `tilt` times the camera's horizontal viewing direction, so the lighting follows the
    camera and is mirror-equivariant (the mirrored camera gets the mirrored light).
    """
    forward = camera.forward
    horizontal = np.array([forward[0], forward[1], 0.0])
    if np.linalg.norm(horizontal) > 1e-6:
        horizontal /= np.linalg.norm(horizontal)
    travel = np.array([0.0, 0.0, -1.0]) + float(tilt) * horizontal
    return travel / np.linalg.norm(travel)


def _rotation_with_z(z_axis: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose third column is the unit vector `z_axis`."""
    z = z_axis / np.linalg.norm(z_axis)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


# The process that created the first OpenGL context, its renderer string and LP_NUM_THREADS at that time.
_GL_OWNER = dict(pid=None, renderer=None, lp_num_threads=None)


def _check_fork_safety() -> None:
    """Refuse (instead of hanging) to create a context in a child forked after its parent created one.

    Mesa llvmpipe's rasteriser threads belong to the EGL screen, which a forked child inherits without its
    threads: the child's first draw waits forever. Single-threaded llvmpipe (LP_NUM_THREADS=0) is fork-safe.
    GPU drivers are not assumed to be.
    """
    pid = _GL_OWNER['pid']
    if pid is None or pid == os.getpid():
        return
    renderer = _GL_OWNER['renderer'] or 'unknown'
    if 'llvmpipe' in renderer.lower() and _GL_OWNER['lp_num_threads'] == '0':
        return
    raise RuntimeError(
        f'imagin4d.rendering: this process was forked from process {pid} after that process had created an '
        f'OpenGL context ({renderer}); rendering here would hang (Mesa llvmpipe threads and GPU driver state '
        'do not survive fork). Render only in the worker processes, not in the parent before it forks; or use '
        "a 'spawn'/'forkserver' multiprocessing context (DataLoader(multiprocessing_context='spawn')); or set "
        'LP_NUM_THREADS=0 (single-threaded llvmpipe, fork-safe) before the first render; or pre-fill the '
        'render cache.')


def gl_context_created() -> bool:
    """True once this process (or the process it was forked from) has created an OpenGL context: it can then no
    longer fork processes that render (see `_check_fork_safety`)."""
    return _GL_OWNER['pid'] is not None


class OffscreenRenderer:
    """A reusable offscreen renderer for images of `width` x `height` pixels.

    Holds one pyrender.OffscreenRenderer (an EGL context: Mesa llvmpipe on CPU machines, the GPU where
    present) and a persistent scene; each `render` swaps in the body and object meshes and moves the camera,
    lights and floor. An EGL context belongs to the process and thread that created it: build one per
    DataLoader worker (or use `render_scene`, which caches one per process and thread). A process forked after
    its parent created a context cannot create one (RuntimeError, see `_check_fork_safety`) unless llvmpipe
    runs single-threaded (LP_NUM_THREADS=0).
    """

    def __init__(self, width: int = 224, height: int = 224):
        import pyrender  # lazy: pyrender (and OpenGL) cost seconds to import
        self._pyrender = pyrender
        self.width, self.height = int(width), int(height)
        _check_fork_safety()
        self._gl = pyrender.OffscreenRenderer(self.width, self.height)
        self.gl_renderer_name = _gl_renderer_name()  # the context is current right after creation
        if _GL_OWNER['pid'] != os.getpid():
            _GL_OWNER.update(pid=os.getpid(), renderer=self.gl_renderer_name,
                             lp_num_threads=os.environ.get('LP_NUM_THREADS'))
        self._scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.3, 0.3, 0.3])
        self._camera = pyrender.IntrinsicsCamera(fx=1.0, fy=1.0, cx=0.0, cy=0.0, znear=0.05, zfar=100.0)
        self._camera_node = self._scene.add(self._camera, pose=np.eye(4))
        self._key_light = pyrender.DirectionalLight(color=np.ones(3), intensity=1.0)
        self._key_node = self._scene.add(self._key_light, pose=np.eye(4))
        self._fill_light = pyrender.PointLight(color=np.ones(3), intensity=1.0)
        self._fill_node = self._scene.add(self._fill_light, pose=np.eye(4))
        self._floor_node = None
        self._floor_spec = None
        self._mesh_nodes = []

    # -- scene building ---------------------------------------------------------------------------------
    def _material(self, color):
        return self._pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[float(color[0]), float(color[1]), float(color[2]), 1.0], metallicFactor=0.0,
            roughnessFactor=0.75, doubleSided=True)

    def _mesh(self, vertices, faces, color, smooth: bool, colors=None, texture=None):
        """colors: (V, 3) linear vertex colours (times `color`); texture: (uv (F*3, 2), sRGB image) of the flat
        corners (forces flat shading)."""
        pyrender = self._pyrender
        if smooth and texture is None:
            positions, normals, indices = vertices, vertex_normals(vertices, faces), faces
        else:  # flat shading: one vertex per face corner with the face normal
            positions = vertices[faces].reshape(-1, 3)
            normals = np.repeat(_face_normals(vertices, faces), 3, axis=0)
            indices = np.arange(len(positions)).reshape(-1, 3)
            colors = None if colors is None else np.asarray(colors)[faces].reshape(-1, 3)
        material = self._material(color)
        if texture is not None:
            material.baseColorTexture = pyrender.Texture(source=np.ascontiguousarray(texture[1]),
                                                         source_channels='RGB')
        primitive = pyrender.Primitive(positions=positions.astype(np.float32), normals=normals,
                                       indices=indices.astype(np.uint32), material=material,
                                       color_0=None if colors is None else np.asarray(colors, np.float32),
                                       texcoord_0=None if texture is None else np.asarray(texture[0], np.float32))
        return pyrender.Mesh(primitives=[primitive])

    def _set_floor(self, with_floor: bool, radius: float, color, centre_xy):
        spec = (float(radius), tuple(float(c) for c in color))
        if self._floor_node is not None and (not with_floor or spec != self._floor_spec):
            self._scene.remove_node(self._floor_node)
            self._floor_node = None
        if not with_floor:
            return
        if self._floor_node is None:
            segments = 96
            angles = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
            rim = np.stack([radius * np.cos(angles), radius * np.sin(angles), np.zeros(segments)], 1)
            vertices = np.concatenate([np.zeros((1, 3)), rim]).astype(np.float32)
            faces = np.stack([np.zeros(segments, int), 1 + np.arange(segments),
                              1 + (np.arange(segments) + 1) % segments], 1)  # counter-clockwise from above
            self._floor_node = self._scene.add(self._mesh(vertices, faces, color, smooth=False), name='floor')
            self._floor_spec = spec
        pose = np.eye(4)
        pose[:3, 3] = [centre_xy[0], centre_xy[1], _FLOOR_Z]
        self._scene.set_pose(self._floor_node, pose)

    def _set_camera_and_lights(self, camera: Camera, centre: np.ndarray, extent: float, opts: dict, far=0.0):
        K = camera.K
        cam = self._camera
        # pyrender's IntrinsicsCamera puts pixel edges at integers; OpenCV puts pixel centres there.
        cam.fx, cam.fy = float(K[0, 0]), float(K[1, 1])
        cam.cx, cam.cy = float(K[0, 2]) + 0.5, float(K[1, 2]) + 0.5
        distance = float(np.linalg.norm(camera.position - centre))
        cam.znear = max(0.01, min(0.05, 0.5 * (distance - extent))) if distance > extent else 0.01
        cam.zfar = max(distance + extent, float(far)) + 1.0
        self._scene.set_pose(self._camera_node, camera.cam_to_world @ _CV_TO_GL)
        key_pose = np.eye(4)
        key_pose[:3, :3] = _rotation_with_z(-key_light_direction(camera, opts['key_tilt']))  # shines along -z
        self._key_light.intensity = float(opts['key_light'])
        self._key_light.color = self._fill_light.color = np.asarray(opts['light_color'], np.float64)
        self._scene.set_pose(self._key_node, key_pose)
        self._fill_light.intensity = float(opts['fill_light']) * distance ** 2
        fill_pose = np.eye(4)
        fill_pose[:3, 3] = camera.position
        self._scene.set_pose(self._fill_node, fill_pose)
        self._scene.ambient_light = np.full(3, float(opts['ambient']))
        self._scene.bg_color = [*map(float, opts['background']), 1.0]

    def _shadow_mesh(self, vertices, faces, camera: Camera, centre_xy, opts: dict):
        """The key light's shadow of `vertices`/`faces` projected onto the floor (a planar projected shadow),
        clipped to the floor disc; None when nothing falls on it.

        It is only drawn in the segmentation pass (as its own label, 1 mm above the floor, so it shows exactly
        where the floor is visible) and then darkens the shaded floor in image space: on a software rasteriser
        this costs a few ms, against ~30 ms for drawing it shaded and far more for pyrender's 2048^2 shadow
        maps; for a flat floor the shadow's shape is exact."""
        direction = key_light_direction(camera, opts['key_tilt'])
        height = np.maximum(vertices[:, 2].astype(np.float64) - _FLOOR_Z, 0.0)
        projected = vertices - height[:, None] * (direction / direction[2])[None, :]
        projected[:, 2] = _FLOOR_Z + _SHADOW_LIFT
        radius = float(opts['floor_radius']) * 0.995
        inside = np.linalg.norm(projected[:, :2] - np.asarray(centre_xy)[None, :], axis=1) <= radius
        # Faces turned towards the light cover the whole shadow of a closed mesh: drop the others (half the
        # triangles to rasterise) and those falling off the floor disc.
        lit = _face_normals(vertices, faces) @ direction < 0
        faces = faces[inside[faces].all(axis=1) & lit]
        if len(faces) == 0:
            return None
        normals = np.tile(np.array([[0.0, 0.0, 1.0]], np.float32), (len(projected), 1))
        primitive = self._pyrender.Primitive(
            positions=projected.astype(np.float32), normals=normals, indices=faces.astype(np.uint32),
            material=self._material(opts['floor_color']))
        return self._pyrender.Mesh(primitives=[primitive])

    # -- rendering --------------------------------------------------------------------------------------
    _DRAW_RANK = {'floor': 0, 'body': 1, 'object': 2, 'shadow': 3}  # room surfaces after these, by name

    @staticmethod
    def _sorted_mesh_nodes(scene):
        """pyrender's draw order (solid before transparent, far to near by node origin) with ties broken by
        node name. pyrender keeps the order of `scene.mesh_nodes`, a set ordered by object ids: the body,
        object and shadow nodes (all at the identity pose) were drawn in an order that changed from render to
        render, and where two meshes' depths tie exactly a pixel changed with it (about one pixel in one 448-px
        mesh image of five)."""
        cam = scene.get_pose(scene.main_camera_node)[:3, 3]
        rank = OffscreenRenderer._DRAW_RANK

        def key(node):
            distance = float(np.linalg.norm(scene.get_pose(node)[:3, 3] - cam))
            return bool(node.mesh.is_transparent), -distance, rank.get(node.name, len(rank)), node.name or ''
        return sorted(scene.mesh_nodes, key=key)

    def _gl_render(self, flags, seg_node_map=None):
        renderer = getattr(self._gl, '_renderer', None)  # pyrender's Renderer (recreated if the context is)
        if renderer is not None and renderer.__dict__.get('_sorted_mesh_nodes') is not self._sorted_mesh_nodes:
            renderer._sorted_mesh_nodes = self._sorted_mesh_nodes
        return self._gl.render(self._scene, flags=flags, seg_node_map=seg_node_map)

    def render(self, body_verts, body_faces, obj_verts, obj_faces, camera: Camera, with_floor: bool = True,
               shading: bool = True, amodal: bool = False, context: str = '', body_colors=None,
               object_colors=None, object_texture=None, room=None, **appearance) -> dict:
        """Render one interaction state.

        body_verts: (Vb, 3), body_faces: (Fb, 3), obj_verts: (Vo, 3), obj_faces: (Fo, 3): world frame, Z-up,
        metres (numpy or CPU torch). camera: `Camera` of this renderer's size. `shading=False` skips the
        shaded pass (no 'rgb'; enough for line drawings). `amodal=True` adds body_amodal_mask and
        object_amodal_mask (H, W) bool: each mesh's pixels ignoring occluders (two cheap flat passes), to measure
        occlusion. `appearance` overrides SCENE_DEFAULTS (colours,
        floor_radius, shadows, smooth_object, key_light, fill_light, ambient, light_color, key_tilt). `context`
        (e.g. "seq X frame 42") is put into error messages. The `scene` style adds: body_colors (Vb, 3) /
        object_colors (Vo, 3) linear vertex colours, object_texture (uv (Fo*3, 2), sRGB image) and `room`, a
        list of textured surfaces (`room.build_room`) drawn as occluders; a room floor takes the shadow.

        Returns dict(rgb (H, W, 3) uint8 [only with shading], depth (H, W) float32 camera z in metres with
        0 = background, body_mask / object_mask / floor_mask (H, W) bool visible pixels of each (occlusion
        respected), drawn_mask (H, W) bool pixels where anything was drawn, room_mask (H, W) bool [with a room],
        K (3, 3), camera).
        """
        unknown = set(appearance) - set(SCENE_DEFAULTS)
        if unknown:
            raise TypeError(f'unknown appearance options {sorted(unknown)}; known: {sorted(SCENE_DEFAULTS)}')
        opts = {**SCENE_DEFAULTS, **appearance}
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f'camera is {camera.width}x{camera.height} but this renderer renders '
                             f'{self.width}x{self.height}')
        body_verts, body_faces = validate_mesh(body_verts, body_faces, 'body', context)
        obj_verts, obj_faces = validate_mesh(obj_verts, obj_faces, 'object', context)

        pyrender = self._pyrender
        scene = self._scene
        for node in self._mesh_nodes:
            scene.remove_node(node)
        body_node = scene.add(self._mesh(body_verts, body_faces, opts['body_color'], smooth=True,
                                         colors=body_colors), name='body')
        obj_node = scene.add(self._mesh(obj_verts, obj_faces, opts['object_color'], smooth=opts['smooth_object'],
                                        colors=object_colors, texture=object_texture), name='object')
        self._mesh_nodes = [body_node, obj_node]
        self._amodal_nodes = dict(body=body_node, object=obj_node)
        room_seg, far = {}, 0.0
        if room:
            from .room import surface_mesh
            for surface in room:
                node = scene.add(surface_mesh(pyrender, surface), name=surface['name'])
                self._mesh_nodes.append(node)
                room_seg[node] = _SEG_FLOOR if surface['floor'] else _SEG_ROOM
                far = max(far, float(np.linalg.norm(surface['positions'] - camera.position, axis=1).max()))

        both = np.concatenate([body_verts, obj_verts]).astype(np.float64)
        lo, hi = both.min(0), both.max(0)
        centre = (lo + hi) / 2.0
        extent = float(np.linalg.norm(hi - lo) / 2.0) + (float(opts['floor_radius']) if with_floor else 0.0)
        self._set_floor(with_floor, opts['floor_radius'], opts['floor_color'], centre[:2])
        seg_map = {body_node: _SEG_BODY, obj_node: _SEG_OBJECT, **room_seg}
        if with_floor:
            seg_map[self._floor_node] = _SEG_FLOOR
        shadow_node = None
        if (with_floor or _SEG_FLOOR in room_seg.values()) and shading and opts['shadows']:
            shadow = self._shadow_mesh(both, np.concatenate([body_faces, obj_faces + len(body_verts)]), camera,
                                       centre[:2], opts)
            if shadow is not None:
                shadow_node = scene.add(shadow, name='shadow')
                self._mesh_nodes.append(shadow_node)
                seg_map[shadow_node] = _SEG_SHADOW
        self._set_camera_and_lights(camera, centre, extent, opts, far)

        seg, depth = self._gl_render(pyrender.RenderFlags.SEG, seg_map)
        out = dict(depth=np.ascontiguousarray(depth, dtype=np.float32),
                   body_mask=seg[..., 0] == 255, object_mask=seg[..., 1] == 255, floor_mask=seg[..., 2] >= 128,
                   drawn_mask=(seg[..., 0] | seg[..., 1] | seg[..., 2]) != 0, K=camera.K.copy(), camera=camera)
        if room:
            out['room_mask'] = seg[..., 2] == _SEG_ROOM[2]
        if amodal:
            for name in ('body', 'object'):
                out[f'{name}_amodal_mask'] = self.amodal_mask(name)
        if shading:
            if shadow_node is not None:
                shadow_node.mesh.is_visible = False
            rgb, _ = self._gl_render(pyrender.RenderFlags.NONE)
            rgb = rgb[..., :3]
            if shadow_node is not None:
                rgb = _darken(rgb, seg[..., 2] == _SEG_SHADOW[2], out['floor_mask'], float(opts['shadow_strength']))
            out['rgb'] = np.ascontiguousarray(rgb, dtype=np.uint8)
        return out

    def amodal_mask(self, what: str) -> np.ndarray:
        """(H, W) bool: the pixels of the last render's 'body' or 'object' with nothing else drawn (one flat
        pass of the scene, camera and meshes as `render` left them; call it right after `render`)."""
        node = getattr(self, '_amodal_nodes', {}).get(what)
        if node is None:
            raise ValueError(f"amodal_mask: what must be 'body' or 'object' of a previous render, got {what!r}")
        alone, _ = self._gl_render(self._pyrender.RenderFlags.SEG, {node: _SEG_BODY})
        return alone[..., 0] == 255

    def delete(self):
        """Release the EGL context (the renderer is unusable afterwards)."""
        if self._gl is not None:
            self._gl.delete()
            self._gl = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.delete()


def _darken(rgb: np.ndarray, shadow: np.ndarray, floor: np.ndarray, strength: float) -> np.ndarray:
    """rgb (H, W, 3) uint8 with the floor pixels under `shadow` (H, W) bool darkened by `strength`, the shadow's
    edge softened by a Gaussian of 0.6 pixel per 224 pixels of width."""
    import cv2
    soft = cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), 0.6 * max(1.0, rgb.shape[1] / 224.0))
    factor = 1.0 - strength * soft * floor
    # Only the pixels with factor != 1 change (elsewhere round(rgb * 1.0) == rgb exactly): the same float32
    # arithmetic on those alone gives the same bytes as on the whole image, at a fraction of the cost.
    changed = factor != 1.0
    out = np.array(rgb, dtype=np.uint8, copy=True)
    out[changed] = np.clip(np.round(rgb[changed] * factor[changed][:, None]), 0, 255).astype(np.uint8)
    return out


def _gl_renderer_name() -> Optional[str]:
    """The OpenGL renderer string of the current context (e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)')."""
    try:
        from OpenGL.GL import GL_RENDERER, glGetString
        name = glGetString(GL_RENDERER)
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - informational only
        return None


_local = threading.local()


def get_renderer(width: int, height: int) -> OffscreenRenderer:
    """The cached OffscreenRenderer of this process and thread for `width` x `height`."""
    cache = getattr(_local, 'renderers', None)
    if cache is None or getattr(_local, 'pid', None) != os.getpid():  # a forked child cannot use the parent's
        cache = _local.renderers = {}
        _local.pid = os.getpid()
    key = (int(width), int(height))
    if key not in cache:
        cache[key] = OffscreenRenderer(*key)
    return cache[key]


def render_scene(body_verts, body_faces, obj_verts, obj_faces, camera: Camera, with_floor: bool = True,
                 shading: bool = True, amodal: bool = False, context: str = '', **appearance) -> dict:
    """Render with the cached renderer of this process/thread; see `OffscreenRenderer.render` for shapes and
    the keyword arguments."""
    return get_renderer(camera.width, camera.height).render(
        body_verts, body_faces, obj_verts, obj_faces, camera, with_floor=with_floor, shading=shading,
        amodal=amodal, context=context, **appearance)


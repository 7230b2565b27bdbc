"""One render pass of pyrender's offscreen renderer, drawn and read back with less work and the same bytes.

Owns `render_pass`. pyrender 0.1.45 draws every pass into a 4x multisample framebuffer, then resolves colour and
depth into a single-sample framebuffer and reads and linearises both. Two shortcuts give the same pixels:

- a pass whose depth is not wanted (the shaded pass, the amodal masks) skips the depth buffer's copy, read and
  linearisation;
- a flat pass (`RenderFlags.SEG`) whose depth is not wanted is drawn straight into the single-sample framebuffer
  (no multisample clear, per-sample depth test or resolve): pyrender disables multisampling for flat passes, so
  each pixel's colour is that of its centre either way. Its depth is not: the multisample depth is interpolated
  at the sample positions and pyrender's resolve keeps one sample (measured: 28 of 60 448-px sketch images, which
  read the depth, changed when the segmentation pass was drawn single-sampled), so a pass that wants depth keeps
  the multisample framebuffer.

`fast=False` runs pyrender's own path (the reference the tests and the benchmark compare against). The depth
read here linearises with pyrender's float32 formula on every pixel at once (same values, no masked copies).
The functions bound to pyrender's Renderer for one pass replace its `_configure_forward_pass_viewport` and
`_read_main_framebuffer`; they are written against pyrender 0.1.45 (pinned in requirements/runtime.txt).
"""
import functools

import numpy as np

__all__ = ['render_pass']


def render_pass(gl, scene, flags, seg_node_map=None, depth: bool = True, fast: bool = True):
    """(colour (H, W, 3) uint8, depth (H, W) float32 camera z in metres with 0 = nothing drawn, or None when
    `depth` is False) of one pass of `scene` by `gl`, a pyrender.OffscreenRenderer, with RenderFlags `flags`."""
    renderer = getattr(gl, '_renderer', None)
    if not fast or renderer is None:
        colour, depth_map = gl.render(scene, flags=flags, seg_node_map=seg_node_map)
        return colour, depth_map if depth else None
    from pyrender import RenderFlags
    single = bool(flags & RenderFlags.SEG) and not depth
    patches = dict(_read_main_framebuffer=functools.partial(_read, renderer, resolve=not single, depth=depth))
    if single:
        patches['_configure_forward_pass_viewport'] = functools.partial(_bind_single_sample, renderer)
    renderer.__dict__.update(patches)
    try:
        return gl.render(scene, flags=flags, seg_node_map=seg_node_map)
    finally:
        for name in patches:
            del renderer.__dict__[name]


def _bind_single_sample(renderer, flags):
    """pyrender's viewport and depth-test set-up of a forward pass, drawing into the single-sample framebuffer."""
    from OpenGL.GL import (
        GL_DEPTH_TEST,
        GL_DRAW_FRAMEBUFFER,
        GL_LESS,
        GL_TRUE,
        glBindFramebuffer,
        glDepthFunc,
        glDepthMask,
        glDepthRange,
        glEnable,
        glViewport,
    )
    renderer._configure_main_framebuffer()
    glBindFramebuffer(GL_DRAW_FRAMEBUFFER, renderer._main_fb)
    glViewport(0, 0, renderer.viewport_width, renderer.viewport_height)
    glEnable(GL_DEPTH_TEST)
    glDepthMask(GL_TRUE)
    glDepthFunc(GL_LESS)
    glDepthRange(0.0, 1.0)


def _read(renderer, scene, flags, resolve: bool, depth: bool):
    """(colour, depth or None) of the pass just drawn: resolved from the multisample framebuffer first when
    `resolve`, then read from the single-sample one (rows flipped to top-down)."""
    from OpenGL.GL import (
        GL_COLOR_BUFFER_BIT,
        GL_DEPTH_BUFFER_BIT,
        GL_DEPTH_COMPONENT,
        GL_DRAW_FRAMEBUFFER,
        GL_FLOAT,
        GL_LINEAR,
        GL_NEAREST,
        GL_READ_FRAMEBUFFER,
        GL_RGBA,
        GL_UNSIGNED_BYTE,
        glBindFramebuffer,
        glBlitFramebuffer,
        glReadPixels,
    )
    width, height = renderer._main_fb_dims
    if resolve:
        glBindFramebuffer(GL_READ_FRAMEBUFFER, renderer._main_fb_ms)
        glBindFramebuffer(GL_DRAW_FRAMEBUFFER, renderer._main_fb)
        glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL_COLOR_BUFFER_BIT, GL_LINEAR)
        if depth:
            glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL_DEPTH_BUFFER_BIT, GL_NEAREST)
    glBindFramebuffer(GL_READ_FRAMEBUFFER, renderer._main_fb)
    depth_map = None
    if depth:
        raw = np.frombuffer(glReadPixels(0, 0, width, height, GL_DEPTH_COMPONENT, GL_FLOAT), dtype=np.float32)
        camera = scene.main_camera_node.camera
        depth_map = _linear_depth(raw.reshape(height, width)[::-1], camera.znear, camera.zfar)
    colour = np.frombuffer(glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE), dtype=np.uint8)
    return colour.reshape(height, width, 4)[::-1, :, :3], depth_map


def _linear_depth(window_depth: np.ndarray, znear: float, zfar: float) -> np.ndarray:
    """(H, W) float32 camera z from window depth in [0, 1] (1: nothing drawn -> 0), with pyrender's float32
    arithmetic (the Python floats enter each operation as float32 scalars), so the values are pyrender's."""
    ndc = 2.0 * window_depth - 1.0
    with np.errstate(divide='ignore', invalid='ignore'):
        if zfar is None:  # pyrender's infinite projection
            linear = 2 * znear / (1.0 - ndc)
        else:
            linear = (2.0 * znear * zfar) / (zfar + znear - ndc * (zfar - znear))
    return np.where(window_depth == 1.0, np.float32(0.0), linear)

"""Video frames of one evaluated HOI sample: reference image | ground-truth motion | generated motion, side by side.

Owns the reading of a sample (a `HOIDataSample`, its `to_dict()` or a dumped dict of numpy arrays; the fields of
the metric data contract), the per-frame geometry (joints24 and the placed object mesh from the CHOIS features),
the panel layout (title bar, panels, caption bar) and the depicted-frame marks. Drawing is `raster.draw_hoi_frame`
(numpy/OpenCV, no OpenGL). Output frames are (T_out, H, W, 3) uint8 RGB.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from imagin4d.rendering.camera import Camera

from .raster import DRAW_STYLE, draw_hoi_frame, overview_camera, scale_camera, simplify_mesh

__all__ = ['render_hoi_sample', 'sample_to_numpy', 'motion_geometry', 'render_layout', 'PANEL_KINDS',
           'MARK_COLORS', 'depicted_frames']

#: The panels `render_hoi_sample` can show: the reference image, the ground-truth motion, the generated motion.
PANEL_KINDS = ('reference', 'gt', 'pred')
_DEFAULT_TITLES = dict(reference='reference', gt='ground truth', pred='generated')
#: Border colours of the marked frames: the depicted frame t* (GT) and SFIE's predicted frame t^ (pred_t_star).
MARK_COLORS = dict(t_star=(255, 128, 0), pred_t_star=(190, 0, 190))
_BAR_COLOR, _TEXT_COLOR, _MISSING_COLOR = (40, 40, 48), (245, 245, 245), (225, 225, 225)


def sample_to_numpy(sample) -> dict:
    """A flat dict of the sample with tensors as numpy arrays (nested dicts too; strings and numbers as is).

    sample: a `HOIDataSample` (or any mmengine BaseDataElement), its `to_dict()`, or a dumped dict."""
    if hasattr(sample, 'to_dict') and not isinstance(sample, dict):
        sample = sample.to_dict()
    if not isinstance(sample, dict):
        raise TypeError(f'a sample must be a dict or a HOIDataSample, got {type(sample).__name__}')

    def plain(value):
        if hasattr(value, 'detach'):
            return value.detach().cpu().numpy()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return {k: plain(v) for k, v in sample.items()}


def _name(sample: dict) -> str:
    return f"{sample.get('seq_name', '?')}@{sample.get('window_start', '?')}"


def _required(sample: dict, keys: Sequence[str], what: str) -> list:
    missing = [k for k in keys if sample.get(k) is None]
    if missing:
        raise KeyError(f'sample {_name(sample)}: {what} needs the fields {missing} (has {sorted(sample)})')
    return [np.asarray(sample[k]) for k in keys]


def motion_geometry(sample: dict, which: str, codec=None, object_mesh=None) -> dict:
    """Per-frame geometry of the GT (`which='gt'`) or generated (`'pred'`) motion of a numpy sample dict.

    Returns joints (T, 24, 3), contacts (T, 4) and, when the sample has the object template, obj_verts (T, V, 3)
    placed with `codec.object_pose` (vertices = scale_t R_t v + trans_t). object_mesh: (vertices (V, 3),
    faces (F, 3)) to place instead of the sample's template (e.g. a simplified copy of it).
    """
    import torch

    from imagin4d.models.codecs.chois_motion_codec import CHOISMotionCodec
    key = dict(gt='gt_motion', pred='pred_motion')[which]
    if sample.get('normalized'):
        raise ValueError(f'sample {_name(sample)} holds normalised motion (normalized=True); the visualiser draws '
                         'un-normalised features (metres)')
    codec = codec or CHOISMotionCodec()
    (motion,) = _required(sample, [key], f'drawing the {which} motion')
    if motion.ndim != 2 or motion.shape[1] != codec.dim:
        raise ValueError(f'sample {_name(sample)}: {key} must be (T, {codec.dim}), got {motion.shape}')
    motion = np.asarray(motion, np.float64)
    bad = ~np.isfinite(motion).all(1)               # frames with NaN/inf (a diverged generation) are not drawn
    decoded = codec.decode(torch.as_tensor(np.where(bad[:, None], 0.0, motion)), orthonormalize=True)
    decoded['obj_rot'][torch.as_tensor(bad)] = torch.eye(3, dtype=torch.float64)
    out = dict(joints=decoded['joints'].numpy().copy(), contacts=decoded['contacts'].numpy().copy())
    out['joints'][bad] = np.nan
    if sample.get('object_verts') is None and object_mesh is None:
        return out
    ref_rot, scale, centroid = _required(sample, ['obj_ref_rot', 'obj_scale', 'template_centroid'],
                                         'placing the object')
    scale = np.asarray(scale, np.float64).reshape(-1)
    if len(scale) not in (1,) and len(scale) < len(motion):
        raise ValueError(f'sample {_name(sample)}: obj_scale has {len(scale)} frames, {key} {len(motion)}')
    scale = np.broadcast_to(scale[:len(motion)], (len(motion),))
    rot, trans = codec.object_pose(decoded, torch.as_tensor(ref_rot, dtype=torch.float64),
                                   torch.as_tensor(scale.copy()), torch.as_tensor(centroid, dtype=torch.float64))
    verts = np.asarray(object_mesh[0] if object_mesh is not None else sample['object_verts'], np.float64)
    out['obj_verts'] = scale[:, None, None] * np.einsum('tij,vj->tvi', rot.numpy(), verts) + trans.numpy()[:, None]
    out['obj_verts'][bad] = np.nan
    return out


def depicted_frames(sample: dict, num_frames: int) -> Dict[str, int]:
    """{'t_star': t*, 'pred_t_star': round(t^)} of the sample, those inside [0, num_frames)."""
    marks = {}
    for key in ('t_star', 'pred_t_star'):
        value = sample.get(key)
        if value is None:
            continue
        frame = int(round(float(np.asarray(value).reshape(-1)[0])))
        if 0 <= frame < num_frames:
            marks[key] = frame
    return marks


def _load_reference(sample: dict, reference_image) -> Optional[np.ndarray]:
    if reference_image is not None:
        image = np.asarray(reference_image)
    else:
        path = sample.get('reference_image')
        if not isinstance(path, str):
            return None
        import cv2
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            return None
        image = image[..., ::-1]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f'sample {_name(sample)}: the reference image must be (H, W, 3), got {image.shape}')
    image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return image


def _font_scale(bar_height: int) -> float:
    """OpenCV font scale of the text in a bar of `bar_height` rows (capitals about half the bar high)."""
    return bar_height / 40.0


def _put_text(canvas: np.ndarray, text: str, x: int, bar_height: int, right: Optional[int] = None,
              color=_TEXT_COLOR, limit: Optional[int] = None) -> None:
    """Write `text` in a bar of `bar_height` rows at the top of `canvas`, left-aligned at x (or right-aligned at
    `right`), truncated with '...' to `limit` pixels (default: what fits the canvas). Non-ASCII becomes '?'."""
    import cv2
    text = text.encode('ascii', 'replace').decode()
    scale = _font_scale(bar_height)
    thickness = 1
    if limit is None:
        limit = canvas.shape[1] - x - 2 if right is None else right - 2
    while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] > limit:
        text = text[:-4] + '...' if len(text) > 4 else ''
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    if right is not None:
        x = right - width
    cv2.putText(canvas, text, (int(x), int((bar_height + height) // 2)), cv2.FONT_HERSHEY_SIMPLEX, scale, color,
                thickness, cv2.LINE_AA)


def render_layout(panel_size: int, num_panels: int, aspect: float = 1.0) -> dict:
    """Pixel layout of a composite frame: a title bar (`bar` rows), the panels side by side (panel_w x panel_h,
    from row `top`), a bottom bar (caption and frame counter); `border`: width of a depicted-frame band.

    aspect: panel height / width (the camera's)."""
    width = int(panel_size)
    height = int(round(panel_size * aspect))
    bar = max(14, int(round(panel_size * 0.08)))
    return dict(panel_w=width, panel_h=height, bar=bar, border=max(2, int(round(panel_size / 64))),
                width=width * num_panels, height=2 * bar + height, top=bar)


def render_hoi_sample(sample, panel_size: int = 256, panels: Sequence[str] = PANEL_KINDS, camera: str = 'reference',
                      mark_depicted: bool = True, caption: bool = True, max_object_faces: int = 2000,
                      titles: Optional[dict] = None, reference_image=None, style: Optional[dict] = None,
                      codec=None) -> np.ndarray:
    """Render a sample as video frames (T_out, H, W, 3) uint8: one panel per entry of `panels`.

    sample: HOIDataSample / dict (see `sample_to_numpy`) with gt_motion and/or pred_motion (T, 220) un-normalised,
        the object template and pose fields (object_verts/object_faces, obj_ref_rot, obj_scale,
        template_centroid; without them only the skeleton is drawn), reference_image (PNG path) and
        reference_camera (Camera dict), t_star, pred_t_star, seq_len, text (all optional).
    panels: a subsequence of PANEL_KINDS; a motion panel whose motion is missing is left out.
    camera: 'reference' (the reference camera when the sample has one, else the overview camera) or
        'overview' (a fixed camera that sees both motions over the whole window).
    mark_depicted: draw a border around the motion panels at t* (orange; GT and generated) and at SFIE's t^
        (purple; generated panel, inside the t* border when both fall on one frame), with a 't*' / 't^' badge in
        the title bar.
    caption: write the sequence name and the text prompt in the bottom bar (which always shows the frame number).
    max_object_faces: the object mesh is simplified (vertex clustering) to at most this many faces.
    titles: {panel kind: title} overrides; reference_image: an (H, W, 3) image to show instead of the sample's.
    T_out = seq_len (valid frames) when given, else the motion length (the shorter of GT and generated).
    """
    import cv2
    sample = sample_to_numpy(sample)
    unknown = [p for p in panels if p not in PANEL_KINDS]
    if unknown or not panels:
        raise ValueError(f'panels must be a non-empty subsequence of {PANEL_KINDS}, got {list(panels)}')
    if camera not in ('reference', 'overview'):
        raise ValueError(f"camera must be 'reference' or 'overview', got {camera!r}")
    motions = [p for p in ('gt', 'pred') if sample.get(f'{p}_motion') is not None]
    if not motions:
        raise KeyError(f'sample {_name(sample)} has neither gt_motion nor pred_motion (has {sorted(sample)})')
    panels = [p for p in panels if p == 'reference' or p in motions]
    if not panels:
        raise KeyError(f'sample {_name(sample)}: none of the requested panels can be drawn (motions: {motions})')
    titles = {**_DEFAULT_TITLES, **(titles or {})}

    mesh = None
    if sample.get('object_verts') is not None:
        verts, faces = _required(sample, ['object_verts', 'object_faces'], 'drawing the object')
        mesh = simplify_mesh(verts, faces, max_object_faces)
    geometry = {m: motion_geometry(sample, m, codec, object_mesh=mesh) for m in motions}
    num_frames = min(len(g['joints']) for g in geometry.values())
    if sample.get('seq_len') is not None:
        num_frames = max(1, min(num_frames, int(sample['seq_len'])))

    ref_camera = sample.get('reference_camera')
    if isinstance(ref_camera, dict):
        ref_camera = Camera.from_dict(ref_camera)
    use_reference = camera == 'reference' and isinstance(ref_camera, Camera)
    aspect = ref_camera.height / ref_camera.width if use_reference else 1.0
    layout = render_layout(panel_size, len(panels), aspect)
    pw, ph, bar, border, top = (layout[k] for k in ('panel_w', 'panel_h', 'bar', 'border', 'top'))
    if use_reference:
        view = scale_camera(ref_camera, pw, ph)
    else:
        points = [g['joints'][:num_frames].reshape(-1, 3) for g in geometry.values()]
        points += [g['obj_verts'][:num_frames, ::max(1, g['obj_verts'].shape[1] // 64)].reshape(-1, 3)
                   for g in geometry.values() if 'obj_verts' in g]
        view = overview_camera(np.concatenate(points), pw, ph)
    base = geometry['gt' if 'gt' in geometry else 'pred']
    roots = base['joints'][:num_frames, 0, :2]
    roots = roots[np.isfinite(roots).all(1)]
    floor_centre = roots.mean(0) if len(roots) else None

    background = np.zeros((layout['height'], layout['width'], 3), np.uint8)
    background[:] = _BAR_COLOR
    reference = _load_reference(sample, reference_image) if 'reference' in panels else None
    for i, kind in enumerate(panels):
        x0 = i * pw
        _put_text(background[:bar, x0:x0 + pw], titles[kind], 4, bar)
        if kind == 'reference':
            if reference is not None:
                shrink = reference.shape[1] > pw
                background[top:top + ph, x0:x0 + pw] = cv2.resize(
                    np.ascontiguousarray(reference), (pw, ph), interpolation=cv2.INTER_AREA if shrink else
                    cv2.INTER_LINEAR)
            else:
                background[top:top + ph, x0:x0 + pw] = _MISSING_COLOR
                message = 'reference image not found' if isinstance(sample.get('reference_image'), str) else \
                    'no reference image'
                _put_text(background[top + ph // 2 - bar // 2:top + ph // 2 + bar - bar // 2, x0:x0 + pw],
                          message, 4, bar, color=(90, 90, 90))
    counter_width = cv2.getTextSize(f'frame {num_frames}/{num_frames}', cv2.FONT_HERSHEY_SIMPLEX, _font_scale(bar),
                                    1)[0][0]         # room for the frame counter at the right of the bottom bar
    if caption:
        text = sample.get('text') if isinstance(sample.get('text'), str) else ''
        _put_text(background[top + ph:, :], f'{_name(sample)}  {text}'.strip(), 4, bar,
                  limit=layout['width'] - counter_width - 12)

    marks = depicted_frames(sample, num_frames) if mark_depicted else {}
    style = {**DRAW_STYLE, **(style or {})}
    frames = np.empty((num_frames, layout['height'], layout['width'], 3), np.uint8)
    for t in range(num_frames):
        frame = frames[t]
        frame[:] = background
        _put_text(frame[top + ph:, :], f'frame {t}/{num_frames}', 4, bar, right=layout['width'] - 4)
        for i, kind in enumerate(panels):
            if kind == 'reference':
                continue
            x0, g = i * pw, geometry[kind]
            canvas = frame[top:top + ph, x0:x0 + pw]
            canvas[:] = style['background']
            obj_verts = g['obj_verts'][t] if 'obj_verts' in g else None
            draw_hoi_frame(canvas, view, g['joints'][t], obj_verts, mesh[1] if mesh is not None else None,
                           g['contacts'][t], floor_centre, style)
            _mark_panel(frame, marks, t, kind, x0, pw, ph, bar, border)
    return frames


def _mark_panel(frame: np.ndarray, marks: dict, t: int, kind: str, x0: int, pw: int, ph: int, bar: int,
                border: int) -> None:
    """Border bands and title-bar badge of the depicted frame(s) on one motion panel of frame `t`."""
    bands = []
    if marks.get('t_star') == t:
        bands.append(('t*', MARK_COLORS['t_star']))
    if kind == 'pred' and marks.get('pred_t_star') == t:
        bands.append(('t^', MARK_COLORS['pred_t_star']))
    if not bands:
        return
    panel = frame[bar:bar + ph, x0:x0 + pw]
    for depth, (_, color) in enumerate(bands):
        lo, hi = depth * border, (depth + 1) * border
        panel[lo:hi, lo:pw - lo] = color
        panel[ph - hi:ph - lo, lo:pw - lo] = color
        panel[lo:ph - lo, lo:hi] = color
        panel[lo:ph - lo, pw - hi:pw - lo] = color
    _put_text(frame[:bar, x0:x0 + pw], ' '.join(label for label, _ in bands), 4, bar, right=pw - 4,
              color=bands[0][1])

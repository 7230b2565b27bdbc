"""Writing rendered frames: MP4 / GIF files, GIF bytes (TensorBoard's video format), PNG images.

Owns which encoder writes which format with the packages of this environment: MP4 through imageio-ffmpeg (H.264)
when it is installed, else OpenCV's bundled FFmpeg (MPEG-4 part 2, 'mp4v'), else a GIF instead; GIF through Pillow
with one palette for the whole clip (fast, no flicker). Frames are (T, H, W, 3) uint8 RGB.
"""
import importlib.util
import io
import os
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ['video_encoder', 'write_video', 'encode_gif', 'write_image', 'VIDEO_FORMATS']

VIDEO_FORMATS = ('mp4', 'gif')
_OPENCV_MP4_OK = None


def _check_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f'frames must be a non-empty (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}')
    return frames


def _opencv_mp4_available() -> bool:
    """Whether OpenCV can open an 'mp4v' writer here (probed once on a tiny file)."""
    global _OPENCV_MP4_OK
    if _OPENCV_MP4_OK is None:
        import tempfile

        import cv2
        with tempfile.TemporaryDirectory() as tmp:
            writer = cv2.VideoWriter(osp.join(tmp, 'probe.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 30, (16, 16))
            _OPENCV_MP4_OK = bool(writer.isOpened())
            if _OPENCV_MP4_OK:
                writer.write(np.zeros((16, 16, 3), np.uint8))
            writer.release()
    return _OPENCV_MP4_OK


def video_encoder(fmt: str) -> Tuple[str, str]:
    """(format actually written, encoder) for a requested format 'mp4' or 'gif' in this environment.

    'mp4' -> ('mp4', 'imageio-ffmpeg (libx264)') | ('mp4', 'opencv (mp4v)') | ('gif', 'pillow') when neither works.
    """
    if fmt not in VIDEO_FORMATS:
        raise ValueError(f'video format must be one of {VIDEO_FORMATS}, got {fmt!r}')
    if fmt == 'mp4':
        if importlib.util.find_spec('imageio_ffmpeg') is not None:
            return 'mp4', 'imageio-ffmpeg (libx264)'
        if _opencv_mp4_available():
            return 'mp4', 'opencv (mp4v)'
    return 'gif', 'pillow'


def encode_gif(frames, fps: float = 30.0, extra_colors: Sequence[Sequence[int]] = ()) -> bytes:
    """Animated GIF bytes of frames (T, H, W, 3) uint8, looping, one adaptive palette for the whole clip.

    The palette is fitted on up to 8 evenly spaced frames plus swatches of `extra_colors` (RGB; e.g. the colours
    of marks shown on a single frame, so that they keep their colour). GIF delays are whole centiseconds."""
    from PIL import Image
    frames = _check_frames(frames)
    picks = np.unique(np.linspace(0, len(frames) - 1, min(8, len(frames))).round().astype(int))
    sample = [frames[i, ::2, ::2] for i in picks]
    if len(extra_colors):
        swatch = np.repeat(np.asarray(extra_colors, np.uint8)[:, None, :], sample[0].shape[1], axis=1)
        sample.append(np.repeat(swatch, max(1, sample[0].shape[0] // (4 * len(extra_colors))), axis=0))
    palette = Image.fromarray(np.ascontiguousarray(np.concatenate(sample, 0))).quantize(
        colors=255, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format='GIF', save_all=True, append_images=images[1:], loop=0, optimize=False,
                   duration=max(20, int(round(100.0 / float(fps))) * 10))
    return buffer.getvalue()


def write_video(path: str, frames, fps: float = 30.0, fmt: Optional[str] = None,
                extra_colors: Sequence[Sequence[int]] = ()) -> Tuple[str, str]:
    """Write frames (T, H, W, 3) uint8 RGB as a video; returns (path written, encoder).

    fmt: 'mp4' | 'gif' | None (from the extension of `path`). The extension of the written file is the format
    actually used (`video_encoder`): an MP4 request without an MP4 encoder writes `<stem>.gif`. MP4 frames are
    padded to even sizes (an H.264 requirement)."""
    frames = _check_frames(frames)
    stem, ext = osp.splitext(path)
    fmt = fmt or ext.lstrip('.').lower()
    fmt, encoder = video_encoder(fmt)
    path = f'{stem}.{fmt}'
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if fmt == 'gif':
        with open(path, 'wb') as f:
            f.write(encode_gif(frames, fps, extra_colors))
        return path, encoder
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode='edge')
    if encoder.startswith('imageio'):
        import imageio.v2 as imageio
        with imageio.get_writer(path, fps=fps, codec='libx264', quality=8, macro_block_size=2) as writer:
            for frame in frames:
                writer.append_data(frame)
        return path, encoder
    import cv2
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV could not open an mp4v writer for {path}')
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
    return path, encoder


def write_image(path: str, image) -> str:
    """Write an (H, W, 3) uint8 RGB image (PNG by the extension of `path`); returns the path."""
    import cv2
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f'image must be (H, W, 3) uint8, got {image.shape} {image.dtype}')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(image[..., ::-1])):
        raise RuntimeError(f'could not write the image {path}')
    return path

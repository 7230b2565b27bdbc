"""HOIVisualizer: the mmengine Visualizer of imagin4d; renders a sample as a video and logs it to the vis backends.

Owns how a rendered sample reaches each backend: TensorBoard gets an animated clip (its video format: a GIF image
summary, written directly because `SummaryWriter.add_video` needs moviepy, which is not a dependency) plus the
depicted frame as an image; LocalVisBackend gets a video file under `<save_dir>/vis_video/` plus the depicted frame
under `vis_image/`; any other backend gets the depicted frame. Rendering itself is `sample_render.render_hoi_sample`.
"""
import os.path as osp
import warnings
from typing import Optional, Sequence

import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import LocalVisBackend, TensorboardVisBackend, Visualizer

from imagin4d.registry import VISUALIZERS

from .sample_render import MARK_COLORS, PANEL_KINDS, depicted_frames, render_hoi_sample, sample_to_numpy
from .video_io import encode_gif, video_encoder, write_video

__all__ = ['HOIVisualizer', 'add_gif_summary']


def add_gif_summary(writer, tag: str, gif: bytes, height: int, width: int, step: int = 0) -> None:
    """Log animated-GIF bytes as a TensorBoard image summary, which TensorBoard plays as a video (the format
    that `SummaryWriter.add_video` produces). writer: a torch.utils.tensorboard or tensorboardX SummaryWriter."""
    if type(writer).__module__.startswith('tensorboardX'):
        from tensorboardX.proto.summary_pb2 import Summary
    else:
        from tensorboard.compat.proto.summary_pb2 import Summary
    image = Summary.Image(height=int(height), width=int(width), colorspace=3, encoded_image_string=gif)
    # `_get_file_writer` is the writer's own route for every summary (add_video uses it the same way).
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), int(step))


@VISUALIZERS.register_module()
class HOIVisualizer(Visualizer):
    """Renders HOI samples (reference image | GT | generated, see `render_hoi_sample`) and logs them.

    A drop-in replacement of mmengine's `Visualizer` in a config (`visualizer=dict(type='HOIVisualizer',
    vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])`): scalars and images are
    logged as before; `add_datasample` adds a rendered video.

    Args:
        name, vis_backends, save_dir: as mmengine's Visualizer.
        panel_size: panel width in pixels (a frame is `len(panels) * panel_size` wide).
        fps: playback rate of the videos (the data's 30 fps).
        camera: 'reference' (the sample's reference camera, else an overview) or 'overview'.
        max_object_faces: the object is drawn with at most this many faces (vertex clustering).
        video_stride: keep every k-th frame in logged videos (smaller TensorBoard event files); played at fps / k.
        video_format: 'mp4' or 'gif' for the files of LocalVisBackend and `out_file` (MP4 falls back to GIF
            where no MP4 encoder is installed).
    """

    def __init__(self, name: str = 'visualizer', vis_backends=None, save_dir: Optional[str] = None,
                 panel_size: int = 256, fps: float = 30.0, camera: str = 'reference', max_object_faces: int = 2000,
                 video_stride: int = 1, video_format: str = 'mp4', **kwargs):
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        if int(video_stride) < 1:
            raise ValueError(f'video_stride must be >= 1, got {video_stride}')
        video_encoder(video_format)                     # validates the format name
        self.panel_size, self.fps, self.camera = int(panel_size), float(fps), camera
        self.max_object_faces, self.video_stride, self.video_format = int(max_object_faces), int(video_stride), \
            video_format

    def render_sample(self, sample, panels: Sequence[str] = PANEL_KINDS, **overrides) -> np.ndarray:
        """Frames (T_out, H, W, 3) uint8 of a sample (HOIDataSample, its dict or a dumped dict); `overrides` go
        to `render_hoi_sample` (panel_size, camera, mark_depicted, caption, titles, reference_image, ...)."""
        options = dict(panel_size=self.panel_size, camera=self.camera, max_object_faces=self.max_object_faces)
        options.update(overrides)
        return render_hoi_sample(sample, panels=panels, **options)

    @staticmethod
    def still_index(sample, num_frames: int) -> int:
        """The frame shown as a still: the depicted frame t* (else SFIE's t^, else the middle frame)."""
        marks = depicted_frames(sample_to_numpy(sample), num_frames)
        return marks.get('t_star', marks.get('pred_t_star', num_frames // 2))

    @master_only
    def add_datasample(self, name: str, image: Optional[np.ndarray] = None, data_sample=None, draw_gt: bool = True,
                       draw_pred: bool = True, show: bool = False, wait_time: float = 0, step: int = 0,
                       out_file: Optional[str] = None) -> Optional[np.ndarray]:
        """Render `data_sample` and log it to every backend as `name` at `step`.

        image: (H, W, 3) RGB shown in the reference panel instead of the sample's reference image (None: the
        sample's `reference_image` file). draw_gt / draw_pred: include the GT / generated panel. out_file: also
        write the video there (format from its extension, see `video_io.write_video`). `show` is not supported
        (headless): it warns. Returns the frames (T_out, H, W, 3); the still (the depicted frame) becomes the
        visualizer's image (`get_image()`).
        """
        if data_sample is None:
            raise ValueError('HOIVisualizer.add_datasample needs a data_sample')
        if show:
            warnings.warn('HOIVisualizer cannot show windows (headless rendering); use out_file or a vis backend')
        panels = ['reference'] + (['gt'] if draw_gt else []) + (['pred'] if draw_pred else [])
        sample = sample_to_numpy(data_sample)
        frames = self.render_sample(sample, panels=panels, reference_image=image)
        still = frames[self.still_index(sample, len(frames))]
        self.set_image(still)
        clip = frames[::self.video_stride]
        fps = self.fps / self.video_stride
        for backend in self._vis_backends.values():
            self._log_to_backend(backend, name, clip, still, fps, step)
        if out_file is not None:
            write_video(out_file, frames, self.fps, extra_colors=list(MARK_COLORS.values()))
        return frames

    def _log_to_backend(self, backend, name: str, clip: np.ndarray, still: np.ndarray, fps: float,
                        step: int) -> None:
        backend.add_image(name, still, step=step)
        if isinstance(backend, TensorboardVisBackend):
            gif = encode_gif(clip, fps, extra_colors=list(MARK_COLORS.values()))
            add_gif_summary(backend.experiment, f'{name}_video', gif, clip.shape[1], clip.shape[2], step)
        elif isinstance(backend, LocalVisBackend):
            save_dir = backend.experiment._save_dir     # `experiment` initialises the backend's folders
            write_video(osp.join(save_dir, 'vis_video', f'{name}_{step}.{self.video_format}'), clip, fps,
                        extra_colors=list(MARK_COLORS.values()))

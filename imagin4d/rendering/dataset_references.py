"""Reference images for every window of an HOI data set: the depicted frames, the render calls and the index.

Owns `render_dataset_references` and the index file format that training and evaluation read: a JSON list of
entries {seq_name, window_start, t_star, image (path relative to the index), camera (Camera.to_dict), style}.
Evaluation windows get their contact-centred frame; training windows `frames_per_window` contact-biased
frames. The camera azimuth is measured from the body's facing at the depicted frame (`body_heading`). The camera
sequence id is `<dataset>/<seq_name>@<window_start>` because each window has its own canonical frame. Styles that
dress the body (`scene`) get its parts from the body model's skinning weights (`appearance.parts_from_skinning`).

Each depicted frame is posed (window assembly, decoded joints, the body model's forward: every torch computation of
an image) and then rendered (camera tries, rasterisation, cache). With render workers, the calling process poses and
the workers render: the body's float32 sums split over torch's threads, so the vertices' last bits depend on the
thread count, and a forked worker cannot run more threads than one (libgomp hangs in a child of a process that used
its thread pool). Posed in one process, the images are those of that process, however many render.
"""
import json
import os
from typing import List, Optional

import numpy as np

from imagin4d.geometry import body_heading
from imagin4d.geometry.depicted_frame import contact_centred_frame, sample_depicted_frames
from imagin4d.utils.fileio import atomic_open

from .errors import RenderError
from .reference import ReferenceRenderer, look_at_point

__all__ = ['render_dataset_references', 'render_window_reference', 'load_reference_index', 'window_id',
           'write_mixture_index']


def window_id(window: dict) -> str:
    """'<dataset>/<seq_name>@<window_start>': the render-cache sequence name of a window."""
    return f"{window['dataset']}/{window['seq_name']}@{int(window['window_start'])}"


def _depicted_frames(window: dict, frames_per_window: Optional[int], seed: int) -> List[int]:
    contacts = np.asarray(window['contacts'])
    if not frames_per_window:
        return [contact_centred_frame(contacts)]
    rng = np.random.default_rng([seed, int(window['window_start']), *map(ord, window['seq_name'])])
    return sample_depicted_frames(contacts, frames_per_window, rng)


def _frame_geometry(dataset, window: dict, frame: int, parts_cache: dict) -> dict:
    """`dataset.frame_geometry` plus body_parts (Vb,) from the body model's skinning weights where the data set
    exposes its body model (else the style falls back to the frame's joints24)."""
    geo = dataset.frame_geometry(window, frame)
    get_model = getattr(dataset, '_body_model', None)
    if get_model is not None:
        gender = window['gender']
        if gender not in parts_cache:
            from .appearance import parts_from_skinning
            body = get_model(gender)
            parts_cache[gender] = parts_from_skinning(body.smplx_model.lbs_weights.cpu().numpy(), body.model_type)
        if len(parts_cache[gender]) == len(geo['body_verts']):
            geo['body_parts'] = parts_cache[gender]
    return geo


def _object_box_corners(dataset, window: dict, frame: int) -> np.ndarray:
    """(8, 3) corners of the object's template bounding box placed at `frame` (cheap; no mesh needed)."""
    verts = np.asarray(dataset.object_template(window['object_name'])['verts'], np.float64)
    lo, hi = verts.min(0), verts.max(0)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    rot = np.asarray(window['obj_rot'][frame], np.float64)
    return float(window['obj_scale'][frame]) * corners @ rot.T + np.asarray(window['obj_trans'][frame], np.float64)


def _frame_pose(dataset, window: dict, t_star: int, decoded, parts_cache: dict, geometry_now: bool = False) -> dict:
    """What the renderer needs of depicted frame `t_star` of an assembled window, computed in this process:
    {seq_id, t_star, look_at (3,), facing (3,), geometry (dict of numpy arrays, or a callable building it on a
    cache miss when not `geometry_now`)}. Camera aimed at the body's joints and the object's box, azimuth from
    the body's facing."""
    joints = decoded['joints'][t_star]
    look_at = look_at_point(joints.numpy(), _object_box_corners(dataset, window, t_star))

    def geometry():
        return _frame_geometry(dataset, window, t_star, parts_cache)
    return dict(seq_id=window_id(window), t_star=int(t_star), look_at=look_at, facing=body_heading(joints).numpy(),
                geometry=geometry() if geometry_now else geometry)


def _render_pose(renderer: ReferenceRenderer, pose: dict):
    return renderer(pose['seq_id'], pose['t_star'], pose['geometry'], look_at=pose['look_at'], facing=pose['facing'])


def render_window_reference(dataset, renderer: ReferenceRenderer, window: dict, t_star: int, decoded=None,
                            parts_cache: Optional[dict] = None):
    """The `ReferenceImage` of one assembled window at depicted frame `t_star`, rendered as the index builder
    renders it (camera aimed at the body's joints and the object's box, azimuth from the body's facing).
    decoded: `dataset.codec.decode(window['motion'])` when already at hand. Raises RenderError like the renderer."""
    decoded = dataset.codec.decode(window['motion']) if decoded is None else decoded
    return _render_pose(renderer, _frame_pose(dataset, window, t_star, decoded, {} if parts_cache is None
                                              else parts_cache))


def _window_poses(dataset, idx: int, frames_per_window, seed: int, parts_cache: dict, geometry_now: bool = False):
    """(seq_name, window_start, [`_frame_pose` of each depicted frame]) of window `idx`."""
    window = dataset.assemble_window(dataset.get_data_info(idx))
    decoded = dataset.codec.decode(window['motion'])
    poses = [_frame_pose(dataset, window, t_star, decoded, parts_cache, geometry_now)
             for t_star in _depicted_frames(window, frames_per_window, seed)]
    return window['seq_name'], int(window['window_start']), poses


def _window_entries(renderer: ReferenceRenderer, root: str, seq_name: str, window_start: int, poses: list):
    """(index entries, failure messages, images from the cache, images rendered) of one window's posed frames."""
    entries, failed, cached, renders = [], [], 0, renderer.renders
    for pose in poses:
        try:
            ref = _render_pose(renderer, pose)
        except RenderError as err:
            failed.append(str(err))
            continue
        cached += int(ref.cached)
        png = renderer.cache.paths(ref.key)[0]
        entries.append(dict(seq_name=seq_name, window_start=window_start, t_star=pose['t_star'],
                            image=os.path.relpath(png, root), camera=ref.camera.to_dict(), style=renderer.style.name))
    return entries, failed, cached, renderer.renders - renders


_WORKER = {}  # what a forked render worker renders with (set by the parent right before it forks)


def _worker_window(posed):
    """Render one window posed by the parent: (seq_name, window_start, poses) -> `_window_entries`."""
    return _window_entries(_WORKER['renderer'], _WORKER['root'], *posed)


def _worker_init():
    """A render worker: one rasteriser thread (the workers fill the cores) and one torch thread (more hang in a
    forked child of a process that has used torch's thread pool; the worker computes nothing that needs them)."""
    import torch
    os.environ['LP_NUM_THREADS'] = '1'   # read by Mesa llvmpipe when this process creates its context
    torch.set_num_threads(1)


def render_dataset_references(dataset, renderer: ReferenceRenderer, index_file: str,
                              frames_per_window: Optional[int] = None, seed: int = 0, progress: bool = True,
                              workers: int = 1) -> dict:
    """Render (or reuse from the cache) the reference images of every window of `dataset`; write the index.

    dataset: a BaseHOIDataset (assemble_window / frame_geometry); renderer: with a `cache_root`.
    frames_per_window: None = the evaluation rule (contact-centred frame), k = k training frames per window.
    workers: render processes (forked; each renders whole windows with its own OpenGL context and one rasteriser
    thread) while this process poses the frames (see the module docstring): the index and the image bytes are
    those of this process rendering alone. A process that has rendered already cannot fork renderers (see
    `scene._check_fork_safety`) and renders alone.
    A window whose every sampled camera fails the visibility checks is left out of the index and reported
    (`failed`: one message per image naming the sequence and frame); nothing blank is ever indexed.
    Returns counts {windows, images, rendered, cached, failed, workers (the render processes used)}.
    """
    if renderer.cache is None:
        raise ValueError('render_dataset_references needs a ReferenceRenderer with cache_root set')
    from tqdm import tqdm

    from .scene import gl_context_created
    root = os.path.dirname(os.path.abspath(index_file))
    entries, failed, cached, rendered = [], [], 0, 0
    desc = f'references ({renderer.style.name})'
    workers = min(int(workers), len(dataset)) if not gl_context_created() else 1
    parts_cache = {}
    if workers > 1:
        import multiprocessing
        _WORKER.update(renderer=renderer, root=root)
        # this process poses every frame (eagerly: a worker cannot run the body model as this process does) while
        # the workers render; the pool's task thread pulls the poses only as fast as the workers take them
        posed = (_window_poses(dataset, idx, frames_per_window, seed, parts_cache, geometry_now=True)
                 for idx in range(len(dataset)))
        try:
            with multiprocessing.get_context('fork').Pool(workers, _worker_init) as pool:
                results = list(tqdm(pool.imap(_worker_window, posed), total=len(dataset), desc=desc,
                                    disable=not progress))
        finally:
            _WORKER.clear()
        renderer.renders += sum(r[3] for r in results)  # the workers' renders, counted as this renderer's
    else:
        results = (_window_entries(renderer, root, *_window_poses(dataset, idx, frames_per_window, seed, parts_cache))
                   for idx in tqdm(range(len(dataset)), desc=desc, disable=not progress))
    for window_entries, window_failed, window_cached, window_rendered in results:
        entries += window_entries
        failed += window_failed
        cached += window_cached
        rendered += window_rendered
    with atomic_open(index_file, 'w') as f:
        json.dump(entries, f)
    return dict(windows=len(dataset), images=len(entries), rendered=rendered, cached=cached, failed=failed,
                workers=max(1, workers))


def load_reference_index(index_file: str) -> List[dict]:
    """The entries of an index written by `render_dataset_references`, with absolute image paths."""
    if not os.path.isfile(index_file):
        raise FileNotFoundError(f'reference index {index_file} does not exist; build it with '
                                'tools/data/render_references.py')
    root = os.path.dirname(os.path.abspath(index_file))
    with open(index_file) as f:
        entries = json.load(f)
    for entry in entries:
        entry['image'] = os.path.join(root, entry['image'])
    return entries


def write_mixture_index(index_files: List[str], out_file: str) -> dict:
    """One index listing every image of the given indexes (e.g. train_mesh.json, train_scene.json, ...; same
    folder as `out_file`): a training pipeline with choice='random' then draws a style and a depicted frame per
    window, the domain-randomisation mixture. Windows missing from some style keep the styles they have.
    Returns {style: images} of the mixture."""
    entries, counts = [], {}
    out_root = os.path.dirname(os.path.abspath(out_file))
    for index_file in index_files:
        for entry in load_reference_index(index_file):
            entry['image'] = os.path.relpath(entry['image'], out_root)
            entries.append(entry)
            counts[entry.get('style', '?')] = counts.get(entry.get('style', '?'), 0) + 1
    with atomic_open(out_file, 'w') as f:
        json.dump(entries, f)
    return counts

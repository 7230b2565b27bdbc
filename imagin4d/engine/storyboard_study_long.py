"""The storyboard study's long sequences (issue 29): the mini-FBM long test sequences as long requests with one image
or a storyboard, generated and measured over their whole length.

Owns the reference pictures of a long test sequence (`render_sequence_frame`: mesh style, 448 px, the camera in front
of the body at that frame, as `benchmarks/long_generation.py` renders its one picture; cached as PNG per sequence and
frame so that every model and seed reads the same pictures), the requests of one setting:

    one    the first segment's picture, no frame given (the long-generation benchmark's request)
    board  one picture per segment at that segment's depicted frame (`long_test/index.json` depicted_frames), each
           with its frame given: each picture conditions the windows that hold its moment

and `evaluate_long` (generation through `HOIInferencer`, the config's test_cfg, `LongSequenceMetric` per sequence
plus the hidden factors recovered at each segment's depicted frame against that segment's factors:
`factor_accuracy_seg<k>`, mean over the three factors). `ground_truth_long` measures the sequences themselves.
Rows are averaged over sequences; the numbers are metres for penetration, mm for waypoints and jumps.
"""
import json
import os
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from imagin4d.engine.benchmark.runner import BENCHMARK_SAMPLING

__all__ = ['LONG_SETTINGS', 'render_sequence_frame', 'long_requests', 'evaluate_long', 'ground_truth_long',
           'segment_factor_accuracy']

#: foot sliding on CHOIS's per-sequence floor, as the configs' HOIMotionMetric scores the single windows beside
#: them on the page (`projects/imagin4d/_base_/datasets/hoi_references.py`)
FLOOR_HEIGHT = 'estimate'
#: setting -> what its requests carry (see the module docstring)
LONG_SETTINGS = {'one': 'the first segment\'s picture, no frame given',
                 'board': 'one picture per segment at its depicted frame, frames given'}
IMAGE_SIZE = 448


def render_sequence_frame(body_model_root: str, seq: dict, frame: int, mesh, scale: float, name: str) -> np.ndarray:
    """(448, 448, 3) uint8 mesh-style picture of a long sequence (its `.npz` arrays) at `frame`, the camera in front
    of the body."""
    import torch

    from imagin4d.body_models import load_body_model
    from imagin4d.geometry import body_heading
    from imagin4d.rendering import ReferenceRenderer
    body = load_body_model(body_model_root, 'smplx', str(seq['gender']))
    with torch.no_grad():
        out = body(betas=torch.as_tensor(seq['betas'][:body.num_betas], dtype=torch.float32)[None],
                   global_orient=torch.as_tensor(seq['root_orient'][frame:frame + 1], dtype=torch.float32),
                   body_pose=torch.as_tensor(seq['pose_body'][frame:frame + 1], dtype=torch.float32),
                   transl=torch.as_tensor(seq['trans'][frame:frame + 1], dtype=torch.float32))
    obj = scale * np.asarray(mesh.vertices) @ seq['obj_rot'][frame].T + seq['obj_trans'][frame]
    geometry = dict(body_verts=out['vertices'][0].numpy(), body_faces=body.faces.numpy(), obj_verts=obj,
                    obj_faces=np.asarray(mesh.faces))
    facing = body_heading(torch.as_tensor(seq['joints24'][frame])).numpy()
    return ReferenceRenderer('mesh', width=IMAGE_SIZE, height=IMAGE_SIZE, seed=0)(name, frame, geometry,
                                                                                 facing=facing).image


def _picture(cache_dir: str, body_model_root: str, folder: Path, name: str, info: dict, frame: int) -> str:
    """The cached PNG of sequence `name` at `frame` (rendered once)."""
    path = osp.join(cache_dir, f'{name}_f{frame:04d}.png')
    if not osp.isfile(path):
        import trimesh
        from PIL import Image

        from imagin4d.utils.fileio import atomic_open
        seq = dict(np.load(folder / info['body']))
        mesh = trimesh.load(folder / info['object_mesh'], force='mesh', process=False)
        image = render_sequence_frame(body_model_root, seq, frame, mesh, info['object_scale'], name)
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_open(path, 'wb') as f:
            Image.fromarray(image).save(f, format='PNG')
    return path


def read_long_index(long_root: str) -> dict:
    """`<long_root>/long_test/index.json` (version 2: depicted frames per segment), or a one-line error."""
    from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR, LONG_TEST_VERSION
    path = osp.join(long_root, LONG_TEST_DIR, 'index.json')
    if not osp.isfile(path):
        raise SystemExit(f'error: {path} missing; write it with tools/data/make_mini_fbm.py --out {long_root} '
                         '--long-test 4 --long-test-only')
    with open(path) as f:
        index = json.load(f)
    if index.get('version') != LONG_TEST_VERSION:
        raise SystemExit(f'error: {path}: field "version" is {index.get("version")!r}, this code writes long test '
                         f'version {LONG_TEST_VERSION}; write it again with tools/data/make_mini_fbm.py --out '
                         f'{long_root} --long-test {len(index.get("sequences", {})) or 4} --long-test-only')
    return index


def long_requests(long_root: str, setting: str, num: int, cache_dir: str, body_model_root: str,
                  steps: Optional[int] = None) -> list:
    """The HOIRequests of the first `num` long test sequences (sorted by name) for `setting` ('one' or 'board'),
    sampled as the benchmark samples (`BENCHMARK_SAMPLING`, `steps` steps)."""
    from imagin4d.apis import HOIRequest
    from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR
    if setting not in LONG_SETTINGS:
        raise ValueError(f'long setting {setting!r}; expected one of {sorted(LONG_SETTINGS)}')
    index = read_long_index(long_root)
    folder = Path(long_root) / LONG_TEST_DIR
    requests = []
    for name in sorted(index['sequences'])[:num]:
        info = index['sequences'][name]
        frames = info['depicted_frames'] if setting == 'board' else info['depicted_frames'][:1]
        pictures = [_picture(cache_dir, body_model_root, folder, name, info, f) for f in frames]
        common = dict(text=info['text'], object_mesh=str(folder / info['object_mesh']),
                      object_scale=info['object_scale'], waypoints=str(folder / info['waypoints']),
                      start_body=str(folder / info['body']), name=name, steps=steps,
                      **{k: BENCHMARK_SAMPLING[k] for k in ('sampler', 'timestep_spacing', 'guidance_image')})
        requests.append(HOIRequest(images=pictures, frames=list(frames), **common) if setting == 'board'
                        else HOIRequest(reference_image=pictures[0], **common))
    return requests


def _given_waypoints(folder: Path, info: dict) -> list:
    spec = json.loads((folder / info['waypoints']).read_text())
    return [(0, spec['object_start']['position'])] + [(w['frame'], w['position']) for w in spec['waypoints']]


def segment_factor_accuracy(joints: np.ndarray, centre: np.ndarray, contacts: Optional[np.ndarray],
                            frames: List[int], factors: List[Dict[str, str]]) -> Dict[str, float]:
    """Per segment k, the share of its three hidden factors that the motion shows at its depicted frame
    (`recover_factors`): {'factor_accuracy_seg<k>': ..., 'factor_accuracy_segments': mean over segments}."""
    from imagin4d.geometry.interaction_factors import recover_factors
    out = {}
    for k, (frame, truth) in enumerate(zip(frames, factors)):
        found = recover_factors(joints, centre, contacts, int(frame))
        out[f'factor_accuracy_seg{k}'] = float(np.mean([found[name] == value for name, value in truth.items()]))
    out['factor_accuracy_segments'] = float(np.mean(list(out.values())))
    return out


def _mean_rows(rows: List[dict]) -> Dict[str, float]:
    from imagin4d.evaluation.metrics.long_sequence_metric import LongSequenceMetric
    numbers = [{k: v for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
               for r in rows]
    return LongSequenceMetric(floor_height=FLOOR_HEIGHT).compute_metrics(numbers)


def evaluate_long(config: str, checkpoint: str, long_root: str, setting: str, num: int, cache_dir: str,
                  body_model_root: str, steps: Optional[int] = None) -> dict:
    """Generate the long requests of `setting` with one model and measure them: {'metrics': mean over sequences,
    'rows': per sequence}."""
    from imagin4d.apis import HOIInferencer
    from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR
    from imagin4d.evaluation.metrics.long_sequence_metric import LongSequenceMetric, long_sample
    index = read_long_index(long_root)
    folder = Path(long_root) / LONG_TEST_DIR
    requests = long_requests(long_root, setting, num, cache_dir, body_model_root, steps)
    results = [samples[0] for samples in HOIInferencer(config, checkpoint, body_model_root=body_model_root)(requests)]
    metric = LongSequenceMetric(floor_height=FLOOR_HEIGHT)
    rows = []
    for request, result in zip(requests, results):
        info = index['sequences'][request.name]
        row = metric.sample_row(long_sample(result, waypoints=_given_waypoints(folder, info)))
        row.update(segment_factor_accuracy(result.joints, np.asarray(result.meta['object_centre']), result.contacts,
                                           info['depicted_frames'], info['factors']))
        rows.append(dict(row, seq_name=request.name, windows=len(result.meta['windows'])))
    return dict(metrics=_mean_rows(rows), rows=rows)


def ground_truth_long(long_root: str, num: int) -> dict:
    """The long test sequences themselves measured like a generation (seams: none; waypoint errors 0 by
    construction): {'metrics', 'rows'}."""
    import trimesh

    from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR
    from imagin4d.evaluation.metrics.long_sequence_metric import LongSequenceMetric
    index = read_long_index(long_root)
    folder = Path(long_root) / LONG_TEST_DIR
    rows = []
    for name in sorted(index['sequences'])[:num]:
        info = index['sequences'][name]
        seq = dict(np.load(folder / info['body']))
        mesh = trimesh.load(folder / info['object_mesh'], force='mesh', process=False)
        row = LongSequenceMetric(floor_height=FLOOR_HEIGHT).sample_row(dict(
            joints=seq['joints24'], obj_com=seq['obj_centre'], obj_rot=seq['obj_rot'], obj_trans=seq['obj_trans'],
            obj_scale=float(seq['obj_scale']), object_verts=np.asarray(mesh.vertices),
            object_faces=np.asarray(mesh.faces), waypoints=_given_waypoints(folder, info), seams=[], seq_name=name))
        row.update(segment_factor_accuracy(seq['joints24'], seq['obj_centre'], seq['contacts'],
                                           info['depicted_frames'], info['factors']))
        rows.append(dict(row, seq_name=name))
    return dict(metrics=_mean_rows(rows), rows=rows)

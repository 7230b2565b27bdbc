"""`init_model` and `HOIInferencer`: a trained checkpoint applied to users' requests, in the OpenMMLab style.

Owns loading a model for inference (config + checkpoint, strict, EMA weights and codec statistics as saved), the
frozen text and image encoders of the config (features on the fly, no caches), batching of requests and samples,
and the per-stage timings. The geometry of a request is `request_window`; motions longer than one window are
chained windows (`long_generation`); storyboards of several reference images are `storyboard`; the files are
`exporters`.
"""
import copy
import logging
import os
import os.path as osp
import time
import warnings
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint

from imagin4d.body_models.locate import body_model_dirs
from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
from imagin4d.engine.checkpoint import OPTIONAL_STATE_KEYS, check_checkpoint_matches, checkpoint_state_dict, config_name
from imagin4d.geometry import make_bps_basis
from imagin4d.models.schedulers.base import TIMESTEP_SPACINGS
from imagin4d.models.schedulers.test_cfg import TEST_SAMPLERS
from imagin4d.registry import MODELS
from imagin4d.utils.errors import UserError
from imagin4d.utils.plugins import load_plugins, record_custom_imports

from .long_generation import DEFAULT_OVERLAP, continue_chains, plan_windows, window_waypoints
from .request_window import (
    body_state,
    build_window,
    decode_world,
    default_start_body,
    prepare_object,
    stand_on_floor,
    world_to_result,
)
from .requests import (
    HOIRequest,
    RequestError,
    check_num_frames,
    load_object_mesh,
    load_start_body,
    load_waypoints,
)
from .storyboard import NO_IMAGE, request_images, window_image_indices, window_storyboard

__all__ = ['init_model', 'HOIInferencer', 'default_body_model_root']

SAMPLING_KEYS = ('sampler', 'steps', 'timestep_spacing', 'guidance_image', 'guidance_text', 'inpaint_waypoints',
                 'reconstruction_guidance')
#: test_cfg key of each of SAMPLING_KEYS
_TEST_CFG_KEYS = ('sampler', 'num_steps', 'timestep_spacing', 'guidance_image', 'guidance_text', 'inpaint_waypoints',
                  'reconstruction_guidance')


def _load_config(config) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if isinstance(config, dict):
        return Config(copy.deepcopy(config))
    if not osp.isfile(os.fspath(config)):
        raise UserError(f'config file {config} does not exist')
    return Config.fromfile(os.fspath(config))


def init_model(config, checkpoint: Optional[str] = None, device: str = 'cpu'):
    """Build the model of a config and load a checkpoint's weights (its EMA weights: mmengine saves them as the
    checkpoint's `state_dict`) and codec statistics; returns it in eval mode on `device`, with `.cfg` set.

    Loading is strict: a key missing from the checkpoint, an unexpected one or a shape that differs is an error
    naming them (a checkpoint of another variant would otherwise leave parts of the model random).
    """
    load_plugins()
    cfg = _load_config(config)
    record_custom_imports((cfg.get('custom_imports') or {}).get('imports'))
    init_default_scope(cfg.get('default_scope', 'imagin4d'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise UserError(f'checkpoint {checkpoint} does not exist')
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
        check_checkpoint_matches(model, ckpt, checkpoint, config_name(cfg), model_cfg=cfg.get('model'),
                                 optional_keys=OPTIONAL_STATE_KEYS)
        model.load_state_dict(checkpoint_state_dict(ckpt, checkpoint), strict=False)
        if not bool(model.data_preprocessor.stats_ready):
            raise UserError(f'{checkpoint} carries no motion normalisation statistics (trained by another tool?)')
    model.cfg = cfg
    return model.to(device).eval()


def default_body_model_root() -> str:
    """IMAGIN4D_BODY_MODEL_DIR, else data/body_models of the current folder, as an absolute path (the free body is
    built there on first use, with a message)."""
    return osp.abspath(body_model_dirs(None, [osp.join('data', 'body_models')])[0])


def _test_pipeline_settings(cfg: Config) -> dict:
    """What the config's test data set and pipeline fix: feature extractors, BPS, waypoint protocol, window."""
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = dict(loader.get('dataset', {}))
    while 'dataset' in dataset and 'pipeline' not in dataset:          # wrappers (RepeatDataset, ...)
        dataset = dict(dataset['dataset'])
    load = next((dict(t) for t in dataset.get('pipeline', []) if str(t.get('type', '')).endswith(
        'LoadReferenceFeatures')), {})
    image_backbone = (load.get('image_backbone') or DEFAULT_IMAGE_BACKBONE) if load.get('reference_index') else None
    return dict(image_backbone=image_backbone,
                text_encoder=load.get('text_encoder'), feature_key=load.get('feature_key', 'image'),
                window=int(dataset.get('window', 120)), bps=(int(dataset.get('bps_num_points', 1024)),
                                                            float(dataset.get('bps_radius', 1.0)),
                                                            int(dataset.get('bps_seed', 0))),
                first_frame_human=bool(dataset.get('first_frame_human', True)))


class HOIInferencer:
    """Generate human-object interactions from requests (text, object mesh, reference image, waypoints).

    Args:
        config: a config file, dict or Config (the one the checkpoint was trained with).
        checkpoint: the trained checkpoint (`tools/train.py` output).
        device: 'cpu' or 'cuda'.
        body_model_root: folder with `smplx/SMPLX_{GENDER}.npz` for the exported parameters (default
            `default_body_model_root()`; the free body is built there when missing).
        batch_size: windows sampled together (requests x samples).
        progress: show a progress bar over the sampling steps.
        overlap: frames shared by consecutive windows of a long motion (a request of more frames than the
            model window; `long_generation`), and the length of the seam blend.
        blend: frames of each seam's cross-fade (default: `overlap`; 0: a hard cut, for comparison).

    `inferencer(request_or_list)` returns one list of `HOIResult` (one per sample) per request; a single request
    gives a single list. `last_timings` has the seconds spent in each stage of the last call.
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device: str = 'cpu',
                 body_model_root: Optional[str] = None, batch_size: int = 32, progress: bool = False,
                 overlap: int = DEFAULT_OVERLAP, blend: Optional[int] = None):
        self.model = init_model(config, checkpoint, device)
        self.cfg, self.device = self.model.cfg, torch.device(device)
        self.settings = _test_pipeline_settings(self.cfg)
        self.batch_size, self.progress, self.overlap, self.blend = int(batch_size), progress, overlap, blend
        self.body_model_root = body_model_root or default_body_model_root()
        self.uses_image = any(s == 'image' for s in self.model.sources.values())
        self.reads_storyboards = all(getattr(enc, 'storyboard', False) for slot, enc in self.model.encoders.items()
                                     if self.model.sources[slot] == 'image')
        self.uses_text = any(s == 'text' for s in self.model.sources.values()) or \
            'frame_image_encoder' in self.model.encoders
        self._body_models: Dict[str, object] = {}
        # the frozen encoders of the config, built once here so that a request pays only for running them
        self._extractors = {kind: self._build_extractor(kind) for kind, used in
                            (('text', self.uses_text and self.settings['text_encoder']),
                             ('image', self.uses_image and self.settings['image_backbone'])) if used}
        self.bps_basis = make_bps_basis(*self.settings['bps']).numpy().astype(np.float64)
        pre = self.model.data_preprocessor
        self.start_pose = pre.start_pose.cpu().numpy() if bool(pre.start_ready) else None
        self.start_object_xy = pre.start_object_xy.cpu().numpy() if bool(pre.start_ready) else np.array([0.0, 0.6])
        if self.start_pose is None:
            print_log('the checkpoint keeps no typical start pose (trained before it was recorded): generation '
                      'starts from a built-in standing pose', logger='current', level=logging.WARNING)
        self.last_timings: Dict[str, float] = {}

    # ------------------------------------------------------------------ resources
    def _build_extractor(self, kind: str):
        cfg = copy.deepcopy(self.settings['image_backbone' if kind == 'image' else 'text_encoder'])
        if kind == 'image':          # a non-square picture is padded with white to a square, never squashed
            cfg['preprocess'] = dict(cfg.get('preprocess') or {}, resize='pad')
        return MODELS.build(cfg).to(self.device)

    def body_model(self, gender: str):
        if gender not in self._body_models:
            from imagin4d.body_models import BodyModel
            from imagin4d.body_models.body_model import model_path
            if not model_path(self.body_model_root, 'smplx', gender).is_file():
                from imagin4d.body_models.free_body import ensure_free_body_model
                print_log(f'no SMPL-X body model under {self.body_model_root}: building the free body there '
                          '(once, about a minute)', logger='current')
                ensure_free_body_model(self.body_model_root)
            self._body_models[gender] = BodyModel(self.body_model_root, 'smplx', gender).eval()
        return self._body_models[gender]

    # ------------------------------------------------------------------ requests
    def _resolve(self, request: HOIRequest, index: int) -> dict:
        if not isinstance(request, HOIRequest):
            request = HOIRequest.from_dict(request, f'request {index}')
        if not isinstance(request.text, str) or not request.text.strip():
            raise RequestError(f'request {request.name or index}: text is empty; a sentence describing the '
                               'interaction is expected')
        for field, known in (('sampler', TEST_SAMPLERS), ('timestep_spacing', TIMESTEP_SPACINGS)):
            value = getattr(request, field)
            if value is not None and value not in known:
                raise RequestError(f'request {request.name or index}: {field}: expected one of {sorted(known)}, '
                                   f'got {value!r}')
        if request.reconstruction_guidance and self.model.reconstruction_guidance is None:
            raise RequestError(f'request {request.name or index}: reconstruction_guidance: this model has none '
                               '(its config sets no model.reconstruction_guidance)')
        if not (isinstance(request.object_scale, (int, float)) and request.object_scale > 0):
            raise RequestError(f'request {request.name or index}: object_scale must be a positive number, got '
                               f'{request.object_scale!r}')
        mesh = load_object_mesh(request.object_mesh)
        window = self.settings['window']
        where = f'request {request.name or index}'
        if request.num_frames is not None:
            check_num_frames(request.num_frames, window, f'{where}: num_frames')
        waypoints = load_waypoints(request.waypoints, request.num_frames, window) \
            if request.waypoints is not None else None
        num_frames = waypoints.num_frames if waypoints is not None else (request.num_frames or window)
        images, frames = request_images(request, where, num_frames)
        if images:
            if not self.uses_image:
                warnings.warn(f'request {request.name or index}: the model has no image cue (a no-image checkpoint); '
                              'the reference image is ignored', UserWarning, stacklevel=3)
        elif self.uses_image:
            raise RequestError(f'request {request.name or index}: this model reads a reference image '
                               '(reference_image / --image is required)')
        if request.images is not None and self.uses_image and not self.reads_storyboards:
            raise RequestError(f'request {request.name or index}: images (a storyboard) need a model with SFIE and '
                               'the frame-aware encoder; this one reads one reference_image')
        plan = plan_windows(num_frames, window, self.overlap, self.blend)
        if request.start_body is not None:
            start = load_start_body(request.start_body, request.start_frame, request.gender)
        else:
            start = default_start_body(self.start_pose)
            start.gender = request.gender or 'neutral'
        body = self.body_model(start.gender)
        if request.start_body is None:
            start = stand_on_floor(body, start)
        return dict(request=request, name=request.name or f'request_{index}', mesh=mesh, images=images, frames=frames,
                    storyboard=request.images is not None,
                    waypoints=waypoints, plan=plan, start=start, body=body,
                    mesh_path=os.fspath(request.object_mesh) if isinstance(request.object_mesh,
                                                                           (str, os.PathLike)) else None)

    def sampling(self, request: HOIRequest) -> tuple:
        """The sampling settings of a request (SAMPLING_KEYS), the config's test_cfg where it gives none."""
        cfg = self.model.test_cfg
        return (request.sampler or cfg['sampler'], int(request.steps or cfg['num_steps']),
                request.timestep_spacing or cfg['timestep_spacing'],
                float(cfg['guidance_image'] if request.guidance_image is None else request.guidance_image),
                float(cfg['guidance_text'] if request.guidance_text is None else request.guidance_text),
                bool(cfg['inpaint_waypoints'] if request.inpaint_waypoints is None else request.inpaint_waypoints),
                bool(cfg['reconstruction_guidance'] if request.reconstruction_guidance is None
                     else request.reconstruction_guidance))

    def _features(self, items: List[dict]) -> None:
        """Text and image features of every resolved request, batched, rounded to float16 as the caches store."""
        if 'text' in self._extractors:
            out = self._extractors['text'].encode([it['request'].text for it in items])
            for i, it in enumerate(items):
                mask = out['mask'][i].cpu()
                it['text_pooled'] = out['pooled'][i].cpu().half().float()
                it['text_tokens'] = out['tokens'][i].cpu()[mask].half().float()
        if 'image' in self._extractors:
            pictures = [(it, k) for it in items for k in range(len(it['images']))]
            patches: Dict[int, list] = {}
            # 16 pictures per call bound the memory; a backbone splits CPU batches into its fastest chunk itself
            for start in range(0, len(pictures), 16):
                chunk = pictures[start:start + 16]
                out = self._extractors['image'].encode([it['images'][k] for it, k in chunk])
                for i, (it, k) in enumerate(chunk):
                    patches.setdefault(id(it), []).append((out['patch'][i].cpu().half().float(),
                                                          out['pooled'][i].cpu().half().float()))
            for it in items:
                if it['images']:
                    patch, pooled = (torch.stack(x) for x in zip(*patches[id(it)]))
                    it['image_patch'], it['image_pooled'] = (patch, pooled) if it['storyboard'] else (patch[0],
                                                                                                       pooled[0])

    def __call__(self, requests: Union[HOIRequest, dict, Sequence[Union[HOIRequest, dict]]]):
        single = isinstance(requests, (HOIRequest, dict))
        requests = [requests] if single else list(requests)
        timings = dict(prepare=0.0, features=0.0, sampling=0.0, results=0.0)
        clock = time.perf_counter()
        items = [self._resolve(r, i) for i, r in enumerate(requests)]
        codec = self.model.codec
        key = self.settings['feature_key']
        for it in items:
            it['template'] = prepare_object(it['mesh'], it['request'].object_up)
            it['state'] = body_state(it['body'], it['start'])
            it['window'], it['geometry'] = build_window(
                codec, it['template'], float(it['request'].object_scale), it['start'], it['state'],
                window_waypoints(it['waypoints'], 0, self.settings['window']), self.start_object_xy, self.bps_basis,
                self.settings['window'], self.settings['first_frame_human'])
        timings['prepare'] = time.perf_counter() - clock
        clock = time.perf_counter()
        self._features(items)
        boards = max((len(it['images']) for it in items if it['storyboard']), default=0)
        for it in items:
            for name in ('text_pooled', 'text_tokens'):
                if name in it:
                    it['window'][name] = it[name]
            if 'image_patch' in it and boards:          # a call with a storyboard: every image set padded to K_max,
                it['window'].update(window_storyboard(it, 0, self.settings['window'], boards, key))  # window 0's
            elif 'image_patch' in it:
                it['window'][f'{key}_patch'], it['window'][f'{key}_pooled'] = it['image_patch'], it['image_pooled']
        timings['features'] = time.perf_counter() - clock
        clock = time.perf_counter()
        outputs = self._generate(items)
        long = [i for i, it in enumerate(items) if len(it['plan'].starts) > 1]
        chains = dict(zip(long, continue_chains(self, [items[i] for i in long], [outputs[i] for i in long])))
        timings['sampling'] = time.perf_counter() - clock
        clock = time.perf_counter()
        results = []
        for i, it in enumerate(items):
            samples = []
            for r, (motion, t_hat, seed) in enumerate(outputs[i]):
                meta = dict(name=it['name'], sample=r, seed=seed, text=it['request'].text,
                            sampling=dict(zip(SAMPLING_KEYS, self.sampling(it['request']))))
                if isinstance(t_hat, list):        # a storyboard: the depicted frame of each image of window 0
                    meta.update(image_t_hat=t_hat, image_frames=it['frames'], window_images=[
                        window_image_indices(it['frames'], len(it['images']), s, it['plan'].window)
                        for s in it['plan'].starts])
                geometry, world = it['geometry'], None
                if i in chains:
                    plan, chain = it['plan'], chains[i][r]
                    world, t_hat = chain['world'], chain['t_hats'][0]
                    geometry = replace(geometry, targets=long_targets(geometry, it['waypoints']))
                    meta.update(num_frames=plan.num_frames, windows=plan.starts, seams=plan.seams,
                                window_t_hat=chain['t_hats'])
                t_hat = (t_hat[0] if t_hat else None) if isinstance(t_hat, list) else t_hat
                result = world_to_result(world if world is not None else decode_world(codec, motion, geometry),
                                         geometry, it['template'], it['start'], it['state']['rest'], it['mesh'],
                                         it['mesh_path'], self.body_model_root, t_hat, meta)
                result.reference_images = list(it['images']) or None       # decoded once, for the video
                samples.append(result)
            results.append(samples)
        timings['results'] = time.perf_counter() - clock
        self.last_timings = timings
        return results[0] if single else results

    def _generate(self, items: List[dict]) -> List[List[tuple]]:
        """The first window of every (request, sample): per item, (motion, t_hat, seed) per sample."""
        jobs, owners = [], []
        for i, it in enumerate(items):
            num = int(it['request'].num_samples or self.model.test_cfg['num_samples'])
            seed = int(self.model.test_cfg['seed'] if it['request'].seed is None else it['request'].seed)
            for r in range(num):
                jobs.append((self.sampling(it['request']), it['window'], it['name'], it['request'].text, seed + r))
                owners.append(i)
        outputs: List[List[tuple]] = [[] for _ in items]
        for i, out in zip(owners, self.sample_windows(jobs)):
            outputs[i].append(out)
        return outputs

    def sample_windows(self, jobs: Sequence[tuple]) -> List[tuple]:
        """Sample windows in batches of `batch_size`, grouped by sampling settings.

        jobs: (sampling settings (`sampling`), window dict (`build_window` + features), name, text, seed) each.
        Returns per job (motion (T, D) un-normalised canonical, SFIE's t-hat or None (for a storyboard the list of
        each image's depicted frame, given or t-hat), seed)."""
        from mmengine.dataset import pseudo_collate

        from imagin4d.datasets.transforms.formatting import PackHOIInputs
        pack = PackHOIInputs(field_keys=())
        outputs: List[Optional[tuple]] = [None] * len(jobs)
        test_cfg = dict(self.model.test_cfg)
        try:
            for setting in sorted({j[0] for j in jobs}):
                group = [k for k, j in enumerate(jobs) if j[0] == setting]
                self.model.test_cfg.update(dict(zip(_TEST_CFG_KEYS, setting)))
                for start in range(0, len(group), self.batch_size):
                    batch = group[start:start + self.batch_size]
                    packed = [pack(dict({n: v for n, v in jobs[k][1].items() if n != NO_IMAGE}, seq_name=jobs[k][2],
                                        text=jobs[k][3])) for k in batch]
                    data = self.model.data_preprocessor(pseudo_collate(packed), False)
                    # a window of a storyboard with none of its images: the image source dropped (null condition)
                    none = torch.tensor([NO_IMAGE in jobs[k][1] for k in batch], device=self.device)
                    bar = self._progress_bar(setting[1], len(batch))
                    x0, info = self.model.generate(data['inputs'], data['data_samples'],
                                                   seed=[jobs[k][4] for k in batch], callback=bar,
                                                   drop=dict(image=none) if bool(none.any()) else None)
                    if bar is not None:
                        bar.close()
                    motion = self.model.data_preprocessor.denormalize(x0).float().cpu()
                    t_hat, times = info.get('t_hat'), info.get('image_times')
                    for b, k in enumerate(batch):
                        board = times is not None and f"{self.settings['feature_key']}_mask" in jobs[k][1]
                        outputs[k] = (motion[b], [] if none[b] else
                                      [float(t) for t in times[b] if not torch.isnan(t)] if board else
                                      None if t_hat is None else float(t_hat[b]), jobs[k][4])
        finally:
            self.model.test_cfg.clear()
            self.model.test_cfg.update(test_cfg)
        return outputs

    def _progress_bar(self, steps: int, batch: int):
        if not self.progress:
            return None
        from tqdm import tqdm
        return _StepBar(tqdm(total=steps, desc=f'sampling {batch} window(s)', unit='step', leave=False))


def long_targets(geometry, waypoints) -> list:
    """[(frame, position)] of a long motion: its object start (frame 0) and every waypoint of the request."""
    targets = [geometry.targets[0]]
    if waypoints is not None:
        targets += [(frame, (x, y)) for frame, x, y in waypoints.xy]
        if waypoints.end_position is not None:
            targets.append((waypoints.end_frame, tuple(float(v) for v in waypoints.end_position)))
    return targets


class _StepBar:
    """A sampler callback that advances a tqdm bar once per denoising step."""

    def __init__(self, bar):
        self.bar = bar

    def __call__(self, step, x_t, x0) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


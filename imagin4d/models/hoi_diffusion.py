"""HOIDiffusion: the image-guided HOI diffusion algorithm (mmengine BaseModel: loss / predict / tensor).

Owns how the parts meet: cue encoders -> denoiser streams (with per-source condition dropout), the x0 diffusion
training step and its losses (x0, contact labels, forward kinematics of hands and feet, object surface points, SFIE
head losses), and sampling (DDPM / DDIM, classifier-free guidance per source, reconstruction guidance, optional
waypoint inpainting). The parts themselves live in cues/, denoisers/, schedulers/, guidance/ and losses/.
"""
import inspect
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel

from imagin4d.registry import DIFFUSION_SCHEDULERS, MODELS
from imagin4d.utils.errors import UserError
from imagin4d.utils.numerics import AUTOCAST_DTYPES, denormals_flushed, network_autocast

from .cues.base import build_cue_encoder
from .cues.sfie import role_quantities_from_motion
from .layers import concat_tokens
from .losses import binary_contact_loss, fk_joint_loss, object_surface_loss, place_object_points, reconstruction_loss
from .schedulers.test_cfg import build_test_sampler, resolve_test_cfg

__all__ = ['HOIDiffusion', 'EncodedConditions']

#: Encoder slot -> condition source (what classifier-free guidance and condition dropout act on).
ENCODER_SOURCES = OrderedDict(text_encoder='text', object_encoder='object', waypoint_encoder='waypoint',
                              image_encoder='image', frame_image_encoder='image')

DEFAULT_LOSS_WEIGHTS = dict(x0=1.0, contact=1.0, fk=0.5, object_surface=1.0, sfie=1.0)


class EncodedConditions(dict):
    """{'streams': {name: (B, C) | (B, T, C)}, 'frame_tokens': (B, M, C) | None, 'frame_token_mask': (B, M)}."""


def _sample_names(data_samples, limit: int = 4) -> str:
    names = [f"{s.get('dataset', '?')}/{s.get('seq_name', '?')}@{s.get('window_start', '?')}"
             for s in (data_samples or [])[:limit]]
    more = len(data_samples or []) - limit
    return ', '.join(names) + (f' (+{more} more)' if more > 0 else '') if names else '(no data samples)'


@MODELS.register_module()
class HOIDiffusion(BaseModel):
    """Text + object + waypoints + reference image -> human and object motion, by x0 diffusion.

    Args:
        denoiser: the x0 network config (`RoleAwareDenoiser`).
        text_encoder, object_encoder, waypoint_encoder: cue encoder configs (None: cue not used).
        image_encoder: the image cue (`GlobalTokenImageEncoder` | `UniformImageEncoder` |
            `SpatiallyFactorizedImageEncoder` | any registered CueEncoder); None: the no-image baseline.
        frame_image_encoder: frame-aware image tokens (`FrameAwareImageEncoder`), read by the denoiser's last
            layer(s) only; source 'image'.
        extra_encoders: {source name: cue encoder config} for cues from plugins (e.g. dict(depth=dict(type=
            'depth_cue.DepthCueEncoder', ...))); each feeds the streams it declares and is its own source.
        diffusion: the training noise process (a DIFFUSION_SCHEDULERS sampler config; its schedule is shared by
            the test-time samplers).
        condition_dropout: {source: p}: probability of dropping a source per sample in training (classifier-free
            guidance needs the dropped-source model; 0.1 each for image and text by default).
        loss_weights: {x0, contact, fk, object_surface, sfie} (CHOIS: 1, 1, 0.5, 1; sfie: ours, 1). A weight of 0
            switches a loss off; its inputs are then not needed.
        x0_loss: 'l1' (CHOIS) or 'mse'.
        contact_loss: 'l1' (CHOIS) or 'bce'.
        reconstruction_guidance: `ReconstructionGuidance` config used when test_cfg.reconstruction_guidance.
        test_cfg: sampling options, see `schedulers.test_cfg.DEFAULT_TEST_CFG` (each can be swept:
            `--sweep model.test_cfg.K=a,b`).
        data_preprocessor: `HOIDataPreprocessor` config.
        flush_denormal: train / val / test steps and `generate` run with subnormal floats flushed to zero on the
            CPU (`denormals_flushed`; True). False keeps IEEE subnormals (slower on CPU, see issue 23).
        train_autocast: None (fp32) or 'bfloat16': the training step runs the cue encoders and the
            denoiser under `torch.autocast` with this dtype (`network_autocast`; `tools/train.py --amp` sets
            'bfloat16'); the prediction is cast back to fp32 and every loss (decoding, forward kinematics, object
            points, SFIE heads) is computed in fp32. Sampling (val / test / `generate`) stays fp32.
    """

    def __init__(self, denoiser: dict, text_encoder: Optional[dict] = None, object_encoder: Optional[dict] = None,
                 waypoint_encoder: Optional[dict] = None, image_encoder: Optional[dict] = None,
                 frame_image_encoder: Optional[dict] = None, extra_encoders: Optional[Mapping[str, dict]] = None,
                 diffusion: Optional[dict] = None, condition_dropout: Optional[Mapping[str, float]] = None,
                 loss_weights: Optional[Mapping[str, float]] = None, x0_loss: str = 'l1', contact_loss: str = 'l1',
                 reconstruction_guidance: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None,
                 flush_denormal: bool = True, train_autocast: Optional[str] = None):
        if train_autocast is not None and train_autocast not in AUTOCAST_DTYPES:
            raise ValueError(f'train_autocast must be None or one of {AUTOCAST_DTYPES}, got {train_autocast!r}')
        super().__init__(data_preprocessor=data_preprocessor or dict(type='HOIDataPreprocessor'), init_cfg=init_cfg)
        self.flush_denormal = bool(flush_denormal)
        self.train_autocast = train_autocast
        self.denoiser = MODELS.build(denoiser)
        self.encoders = torch.nn.ModuleDict()
        self.sources: Dict[str, str] = {}
        slots = dict(text_encoder=text_encoder, object_encoder=object_encoder, waypoint_encoder=waypoint_encoder,
                     image_encoder=image_encoder, frame_image_encoder=frame_image_encoder)
        for slot, cfg in slots.items():
            if cfg is not None:
                self.encoders[slot] = build_cue_encoder(cfg, slot)
                self.sources[slot] = ENCODER_SOURCES[slot]
        for source, cfg in (extra_encoders or {}).items():
            slot = f'{source}_encoder'
            if slot in self.encoders:
                raise ValueError(f'extra encoder {source!r} clashes with the built-in slot {slot!r}')
            self.encoders[slot] = build_cue_encoder(cfg, slot)
            self.sources[slot] = source
        self._check_streams()
        diffusion = diffusion or dict(type='DDPMSampler', schedule='cosine', num_train_steps=1000, clip_x0=1.0)
        self.diffusion = DIFFUSION_SCHEDULERS.build(diffusion)
        self.condition_dropout = dict(image=0.1, text=0.1) if condition_dropout is None else dict(condition_dropout)
        for source, p in self.condition_dropout.items():
            if not 0.0 <= float(p) < 1.0:
                raise ValueError(f'condition_dropout[{source!r}] must be in [0, 1), got {p}')
        unknown = set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS)
        if unknown:
            raise KeyError(f'unknown loss weight(s) {sorted(unknown)}; known: {sorted(DEFAULT_LOSS_WEIGHTS)}')
        self.loss_weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
        self.x0_loss, self.contact_loss = x0_loss, contact_loss
        self.cfg_guidance = MODELS.build(dict(type='ClassifierFreeGuidance', scales=dict(image=0.0, text=0.0)))
        self.reconstruction_guidance = MODELS.build(reconstruction_guidance) if reconstruction_guidance else None
        self.test_cfg = resolve_test_cfg(test_cfg)            # defaults and meaning: schedulers/test_cfg.py

    # ------------------------------------------------------------------ structure
    @property
    def codec(self):
        return self.data_preprocessor.codec

    def _check_streams(self) -> None:
        accepted = set(self.denoiser.stream_names) | {'frame_tokens'}
        for slot, encoder in self.encoders.items():
            bad = set(encoder.streams) - accepted
            if bad:
                raise ValueError(f'{slot} ({type(encoder).__name__}) feeds streams {sorted(bad)} that the denoiser '
                                 f'does not accept ({sorted(accepted)})')
            if 'frame_tokens' in encoder.streams and self.denoiser.num_cross_attention_layers == 0:
                raise ValueError(f'{slot} ({type(encoder).__name__}) makes frame tokens but the denoiser has '
                                 'num_cross_attention_layers=0')

    def encoders_of(self, source: str) -> List[str]:
        """The encoder slots that belong to a condition source."""
        return [slot for slot, s in self.sources.items() if s == source]

    # ------------------------------------------------------------------ conditions
    def _check_inputs(self, slot: str, encoder, cond: Mapping, data_samples) -> None:
        """Clear errors for a batch without what an encoder needs, or with features of the wrong size."""
        params = inspect.signature(encoder.forward).parameters
        for key in encoder.input_keys:
            name = encoder.condition_key(key)
            required = key in params and params[key].default is inspect.Parameter.empty
            if required and cond.get(name) is None:
                raise UserError(
                    f"{slot} ({type(encoder).__name__}) needs '{name}' but the batch has none (samples: "
                    f'{_sample_names(data_samples)}). ' + (
                        'Image and text features come from LoadReferenceFeatures in the pipeline '
                        '(reference_index / feature_cache / text_encoder).' if name.startswith(('image_', 'sketch_',
                                                                                               'text_'))
                        else f"The pipeline must put '{name}' into the inputs (PackHOIInputs(extra_input_keys=...) "
                             'or the transform of the cue that needs it).'))
        patch = cond.get(encoder.condition_key('image_patch'))
        if patch is not None and patch.dim() == 4 and 'image_patch' in encoder.input_keys and \
                not getattr(encoder, 'storyboard', False):
            raise UserError(f'{slot} ({type(encoder).__name__}) reads one reference image, but the batch has '
                            f'{patch.shape[1]} per sample (a storyboard); storyboards need SFIE and the frame-aware '
                            'encoder (projects/imagin4d/mini_fbm_storyboard.py)')
        expected = getattr(encoder, 'image_dim', None)
        if expected is not None:
            for key in ('image_patch', 'image_pooled'):
                value = cond.get(encoder.condition_key(key))
                if value is not None and value.shape[-1] != expected:
                    raise UserError(
                        f"{slot} ({type(encoder).__name__}) expects {expected}-channel image features but "
                        f"'{encoder.condition_key(key)}' has {value.shape[-1]} (samples: {_sample_names(data_samples)}"
                        f'); the feature cache was built with another backbone than image_dim assumes.')

    def encode(self, cond: Mapping[str, object], drop: Optional[Mapping[str, torch.Tensor]] = None,
               data_samples=None) -> EncodedConditions:
        """Run every cue encoder; zero the outputs of dropped sources per sample.

        cond: the preprocessor's batch; drop: {source: (B,) bool, True = drop for that sample}. A dropped text
        source is also hidden from the other encoders that read text (frame-aware queries).
        """
        drop = {k: v for k, v in (drop or {}).items() if v is not None and bool(v.any())}
        batch = cond['motion'].shape[0] if 'motion' in cond else cond['frame_mask'].shape[0]
        if 'text' in drop:
            cond = dict(cond)
            keep_text = (~drop['text']).to(torch.float32)
            for key in ('text_pooled', 'text_tokens'):
                if cond.get(key) is not None:
                    value = cond[key]
                    cond[key] = value * keep_text.to(value.dtype).reshape(-1, *([1] * (value.dim() - 1)))
        streams: Dict[str, torch.Tensor] = {}
        tokens, token_masks = [], []
        cond = dict(cond)
        for slot, encoder in self.encoders.items():
            self._check_inputs(slot, encoder, cond, data_samples)
            try:
                out = encoder.encode(cond)
            except (ValueError, KeyError) as err:
                raise UserError(f'{slot} ({type(encoder).__name__}) failed on samples '
                                f'{_sample_names(data_samples)}: {err}') from err
            cond.update(encoder.provided() if hasattr(encoder, 'provided') else {})   # SFIE's image_times -> FAIE
            dropped = drop.get(self.sources[slot])
            keep = None if dropped is None else ~dropped
            for name, value in out.items():
                if name == 'frame_tokens':
                    mask = torch.ones(value.shape[:2], dtype=torch.bool, device=value.device)
                    if keep is not None:
                        mask = mask & keep[:, None]
                    if encoder.per_frame_tokens and cond.get('frame_mask') is not None:
                        mask = mask & cond['frame_mask']
                    tokens.append(value)
                    token_masks.append(mask)
                    continue
                if keep is not None:
                    value = value * keep.to(value.dtype).reshape(batch, *([1] * (value.dim() - 1)))
                if name in streams:
                    a, b = streams[name], value
                    if a.dim() != b.dim():
                        a = a[:, None] if a.dim() == 2 else a
                        b = b[:, None] if b.dim() == 2 else b
                    value = a + b
                streams[name] = value
        frame_tokens = concat_tokens(tokens) if tokens else None          # lean FAIE tokens stay factored
        frame_token_mask = torch.cat(token_masks, 1) if tokens else None
        return EncodedConditions(streams=streams, frame_tokens=frame_tokens, frame_token_mask=frame_token_mask)

    def _condition(self, inputs: Mapping[str, object], training: bool) -> dict:
        cond = dict(inputs)
        if not training:
            # the depicted frames are predicted (SFIE), never given at test time: t_star and a storyboard's
            # image_t_star / sketch_t_star (a user's storyboard gives its frames as image_frames), except as the
            # given frames of the 'given' oracle
            truth, mode = cond.get('image_t_star', cond.get('t_star')), self.test_cfg['depicted_frame']
            if mode not in ('predicted', 'given'):
                raise ValueError(f"test_cfg.depicted_frame must be 'predicted' or 'given', got {mode!r}")
            if mode == 'given' and truth is not None and cond.get('image_frames') is None:
                cond['image_frames'] = truth.reshape(truth.shape[0], -1).long()
            for key in [k for k in cond if k == 't_star' or k.endswith('_t_star')]:
                cond.pop(key)
        return cond

    def sample_dropout(self, batch: int, device) -> Dict[str, torch.Tensor]:
        """{source: (B,) bool} drawn with `condition_dropout` probabilities (training)."""
        return {source: torch.rand(batch, device=device) < float(p)
                for source, p in self.condition_dropout.items() if p > 0 and self.encoders_of(source)}

    def denoise(self, x_t: torch.Tensor, timesteps: torch.Tensor, enc: EncodedConditions,
                frame_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x0 prediction (B, T, D) of the denoiser under encoded conditions."""
        return self.denoiser(x_t, timesteps, enc['streams'], frame_tokens=enc['frame_tokens'],
                             frame_token_mask=enc['frame_token_mask'], padding_mask=frame_mask)

    # ------------------------------------------------------------------ steps (subnormals flushed)
    def train_step(self, data, optim_wrapper):
        with denormals_flushed(self.flush_denormal):
            return super().train_step(data, optim_wrapper)

    def val_step(self, data):
        with denormals_flushed(self.flush_denormal):
            return super().val_step(data)

    def test_step(self, data):
        with denormals_flushed(self.flush_denormal):
            return super().test_step(data)

    # ------------------------------------------------------------------ modes
    def forward(self, inputs: dict, data_samples: Optional[list] = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; use loss, predict or tensor')

    def _forward(self, inputs: dict, data_samples=None) -> torch.Tensor:
        """One denoiser pass from pure noise at the last training step (seeded): the raw network output (B, T, D)."""
        x0 = inputs['motion']
        gen = torch.Generator(device=x0.device).manual_seed(int(self.test_cfg['seed']))
        x_t = torch.randn(x0.shape, generator=gen, device=x0.device, dtype=x0.dtype)
        t = torch.full((x0.shape[0],), self.diffusion.num_train_steps - 1, dtype=torch.long, device=x0.device)
        enc = self.encode(self._condition(inputs, training=False), data_samples=data_samples)
        return self.denoise(x_t, t, enc, inputs.get('frame_mask'))

    def loss(self, inputs: dict, data_samples=None) -> Dict[str, torch.Tensor]:
        x0 = inputs['motion']                                                   # (B, T, D) normalised
        frame_mask = inputs.get('frame_mask')
        batch = x0.shape[0]
        drop = self.sample_dropout(batch, x0.device)
        # autocast around the networks only: the noising between them and the losses after them stay fp32
        with network_autocast(self.train_autocast, x0.device):
            enc = self.encode(self._condition(inputs, training=True), drop, data_samples)
        t = self.diffusion.sample_timesteps(batch, device=x0.device)
        x_t = self.diffusion.add_noise(x0, torch.randn_like(x0), t)
        with network_autocast(self.train_autocast, x0.device):
            pred = self.denoise(x_t, t, enc, frame_mask)
        pred = pred.to(x0.dtype)
        w = self.loss_weights
        contacts = self.codec.slices['contacts']
        losses = OrderedDict()
        losses['loss_x0'] = w['x0'] * reconstruction_loss(pred, x0, frame_mask, self.x0_loss)
        if w['contact']:
            losses['loss_contact'] = w['contact'] * binary_contact_loss(pred[..., contacts], x0[..., contacts],
                                                                       frame_mask, self.contact_loss)
        need_raw = w['fk'] or w['object_surface'] or self._sfie_encoders()
        if need_raw:
            pred_dec = self.codec.decode(self.data_preprocessor.denormalize(pred))
            gt_raw = self.data_preprocessor.denormalize(x0)
            gt_dec = self.codec.decode(gt_raw)
        if w['fk']:
            rest = self._need(inputs, 'rest_joints24', 'the FK loss (loss_weights.fk)', data_samples)
            fk = self.codec.joints_from_rotations(pred_dec['global_rot'], rest[:, None], pred_dec['joints'][..., 0, :])
            losses['loss_fk'] = w['fk'] * fk_joint_loss(fk, gt_dec['joints'], frame_mask)
        if w['object_surface']:
            what = 'the object surface loss (loss_weights.object_surface)'
            points = self._need(inputs, 'object_points', what, data_samples)
            ref_rot = self._need(inputs, 'obj_ref_rot', what, data_samples)
            scale = self._need(inputs, 'obj_scale', what, data_samples)
            pred_pts = place_object_points(points, pred_dec['obj_rot'], ref_rot, scale, pred_dec['obj_com'])
            gt_pts = place_object_points(points, gt_dec['obj_rot'], ref_rot, scale, gt_dec['obj_com'])
            losses['loss_object_surface'] = w['object_surface'] * object_surface_loss(pred_pts, gt_pts, frame_mask)
        for slot in self._sfie_encoders():
            t_star = self._need(inputs, 't_star', 'the SFIE head losses', data_samples)
            encoder, motion = self.encoders[slot], gt_raw
            if hasattr(encoder, 'image_targets'):      # one row per image of a storyboard (K = 1: the samples)
                per_image = inputs.get(encoder.condition_key('image_t_star'))
                motion, t_star = encoder.image_targets(gt_raw, t_star, per_image)
            roles = role_quantities_from_motion(motion, t_star, slices=self.codec.slices)
            for name, value in self.encoders[slot].head_losses(roles, t_star).items():
                key = name if slot == 'image_encoder' else name.replace('loss_', f'loss_{slot}_', 1)
                losses[key] = w['sfie'] * value
        return losses

    def _sfie_encoders(self) -> List[str]:
        return [slot for slot, enc in self.encoders.items() if hasattr(enc, 'head_losses')]

    @staticmethod
    def _need(inputs: Mapping, key: str, what: str, data_samples) -> torch.Tensor:
        if inputs.get(key) is None:
            raise UserError(f"{what} needs '{key}' in the batch, but samples {_sample_names(data_samples)} have "
                            "none (the dataset pipeline adds it: SampleObjectPoints for object_points; "
                            "BaseHOIDataset windows carry obj_scale, obj_ref_rot, rest_joints24 and t_star)")
        return inputs[key]

    # ------------------------------------------------------------------ sampling
    def build_sampler(self):
        """The test-time sampler of `test_cfg` on the training schedule."""
        return build_test_sampler(self.test_cfg, self.diffusion)

    def guidance_scales(self) -> Dict[str, float]:
        """Per-source w = G - 1 of `ClassifierFreeGuidance` (eq. 1) from test_cfg's G values."""
        return dict(image=float(self.test_cfg['guidance_image']) - 1.0,
                    text=float(self.test_cfg['guidance_text']) - 1.0)

    def generate(self, inputs: dict, data_samples=None, seed: Union[int, Sequence[int], None] = None,
                 callback=None, drop: Optional[Mapping[str, torch.Tensor]] = None) -> Tuple[torch.Tensor, dict]:
        """Sample normalised motions (B, T, D) for the batch's conditions; returns (x0, info). drop: {source: (B,)
        bool} sources withheld per sample (`encode`'s null condition, e.g. a long storyboard's window with no image).

        seed: one seed for the batch (test_cfg.seed when None), or B seeds, one per sample: then each sample's
        noise comes from its own generator and does not depend on what else is in the batch. callback: passed to
        the sampler (called once per step as callback(step, x_t, x0); e.g. a progress bar).
        """
        with denormals_flushed(self.flush_denormal):
            return self._generate(inputs, data_samples, seed, callback, drop or {})

    @torch.no_grad()
    def _generate(self, inputs: dict, data_samples, seed, callback, drop) -> Tuple[torch.Tensor, dict]:
        cfg = self.test_cfg
        x_shape = inputs['motion'].shape
        device = inputs['motion'].device
        frame_mask = inputs.get('frame_mask')
        cond = self._condition(inputs, training=False)
        full = self.encode(cond, drop, data_samples=data_samples)
        sfie = [self.encoders[s].last_aux.get('image_times') for s in self._sfie_encoders()]
        scales = self.guidance_scales()
        active = [s for s in self.cfg_guidance.active_sources(scales) if self.encoders_of(s)]
        all_dropped = torch.ones(x_shape[0], dtype=torch.bool, device=device)
        without = {s: self.encode(cond, {**drop, s: all_dropped}, data_samples) for s in active}

        def denoise_fn(x_t, t):
            x0_full = self.denoise(x_t, t, full, frame_mask)
            if not active:
                return x0_full
            x0_without = {s: self.denoise(x_t, t, enc, frame_mask) for s, enc in without.items()}
            return self.cfg_guidance.combine(x0_full, x0_without, {s: scales[s] for s in active})

        guidance_fn = None
        if cfg['reconstruction_guidance']:
            if self.reconstruction_guidance is None:
                raise UserError('test_cfg.reconstruction_guidance=True but the model has no reconstruction_guidance '
                                'config (model.reconstruction_guidance=dict(type="ReconstructionGuidance", ...))')
            points_fn = self._object_points_fn(inputs, data_samples)
            guidance_fn = self.reconstruction_guidance.bind(
                decode_fn=lambda x: self.codec.decode(self.data_preprocessor.denormalize(x)),
                object_points_fn=points_fn)
        inpaint = (inputs['waypoint_mask'], inputs['waypoint_values']) if cfg['inpaint_waypoints'] else None
        seed = int(cfg['seed']) if seed is None else seed
        if isinstance(seed, (list, tuple)):
            gen = [torch.Generator(device=device).manual_seed(int(s)) for s in seed]
        else:
            gen = torch.Generator(device=device).manual_seed(int(seed))
        x0 = self.build_sampler().sample(denoise_fn, x_shape, generator=gen, guidance_fn=guidance_fn,
                                         inpaint=inpaint, device=device, callback=callback)
        times = sfie[0] if sfie else None                     # (B, K) each image's depicted frame (given or t̂)
        return x0, dict(t_hat=None if times is None else times[:, 0], image_times=times)

    def _object_points_fn(self, inputs: Mapping, data_samples):
        what = 'reconstruction guidance'
        points = self._need(inputs, 'object_points', what, data_samples)
        ref_rot = self._need(inputs, 'obj_ref_rot', what, data_samples)
        scale = self._need(inputs, 'obj_scale', what, data_samples)
        return lambda dec: place_object_points(points, dec['obj_rot'], ref_rot, scale, dec['obj_com'])

    def predict(self, inputs: dict, data_samples=None) -> list:
        """Generate motions; each data sample gets pred_motion (T, D) un-normalised (metres, like gt_motion),
        pred_motion_samples (R, T, D) when test_cfg.num_samples > 1, and pred_t_star (SFIE's t̂ of the first image)
        when known, with pred_t_stars (one per image) for a storyboard."""
        num = int(self.test_cfg['num_samples'])
        if num < 1:
            raise ValueError(f'test_cfg.num_samples must be >= 1, got {num}')
        runs, infos = [], []
        for r in range(num):
            x0, info = self.generate(inputs, data_samples, seed=int(self.test_cfg['seed']) + r)
            runs.append(self.data_preprocessor.denormalize(x0))
            infos.append(info)
        samples = torch.stack(runs, 1)                                                 # (B, R, T, D)
        info = infos[0]             # the image does not change between runs, so neither does SFIE's t-hat
        for i, sample in enumerate(data_samples):
            sample.pred_motion = samples[i, 0].float().cpu()
            if num > 1:
                sample.set_data(dict(pred_motion_samples=samples[i].float().cpu()))
            if info.get('t_hat') is not None:
                sample.set_metainfo(dict(pred_t_star=float(info['t_hat'][i])))
            if info.get('image_times') is not None and info['image_times'].shape[1] > 1:
                sample.set_metainfo(dict(pred_t_stars=[float(t) for t in info['image_times'][i]
                                                       if not torch.isnan(t)]))
        return data_samples

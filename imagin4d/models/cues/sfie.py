"""Spatially Factorised Image Encoder (SFIE): role Q-Former heads, depicted-frame placement, window gating.

Owns `SpatiallyFactorizedImageEncoder` (four role heads κ contact, ρ human pose, ξ object pose, ν body-object
relation over a frozen patch grid; the summary [κ, ρ, ξ, ν] predicts the depicted frame t̂; a Gaussian window
around t̂ gates per-frame copies of the summary -> the spatial-image AdaLN stream; the summary also joins the
base stream; `head_losses` supervises the heads with small role autoencoders), `RoleAutoencoder`,
`gaussian_window` and `role_quantities_from_motion` (the GT role quantities at t* from CHOIS motion features).
"""
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import nn

from imagin4d.models.layers import PatchProjection, QFormer, StackedQFormer
from imagin4d.registry import MODELS

from .base import CueEncoder, resolve_frames
from .storyboard import as_storyboard, combine_images

__all__ = ['ROLE_DIMS', 'ROLE_SYMBOLS', 'gaussian_window', 'role_quantities_from_motion', 'RoleAutoencoder',
           'SpatiallyFactorizedImageEncoder']

#: Role -> size of its GT quantity at t* (see `role_quantities_from_motion`), in summary order κ, ρ, ξ, ν.
ROLE_DIMS = OrderedDict(contact=4, human_pose=72, object_pose=12, relation=6)
ROLE_SYMBOLS = dict(contact='κ', human_pose='ρ', object_pose='ξ', relation='ν')


def gaussian_window(centre: torch.Tensor, num_frames: int, sigma: float, floor: float = 0.0) -> torch.Tensor:
    """Per-frame gate w[b, t] = floor + (1 - floor) * exp(-(t - centre[b])^2 / (2 sigma^2)); (B,) -> (B, T).

    The gate is 1 at t = centre (for an integer centre) and exp(-k^2 / 2) at k sigma away; `centre` may be
    fractional (the expectation of the predicted frame distribution).
    """
    frames = torch.arange(num_frames, device=centre.device, dtype=torch.float32)
    dist2 = (frames[None, :] - centre.float()[:, None]) ** 2
    return floor + (1.0 - floor) * torch.exp(-dist2 / (2.0 * float(sigma) ** 2))


def _body_heading_frame(left_hip: torch.Tensor, right_hip: torch.Tensor) -> torch.Tensor:
    """Rows = body axes (forward, left, up) in the canonical frame (Z up), from the hips' xy: (B, 3) x2 -> (B, 3, 3)."""
    lateral = left_hip - right_hip
    left = F.normalize(torch.cat([lateral[:, :2], torch.zeros_like(lateral[:, :1])], dim=-1), dim=-1)
    up = torch.zeros_like(left)
    up[:, 2] = 1.0
    forward = torch.linalg.cross(left, up, dim=-1)
    return torch.stack([forward, left, up], dim=1)


def role_quantities_from_motion(motion: torch.Tensor, t_star: torch.Tensor,
                                slices: Optional[Mapping[str, slice]] = None, frame: str = 'body',
                                pelvis: int = 0, hips: Sequence[int] = (1, 2),
                                hands: Sequence[int] = (22, 23)) -> Dict[str, torch.Tensor]:
    """The GT quantities the role autoencoders encode, read at the depicted frame t*.

    motion: (B, T, D) UN-normalised CHOIS features (metres; `codec.denormalize` first); t_star: (B,) ints.
    slices: the codec's layout (default `CHOISMotionCodec().slices`).
    frame: 'body' expresses every vector in the body heading frame at t* (x forward, y left, z up, from the
        hips' xy, so the quantity does not depend on the window's canonical heading, which the image cannot
        show); 'canonical' keeps the window's canonical frame.

    Returns {'contact': (B, 4) labels lh, rh, lf, rf;
             'human_pose': (B, 72) joints24 minus the pelvis;
             'object_pose': (B, 12) object centre minus the pelvis (3) | object rotation (9, row-major);
             'relation': (B, 6) object centre minus the left / right hand point}.
    """
    if frame not in ('body', 'canonical'):
        raise ValueError(f"frame must be 'body' or 'canonical', got {frame!r}")
    if slices is None:
        from imagin4d.models.codecs import CHOISMotionCodec
        slices = CHOISMotionCodec().slices
    batch = motion.shape[0]
    x = motion[torch.arange(batch, device=motion.device), t_star.long().reshape(-1)]          # (B, D)
    joints = rearrange(x[:, slices['joints']], 'b (j xyz) -> b j xyz', xyz=3)
    centre = x[:, slices['obj_com']]
    rotation = rearrange(x[:, slices['obj_rot']], 'b (i j) -> b i j', i=3)
    root = joints[:, pelvis]
    rel_joints = joints - root[:, None]
    rel_centre = centre - root
    hand_to_object = centre[:, None] - joints[:, list(hands)]                                   # (B, 2, 3)
    if frame == 'body':
        axes = _body_heading_frame(joints[:, hips[0]], joints[:, hips[1]])                    # (B, 3, 3)
        rel_joints = einsum(axes, rel_joints, 'b i k, b j k -> b j i')
        rel_centre = einsum(axes, rel_centre, 'b i k, b k -> b i')
        hand_to_object = einsum(axes, hand_to_object, 'b i k, b j k -> b j i')
        rotation = axes @ rotation
    return OrderedDict(
        contact=x[:, slices['contacts']],
        human_pose=rearrange(rel_joints, 'b j xyz -> b (j xyz)'),
        object_pose=torch.cat([rel_centre, rearrange(rotation, 'b i j -> b (i j)')], dim=-1),
        relation=rearrange(hand_to_object, 'b h xyz -> b (h xyz)'))


class RoleAutoencoder(nn.Module):
    """A small MLP autoencoder of one role quantity: (B, Din) -> latent (B, L) -> reconstruction (B, Din).

    encoder: Linear -> SiLU -> Linear [-> LayerNorm without affine]; decoder: Linear -> SiLU -> Linear.
    latent_norm keeps the latent at unit scale per sample, so the heads' regression target cannot shrink
    towards zero (which would make the latent loss trivially small).
    """

    def __init__(self, in_dim: int, latent_dim: int, hidden_dim: int = 128, latent_norm: bool = True):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, latent_dim),
                                     nn.LayerNorm(latent_dim, elementwise_affine=False) if latent_norm
                                     else nn.Identity())
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, in_dim))

    def forward(self, x: torch.Tensor):
        latent = self.encoder(x)
        return latent, self.decoder(latent)


@MODELS.register_module()
class SpatiallyFactorizedImageEncoder(CueEncoder):
    """SFIE (IMAGIN-4D paper): role-factorised image tokens, placed in time by a predicted depicted frame.

    Forward, on the frozen patch grid P (B, N, Ci):
        role token    z_r = Linear(flatten(QFormer_r(P)))  (B, L_r)  for r in κ contact, ρ human pose,
                                                                     ξ object pose, ν relation
        summary       s = [κ, ρ, ξ, ν]                      (B, S = sum L_r)
        placement     logits = g_t(s) (B, T) over the first T of `num_frames` (padded frames masked out),
                      p = softmax(logits), t̂ = sum_t t p_t (t_hat='expectation') or argmax p (t_hat='argmax')
        window        w = gaussian_window(t̂, T, window_sigma, window_floor) * frame_mask      (B, T)
        streams       spatial_image[b, t] = w[b, t] * W_s s[b]   (B, T, C)  gated per-frame copies of the summary
                      base = MLP(s)                               (B, C)     "global image factors"
    `self.last_aux` keeps the forward's role tokens, frame logits / probabilities, t̂ and window for
    `head_losses` and for logging.

    Supervision (`head_losses`): a `RoleAutoencoder` per role is trained to reconstruct the GT quantity at t*
    (`role_quantities_from_motion`); each head token regresses onto the DETACHED AE latent of the same sample;
    the placement head gets a cross-entropy towards t*.

    Args (the paper gives none of these values):
        image_dim: Ci of the frozen patch grid.
        out_dim: C of the streams.
        num_frames: T_max, size of the placement head's output (120, the window length); forward accepts
            T <= num_frames.
        head_dim: width of each role Q-Former (128).
        queries_per_role: learned queries per head (2), flattened into the role token.
        depth, num_heads, mlp_ratio, dropout: Q-Former settings (2, 4, 4.0, 0.0).
        role_latent_dim: L_r, an int for all roles or {role: int} (32).
        role_dims: {role: GT quantity size} (`ROLE_DIMS`); the roles and their order.
        binary_roles: roles reconstructed with BCE on logits (('contact',)); the others with MSE.
        ae_hidden_dim, latent_norm: role autoencoder settings (128, True).
        placement_hidden_dim: hidden width of g_t (256).
        window_sigma: σ of the Gaussian window in frames (8.0: at 30 fps a window of about ±0.5 s).
        window_floor: gate value far from t̂ (0.0: distant frames carry no spatial image evidence).
        t_hat: 'expectation' (soft-argmax, default) or 'argmax'.
        detach_t_hat: stop the diffusion loss from moving the placement head through the window (True: g_t
            learns only from its cross-entropy).
        gate_with_gt_in_training: in training mode, centre the window on the given t* instead of t̂ (False:
            the same path at training and test time).
        latent_loss: head-to-latent regression, 'mse' (default), 'l1' or 'cosine' (1 - cosine similarity).
        frame_loss: depicted-frame loss, 'ce' (cross-entropy over the T frames, default) or 'l1' (|t̂ - t*| / T on
            the soft-argmax expectation; needs t_hat='expectation').
        latent_loss_weight, recon_loss_weight, frame_loss_weight: weights applied inside `head_losses` (1.0).
        feature_key: batch prefix of the features ('image').
        attn_backend: dispatch backend ('auto').
        patch_positions: each role head knows where each patch is (`PatchPositionEmbedding`; default True).

    Lean options (issue 23; off by default, so existing checkpoints load strictly and give the same outputs):
        patch_dim: P. When set, one `PatchProjection` (LN -> Linear(Ci, P) -> + positions) turns the grid into
            patch tokens (B, K, N, P) once; the role heads read those (context_dim P, no positions of their own)
            instead of each projecting the Ci-wide grid, and `provided()` hands them to the frame-aware encoder
            (`image_tokens`; its `patch_dim` must be the same P). None: every head reads the raw grid (default).
        spatial_stream: 'per_frame' (default) returns spatial_image (B, T, C) = w ⊗ W_s s, which a 'separate'
            denoiser projects frame by frame; 'gated' returns it factored, `GatedStream(W_s s (B, K, C), w
            (B, K, T))`, which the denoiser modulates as w ⊗ (W SiLU(W_s s)): one projection per sequence instead of
            T. The two agree where the gate is 0 or 1 (`GatedStream`).
        stacked_heads: run the four role heads as one `StackedQFormer` (needs patch_dim: the heads then read the
            same patch tokens): one batched matmul per layer instead of four, the context normalised once; the same
            function and the same initial weights as the four separate heads (built first, then stacked), rounded
            differently. Its parameters are `role_heads.*` instead of `heads.<role>.*`.

    Storyboards (issue 29; cues/storyboard.py): image_patch (B, K, N, Ci) with image_mask (B, K) runs the heads on
    every valid image; each image gets its own t̂ (or its given `image_frames` entry, -1 = predict) and window,
    the spatial stream mixes the K gated streams per frame by their gates (`combine_images`) and base is the
    mean over images; with K = 1 (or one image (B, N, Ci)) this is exactly the single-image computation.
    `last_aux` then holds the M valid images' tokens / logits / t̂ (the head losses' rows; `image_targets`
    aligns the GT), image_mask (B, K) and image_times (B, K) (NaN on padding; `provided()` hands them on).

    forward(image_patch (B, N, Ci) | (B, K, N, Ci), image_patch_mask (B, N) | (B, K, N) | None,
            num_frames T | None, frame_mask (B, T) | None, t_star (B,) | None, image_mask (B, K) | None,
            image_frames (B, K) | None, image_t_star (B, K) | None) -> {'spatial_image': (B, T, C) (a `GatedStream`
            with spatial_stream='gated'), 'base': (B, C)}.
    """

    streams = ('spatial_image', 'base')
    input_keys = ('image_patch', 'image_patch_mask', 'num_frames', 'frame_mask', 't_star', 'image_mask',
                  'image_frames', 'image_t_star')
    storyboard = True
    T_HAT_MODES = ('expectation', 'argmax')
    LATENT_LOSSES = ('mse', 'l1', 'cosine')
    FRAME_LOSSES = ('ce', 'l1')
    SPATIAL_STREAMS = ('per_frame', 'gated')

    def __init__(self, image_dim: int = 384, out_dim: int = 128, num_frames: int = 120, head_dim: int = 128,
                 queries_per_role: int = 2, depth: int = 2, num_heads: int = 4, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, role_latent_dim: Union[int, Mapping[str, int]] = 32,
                 role_dims: Mapping[str, int] = ROLE_DIMS, binary_roles: Sequence[str] = ('contact',),
                 ae_hidden_dim: int = 128, latent_norm: bool = True, placement_hidden_dim: int = 256,
                 window_sigma: float = 8.0, window_floor: float = 0.0, t_hat: str = 'expectation',
                 detach_t_hat: bool = True, gate_with_gt_in_training: bool = False, latent_loss: str = 'mse',
                 frame_loss: str = 'ce', latent_loss_weight: float = 1.0, recon_loss_weight: float = 1.0,
                 frame_loss_weight: float = 1.0,
                 feature_key: str = 'image', attn_backend: str = 'auto', patch_positions: bool = True,
                 patch_dim: Optional[int] = None, spatial_stream: str = 'per_frame', stacked_heads: bool = False):
        super().__init__()
        if stacked_heads and not patch_dim:
            raise ValueError('stacked_heads=True needs patch_dim (the stacked role heads read one shared token grid)')
        if spatial_stream not in self.SPATIAL_STREAMS:
            raise ValueError(f'spatial_stream must be one of {self.SPATIAL_STREAMS}, got {spatial_stream!r}')
        if t_hat not in self.T_HAT_MODES:
            raise ValueError(f't_hat must be one of {self.T_HAT_MODES}, got {t_hat!r}')
        if latent_loss not in self.LATENT_LOSSES:
            raise ValueError(f'latent_loss must be one of {self.LATENT_LOSSES}, got {latent_loss!r}')
        if frame_loss not in self.FRAME_LOSSES:
            raise ValueError(f'frame_loss must be one of {self.FRAME_LOSSES}, got {frame_loss!r}')
        if frame_loss == 'l1' and t_hat != 'expectation':
            raise ValueError("frame_loss='l1' needs t_hat='expectation' (argmax has no gradient)")
        if window_sigma <= 0:
            raise ValueError(f'window_sigma must be > 0, got {window_sigma}')
        self.out_dim, self.num_frames, self.feature_key, self.image_dim = out_dim, num_frames, feature_key, image_dim
        self.roles = tuple(role_dims)
        self.role_dims = OrderedDict((r, int(role_dims[r])) for r in self.roles)
        latent = role_latent_dim if isinstance(role_latent_dim, Mapping) else {r: role_latent_dim for r in self.roles}
        self.latent_dims = OrderedDict((r, int(latent[r])) for r in self.roles)
        self.binary_roles = tuple(binary_roles)
        self.window_sigma, self.window_floor = float(window_sigma), float(window_floor)
        self.t_hat_mode, self.detach_t_hat = t_hat, detach_t_hat
        self.gate_with_gt_in_training = gate_with_gt_in_training
        self.latent_loss, self.frame_loss = latent_loss, frame_loss
        self.latent_loss_weight, self.recon_loss_weight = latent_loss_weight, recon_loss_weight
        self.frame_loss_weight = frame_loss_weight

        self.patch_dim, self.spatial_stream = patch_dim, spatial_stream
        if patch_dim:
            self.patch_proj = PatchProjection(image_dim, patch_dim, patch_positions=patch_positions)
        heads = nn.ModuleDict({
            r: QFormer(head_dim, patch_dim or image_dim, num_queries=queries_per_role, depth=depth,
                       num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout, attn_backend=attn_backend,
                       patch_positions=patch_positions and not patch_dim) for r in self.roles})
        self.stacked_heads = stacked_heads
        if stacked_heads:
            self.role_heads = StackedQFormer([heads[r] for r in self.roles])
        else:
            self.heads = heads
        self.head_out = nn.ModuleDict({r: nn.Linear(head_dim * queries_per_role, self.latent_dims[r])
                                       for r in self.roles})
        self.autoencoders = nn.ModuleDict({
            r: RoleAutoencoder(self.role_dims[r], self.latent_dims[r], ae_hidden_dim, latent_norm)
            for r in self.roles})
        summary_dim = sum(self.latent_dims.values())
        self.summary_dim = summary_dim
        self.placement = nn.Sequential(nn.LayerNorm(summary_dim), nn.Linear(summary_dim, placement_hidden_dim),
                                       nn.SiLU(), nn.Linear(placement_hidden_dim, num_frames))
        self.to_spatial = nn.Sequential(nn.LayerNorm(summary_dim), nn.Linear(summary_dim, out_dim))
        self.to_base = nn.Sequential(nn.LayerNorm(summary_dim), nn.Linear(summary_dim, out_dim), nn.SiLU(),
                                     nn.Linear(out_dim, out_dim))
        self.last_aux: Dict[str, object] = {}

    # ------------------------------------------------------------------ forward
    def role_tokens(self, image_patch: torch.Tensor, image_patch_mask: Optional[torch.Tensor] = None,
                    projected: bool = False) -> Dict[str, torch.Tensor]:
        """{role: (B, L_r)} head tokens from the patch grid (B, N, Ci) (projected=True: patch tokens (B, N, P))."""
        if self.patch_dim and not projected:
            image_patch = self.patch_proj(image_patch)
        if self.stacked_heads:
            stacked = self.role_heads(image_patch, context_mask=image_patch_mask)          # (R, B, Q, head_dim)
            queries = dict(zip(self.roles, stacked.unbind(0)))
        else:
            queries = {r: self.heads[r](image_patch, context_mask=image_patch_mask) for r in self.roles}
        return OrderedDict((r, self.head_out[r](rearrange(queries[r], 'b q d -> b (q d)'))) for r in self.roles)

    def forward(self, image_patch: torch.Tensor, image_patch_mask: Optional[torch.Tensor] = None,
                num_frames: Optional[int] = None, frame_mask: Optional[torch.Tensor] = None,
                t_star: Optional[torch.Tensor] = None, image_mask: Optional[torch.Tensor] = None,
                image_frames: Optional[torch.Tensor] = None, image_t_star: Optional[torch.Tensor] = None) -> dict:
        frames = resolve_frames(num_frames, frame_mask)
        if frames > self.num_frames:
            raise ValueError(f'{frames} frames exceed the placement head of {self.num_frames} (num_frames)')
        board = as_storyboard(image_patch, image_patch_mask, image_mask, image_frames, frames)
        if image_t_star is None and t_star is not None and board.mask.shape[1] == 1:
            image_t_star = t_star.reshape(-1, 1)
        valid = board.mask                                                                   # (B, K)
        batch_index = valid.nonzero()[:, 0]                                                  # (M,) image -> sample
        patches = self.patch_proj(board.patches) if self.patch_dim else board.patches      # (B, K, N, P | Ci)
        tokens = self.role_tokens(patches[valid], None if board.patch_mask is None else board.patch_mask[valid],
                                  projected=True)
        summary = torch.cat(list(tokens.values()), dim=-1)                                   # (M, S)

        logits = self.placement(summary)[:, :frames]                                         # (M, T)
        if frame_mask is not None:
            logits = logits.masked_fill(~frame_mask[batch_index], float('-inf'))
        probs = logits.softmax(dim=-1)
        if self.t_hat_mode == 'expectation':
            t_hat = (probs * torch.arange(frames, device=probs.device, dtype=probs.dtype)).sum(dim=-1)
        else:
            t_hat = probs.argmax(dim=-1).to(probs.dtype)
        centre = t_hat.detach() if self.detach_t_hat else t_hat
        if self.training and self.gate_with_gt_in_training and image_t_star is not None:
            centre = image_t_star[valid].to(probs.dtype)
        if board.frames is not None:                                 # given depicted frames (-1: not given)
            given = board.frames[valid]
            centre = torch.where(given >= 0, given.to(centre.dtype), centre)
        window = gaussian_window(centre, frames, self.window_sigma, self.window_floor).to(summary.dtype)
        if frame_mask is not None:
            window = window * frame_mask[batch_index].to(window.dtype)

        spatial, base = combine_images(valid, window, self.to_spatial(summary), self.to_base(summary),
                                       gated=self.spatial_stream == 'gated')
        times = torch.full(valid.shape, float('nan'), dtype=centre.dtype, device=centre.device)
        times[valid] = centre.detach()
        self.last_aux = dict(role_tokens=tokens, summary=summary, frame_logits=logits, frame_probs=probs,
                             t_hat=t_hat, window=window, image_mask=valid, image_times=times,
                             patch_tokens=patches if self.patch_dim else None)
        return {'spatial_image': spatial, 'base': base}

    def provided(self) -> Dict[str, torch.Tensor]:
        """{'image_times': (B, K)} the depicted frame of each image of the last forward (given or t̂; NaN on padded
        images), which the frame-aware encoder reads to send each frame to the image nearest in time; with
        `patch_dim`, also {'image_tokens': (B, K, N, P)} the shared patch tokens (under `feature_key`'s prefix)."""
        times = self.last_aux.get('image_times')
        out = {} if times is None else {'image_times': times}
        if self.last_aux.get('patch_tokens') is not None:
            out[self.condition_key('image_tokens')] = self.last_aux['patch_tokens']
        return out

    def image_targets(self, motion: torch.Tensor, t_star: torch.Tensor,
                      image_t_star: Optional[torch.Tensor] = None):
        """The head losses' (motion (M, T, D), t* (M,)) aligned with the last forward's M valid images.

        motion (B, T, D); t_star (B,) the sample's depicted frame (one image) or image_t_star (B, K) one per image.
        """
        valid = self.last_aux['image_mask']
        if image_t_star is None:
            if valid.shape[1] != 1:
                raise ValueError(f'{valid.shape[1]} images per sample need image_t_star (B, K), one t* per image')
            image_t_star = t_star.reshape(-1, 1)
        return motion[valid.nonzero()[:, 0]], image_t_star.to(t_star.device)[valid]

    # ------------------------------------------------------------------ supervision
    def head_losses(self, gt_role_quantities: Mapping[str, torch.Tensor], t_star: torch.Tensor,
                    aux: Optional[Mapping[str, object]] = None) -> Dict[str, torch.Tensor]:
        """Weighted SFIE losses of the last forward (or of `aux`, a saved `last_aux`).

        gt_role_quantities: {role: (B, role_dims[role])}, e.g. `role_quantities_from_motion(...)`;
        t_star: (B,) depicted frames (targets of the placement head).

        Returns {'loss_sfie_<role>_latent': `latent_loss`(head token, detached AE latent),
                 'loss_sfie_<role>_recon': AE reconstruction (BCE-with-logits for binary roles, else MSE),
                 'loss_sfie_depicted_frame': cross-entropy of the frame logits towards t* (or the L1 of
                 `frame_loss='l1'`)}, each a weighted scalar.
        """
        aux = self.last_aux if aux is None else aux
        if not aux:
            raise RuntimeError('head_losses needs a forward pass first (or aux=...)')
        losses = OrderedDict()
        dtype = torch.promote_types(aux['summary'].dtype, torch.float32)    # fp32 losses after bf16 autocast
        for r in self.roles:
            target = gt_role_quantities[r].to(dtype)
            latent, recon = self.autoencoders[r](target)
            if r in self.binary_roles:
                recon_loss = F.binary_cross_entropy_with_logits(recon, target)
            else:
                recon_loss = F.mse_loss(recon, target)
            losses[f'loss_sfie_{r}_latent'] = self.latent_loss_weight * self._latent_loss(
                aux['role_tokens'][r].to(dtype), latent.detach())
            losses[f'loss_sfie_{r}_recon'] = self.recon_loss_weight * recon_loss
        logits = aux['frame_logits']
        t_star = t_star.reshape(-1).to(logits.device)
        if self.frame_loss == 'ce':
            frame_loss = F.cross_entropy(logits.float(), t_star.long())
        else:
            frame_loss = (aux['t_hat'].float() - t_star.float()).abs().mean() / logits.shape[1]
        losses['loss_sfie_depicted_frame'] = self.frame_loss_weight * frame_loss
        return losses

    def _latent_loss(self, token: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.latent_loss == 'mse':
            return F.mse_loss(token, target)
        if self.latent_loss == 'l1':
            return F.l1_loss(token, target)
        return (1.0 - F.cosine_similarity(token, target, dim=-1)).mean()

    def __getstate__(self):
        """Copies and pickles (EMA, checkpoints of the module object) leave the last forward's graph behind."""
        state = dict(super().__getstate__())
        state['last_aux'] = {}
        return state

    @torch.no_grad()
    def autoencoder_latents(self, gt_role_quantities: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """{role: (B, L_r)} AE latents of GT quantities (the heads' regression targets; for analysis)."""
        return OrderedDict((r, self.autoencoders[r].encoder(gt_role_quantities[r])) for r in self.roles)

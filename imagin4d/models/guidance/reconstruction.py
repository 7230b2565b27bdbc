"""CHOIS-style reconstruction guidance on the predicted x0 (registered in MODELS as `ReconstructionGuidance`).

Owns the differentiable physical cost terms on the decoded (denormalised) motion and the gradient update of
the normalised x0 prediction in the last sampling steps (CHOIS, Li et al. 2024; docs/conventions.md):

    repeat num_iters:  x0 <- x0 - lr_t * grad_{x0} sum_b sum_k w_k cost_k(decode(x0)_b)
    lr_t = lr, or lr * posterior_variance(t -> t_prev) with `lr_by_variance` (CHOIS: 1e3 * sigma_t^2)

applied only while `step.steps_left <= last_steps` (every step if `step` is None or `last_steps` is None).
Costs are per sample and summed over the batch, so a sample's update does not depend on the batch size.

Terms (z-up world frame, metres, floor z = `floor_height`; each switchable and weighted in `terms`):
- `hand_contact`: for each hand point (joints24 22, 23) in a frame whose predicted contact label exceeds
  `contact_threshold` (label detached; CHOIS 0.95): relu(d - margin), d = distance to the nearest object
  surface point; mean over the gated (frame, hand) pairs (0 without contact).
- `feet_floor`: foot height h_f = min z over the foot's joints (left 7, 10; right 8, 11).
  mode 'support' (CHOIS): mean over frames of (min(h_left, h_right) - height)^2 (the lower foot is planted);
  mode 'contact': mean over the (frame, foot) pairs whose predicted foot contact label exceeds
  `contact_threshold` of (h_f - height)^2.
- `object_floor`: mean over frames and object points of relu(floor_height - z) (CHOIS L_floor-obj).
- `contact_consistency` (CHOIS L_consistency; off by default): a hand in contact should stay put on the object.
  Each hand point is expressed in the object's frame, l_t = R_t^T (p_t - c_t) (R_t: decoded 'obj_rot', c_t:
  'obj_com'), over its frames whose predicted contact label exceeds `contact_threshold` (detached; CHOIS 0.95).
  mode 'cosine' (CHOIS): 1 - mean cosine similarity of l_s and l_t over the ordered pairs s != t of those frames;
  mode 'distance': mean squared distance (m^2) of l_t from their mean. Averaged over the hands with at least two
  such frames (0 without). 'obj_rot' is relative to the BPS reference frame, a fixed rotation per sample that
  changes neither score.

Inputs (kept independent of data sets; the model passes them):
- x0: (B, T, D) normalised prediction.
- decode_fn: x0 -> dict with 'joints' (B, T, J, 3) and 'contacts' (B, T, 4) (left hand, right hand, left
  foot, right foot) in world units, plus whatever `object_points_fn` reads; or `codec` (a motion codec with
  statistics: decode(denormalize(x0))).
- object_points_fn: decoded dict -> (B, T, P, 3) object surface points placed by the decoded object pose
  (needed by hand_contact and object_floor); must be differentiable in the pose.
"""
import copy
import functools
from typing import Callable, Dict, Mapping, Optional, Sequence

import torch
from torch import nn

from imagin4d.geometry.contacts import min_distance
from imagin4d.registry import MODELS

__all__ = ['ReconstructionGuidance', 'DEFAULT_TERMS', 'CHOIS_PRESET', 'hand_contact_cost', 'feet_floor_cost',
           'object_floor_cost', 'contact_consistency_cost']

DEFAULT_TERMS = dict(
    hand_contact=dict(enabled=True, weight=1.0, contact_threshold=0.95, margin=0.02),
    feet_floor=dict(enabled=True, weight=1.0, mode='support', height=0.02, contact_threshold=0.5),
    object_floor=dict(enabled=True, weight=1.0),
    # off: on mini-FBM at step 1 it doubled the xy waypoint error and lowered contact F1 (sampling study, 3 seeds);
    # CHOIS uses it (CHOIS_PRESET)
    contact_consistency=dict(enabled=False, weight=1.0, contact_threshold=0.95, mode='cosine'),
)

#: CHOIS's published numbers for its 1000-step DDPM: step 1e3 * posterior variance on
#: L = 1e4 (L_contact + L_consistency + 100 L_floor-obj) + 3e5 L_feet-floor, for t = 1..9. Use as
#: `ReconstructionGuidance(**CHOIS_PRESET)`. The step sizes are transcribed, not validated: they depend on how
#: each cost is reduced (means over frames here, summed over the batch), so tune them on real predictions before
#: relying on them.
CHOIS_PRESET = dict(
    lr=1e3, lr_by_variance=True, num_iters=1, last_steps=10,
    terms=dict(hand_contact=dict(weight=1e4, contact_threshold=0.95, margin=0.02),
               feet_floor=dict(weight=3e5, mode='support', height=0.02),
               object_floor=dict(weight=1e6),
               contact_consistency=dict(enabled=True, weight=1e4, contact_threshold=0.95, mode='cosine')),
)


# ------------------------------------------------------------------------------------------------------ costs
def hand_contact_cost(hands: torch.Tensor, hand_contact: torch.Tensor, object_points: torch.Tensor,
                      margin: float = 0.02) -> torch.Tensor:
    """Per-sample hand-object contact cost.

    hands: (B, T, H, 3) hand points; hand_contact: (B, T, H) gate (bool or 0/1, not differentiated);
    object_points: (B, T, P, 3). Returns (B,): sum of gate * relu(d - margin) / max(sum of gate, 1).
    """
    B, T, H, _ = hands.shape
    d = min_distance(hands.reshape(B * T, H, 3), object_points.reshape(B * T, -1, 3)).reshape(B, T, H)
    gate = hand_contact.detach().to(d.dtype)
    return (gate * torch.relu(d - margin)).sum((1, 2)) / gate.sum((1, 2)).clamp_min(1.0)


def feet_floor_cost(feet_heights: torch.Tensor, height: float = 0.02, foot_contact: Optional[torch.Tensor] = None
                    ) -> torch.Tensor:
    """Per-sample feet-on-floor cost.

    feet_heights: (B, T, F) height above the floor of each foot's lowest joint. Without `foot_contact`
    ('support'): mean over frames of (min_f h - height)^2. With `foot_contact` (B, T, F) gate ('contact'):
    sum of gate * (h - height)^2 / max(sum of gate, 1). Returns (B,).
    """
    if foot_contact is None:
        return ((feet_heights.min(-1).values - height) ** 2).mean(-1)
    gate = foot_contact.detach().to(feet_heights.dtype)
    return (gate * (feet_heights - height) ** 2).sum((1, 2)) / gate.sum((1, 2)).clamp_min(1.0)


def object_floor_cost(point_heights: torch.Tensor) -> torch.Tensor:
    """Per-sample object-above-floor cost.  point_heights: (B, T, P) heights above the floor -> (B,):
    mean of relu(-h)."""
    return torch.relu(-point_heights).flatten(1).mean(-1)


def contact_consistency_cost(hands_local: torch.Tensor, hand_contact: torch.Tensor, mode: str = 'cosine'
                             ) -> torch.Tensor:
    """Per-sample contact-consistency cost (see the module docstring).

    hands_local: (B, T, H, 3) hand points in the object's frame; hand_contact: (B, T, H) gate (bool or 0/1, not
    differentiated). mode 'cosine': per hand 1 - sum_{s != t} g_s g_t cos(l_s, l_t) / (n (n - 1)), n = sum_t g_t;
    'distance': per hand sum_t g_t |l_t - mean|^2 / n. Returns (B,): mean over the hands with n >= 2 (0 without).
    """
    gate = hand_contact.detach().to(hands_local.dtype)
    n = gate.sum(1)                                                                            # (B, H)
    if mode == 'cosine':
        unit = hands_local / hands_local.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        total = (gate[..., None] * unit).sum(1)                                                # (B, H, 3)
        # sum over ordered pairs s != t = |sum_t g_t u_t|^2 - sum_t g_t^2 |u_t|^2
        pairs = (total ** 2).sum(-1) - (gate ** 2 * (unit ** 2).sum(-1)).sum(1)
        per_hand = 1.0 - pairs / (n * (n - 1)).clamp_min(1.0)
    elif mode == 'distance':
        mean = (gate[..., None] * hands_local).sum(1) / n.clamp_min(1.0)[..., None]
        per_hand = (gate * ((hands_local - mean[:, None]) ** 2).sum(-1)).sum(1) / n.clamp_min(1.0)
    else:
        raise ValueError(f"contact_consistency mode must be 'cosine' or 'distance', got {mode!r}")
    counted = (n >= 2).to(per_hand.dtype)
    return (counted * per_hand).sum(-1) / counted.sum(-1).clamp_min(1.0)


# ------------------------------------------------------------------------------------------------------ module
@MODELS.register_module()
class ReconstructionGuidance(nn.Module):
    """Gradient guidance of x0 on physical costs (see the module docstring for the terms and the update).

    Args:
        terms: per-term overrides merged onto `DEFAULT_TERMS`, e.g.
            dict(hand_contact=dict(weight=2.0), feet_floor=dict(enabled=False, mode='contact')).
        lr: step size of the x0 update (in normalised units per unit of weighted cost).
        num_iters: gradient steps per sampling step.
        last_steps: apply in the last K sampling steps only (None: every step). With CHOIS's 1000-step
            DDPM and `lr_by_variance`, last_steps=10 reproduces its t = 1..9 (the t = 0 step has variance 0).
        lr_by_variance: multiply lr by the DDPM posterior variance of the current step (CHOIS).
        hand_joints: joint ids of the (left, right) hand points (joints24: 22, 23).
        foot_joints: joint ids of each foot, ((7, 10), (8, 11)) = (left ankle, left toe), (right ...).
        hand_contact_dims / foot_contact_dims: indices into the decoded 'contacts' (B, T, 4).
        floor_height: z of the floor; up_axis: index of the up coordinate (2: z-up).
    """

    TERMS = tuple(DEFAULT_TERMS)

    def __init__(self, terms: Optional[Mapping[str, Mapping]] = None, lr: float = 0.1, num_iters: int = 1,
                 last_steps: Optional[int] = 10, lr_by_variance: bool = False,
                 hand_joints: Sequence[int] = (22, 23), foot_joints: Sequence[Sequence[int]] = ((7, 10), (8, 11)),
                 hand_contact_dims: Sequence[int] = (0, 1), foot_contact_dims: Sequence[int] = (2, 3),
                 floor_height: float = 0.0, up_axis: int = 2):
        super().__init__()
        self.terms = copy.deepcopy(DEFAULT_TERMS)
        for name, override in (terms or {}).items():
            if name not in self.terms:
                raise KeyError(f'unknown reconstruction-guidance term {name!r}; known: {list(self.terms)}')
            unknown = set(override) - set(self.terms[name])
            if unknown:
                raise KeyError(f'unknown option(s) {sorted(unknown)} of term {name!r}; known: '
                               f'{sorted(self.terms[name])}')
            self.terms[name].update(override)
        mode = self.terms['feet_floor']['mode']
        if mode not in ('support', 'contact'):
            raise ValueError(f"feet_floor mode must be 'support' or 'contact', got {mode!r}")
        mode = self.terms['contact_consistency']['mode']
        if mode not in ('cosine', 'distance'):
            raise ValueError(f"contact_consistency mode must be 'cosine' or 'distance', got {mode!r}")
        if num_iters < 0:
            raise ValueError(f'num_iters must be >= 0, got {num_iters}')
        self.lr, self.num_iters = float(lr), int(num_iters)
        self.last_steps = None if last_steps is None else int(last_steps)
        self.lr_by_variance = bool(lr_by_variance)
        self.hand_joints = tuple(hand_joints)
        self.foot_joints = tuple(tuple(f) for f in foot_joints)
        self.hand_contact_dims = tuple(hand_contact_dims)
        self.foot_contact_dims = tuple(foot_contact_dims)
        if len(self.hand_contact_dims) != len(self.hand_joints) or len(self.foot_contact_dims) != len(self.foot_joints):
            raise ValueError('need one contact dim per hand and per foot')
        self.floor_height, self.up_axis = float(floor_height), int(up_axis)

    # -------------------------------------------------------------------------------------------- costs
    @property
    def enabled_terms(self) -> tuple:
        return tuple(k for k, v in self.terms.items() if v['enabled'] and v['weight'] != 0)

    @staticmethod
    def _decoder(decode_fn: Optional[Callable], codec) -> Callable:
        if decode_fn is not None:
            return decode_fn
        if codec is not None:
            return lambda x: codec.decode(codec.denormalize(x))
        raise ValueError('reconstruction guidance needs decode_fn or codec')

    def costs(self, x0: torch.Tensor, decode_fn: Optional[Callable] = None, object_points_fn: Optional[Callable] = None,
              codec=None) -> Dict[str, torch.Tensor]:
        """Unweighted per-sample costs of the enabled terms: name -> (B,). x0: (B, T, D) normalised."""
        dec = self._decoder(decode_fn, codec)(x0)
        joints, contacts = dec['joints'], dec.get('contacts')
        up = self.up_axis
        out = {}
        enabled = self.enabled_terms
        gated = ('hand_contact' in enabled or 'contact_consistency' in enabled
                 or ('feet_floor' in enabled and self.terms['feet_floor']['mode'] == 'contact'))
        if gated and contacts is None:
            raise KeyError("decode_fn must return 'contacts' (B, T, 4) for contact-gated terms")
        points = None
        if 'hand_contact' in enabled or 'object_floor' in enabled:
            if object_points_fn is None:
                raise ValueError(f'terms {[t for t in enabled if t != "feet_floor"]} need object_points_fn')
            points = object_points_fn(dec)                                            # (B, T, P, 3)
        if 'hand_contact' in enabled:
            cfg = self.terms['hand_contact']
            gate = contacts[..., list(self.hand_contact_dims)] > cfg['contact_threshold']
            out['hand_contact'] = hand_contact_cost(joints[..., list(self.hand_joints), :], gate, points,
                                                    cfg['margin'])
        if 'feet_floor' in enabled:
            cfg = self.terms['feet_floor']
            heights = torch.stack([joints[..., list(f), up].min(-1).values for f in self.foot_joints], -1)
            gate = None
            if cfg['mode'] == 'contact':
                gate = contacts[..., list(self.foot_contact_dims)] > cfg['contact_threshold']
            out['feet_floor'] = feet_floor_cost(heights - self.floor_height, cfg['height'], gate)
        if 'object_floor' in enabled:
            out['object_floor'] = object_floor_cost(points[..., up] - self.floor_height)
        if 'contact_consistency' in enabled:
            cfg = self.terms['contact_consistency']
            if 'obj_rot' not in dec or 'obj_com' not in dec:
                raise KeyError("decode_fn must return 'obj_rot' (B, T, 3, 3) and 'obj_com' (B, T, 3) for the "
                               "contact_consistency term")
            hands = joints[..., list(self.hand_joints), :] - dec['obj_com'][..., None, :]
            local = hands @ dec['obj_rot']                          # rows: (R^T (p - c))^T = (p - c)^T R
            gate = contacts[..., list(self.hand_contact_dims)] > cfg['contact_threshold']
            out['contact_consistency'] = contact_consistency_cost(local, gate, cfg['mode'])
        return out

    def cost(self, x0: torch.Tensor, decode_fn: Optional[Callable] = None, object_points_fn: Optional[Callable] = None,
             codec=None) -> torch.Tensor:
        """Weighted total, summed over the batch (a scalar)."""
        costs = self.costs(x0, decode_fn, object_points_fn, codec)
        total = x0.new_zeros(())
        for name, value in costs.items():
            total = total + self.terms[name]['weight'] * value.sum()
        return total

    # -------------------------------------------------------------------------------------------- update
    def is_active(self, step=None) -> bool:
        """Whether this sampling step is guided (`step` is a `SamplingStep` or None)."""
        if not self.enabled_terms or self.num_iters == 0:
            return False
        return step is None or self.last_steps is None or step.steps_left <= self.last_steps

    def step_size(self, step=None) -> float:
        if self.lr_by_variance and step is not None:
            return self.lr * step.posterior_variance
        return self.lr

    def forward(self, x0: torch.Tensor, step=None, *, decode_fn: Optional[Callable] = None,
                object_points_fn: Optional[Callable] = None, codec=None) -> torch.Tensor:
        """Guided x0 (B, T, D) (a new tensor, detached), or `x0` itself on an unguided step."""
        if not self.is_active(step):
            return x0
        lr = self.step_size(step)
        if lr == 0:
            return x0
        x = x0.detach()
        for _ in range(self.num_iters):
            with torch.enable_grad():
                x = x.clone().requires_grad_(True)
                total = self.cost(x, decode_fn, object_points_fn, codec)
                if not total.requires_grad:
                    break
                grad, = torch.autograd.grad(total, x)
            x = (x - lr * grad).detach()
        return x.detach()

    def bind(self, decode_fn: Optional[Callable] = None, object_points_fn: Optional[Callable] = None,
             codec=None) -> Callable:
        """`guidance_fn(x0, step)` for `BaseSampler.sample`, with the decoding and object callables fixed."""
        self._decoder(decode_fn, codec)   # fail early
        return functools.partial(self.forward, decode_fn=decode_fn, object_points_fn=object_points_fn, codec=codec)

    def extra_repr(self) -> str:
        return (f'terms={self.terms}, lr={self.lr}, num_iters={self.num_iters}, last_steps={self.last_steps}, '
                f'lr_by_variance={self.lr_by_variance}')

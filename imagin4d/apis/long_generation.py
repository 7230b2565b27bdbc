"""Long interactions: a motion of N > window frames generated as overlapping windows chained in the world frame.

Owns the window plan (`plan_windows`: evenly spaced windows, the last one ending on the last frame), the waypoints
of each window (`window_waypoints`: the request's waypoints inside it, re-timed), the start state a window takes
from the previous one (`continuation_state`: body pose and object pose at the frame where it starts, given exactly
as frame 0 of a single request is given) and the seam blend (`splice`: the incoming window is cross-faded in over
`blend` frames from its first frame; positions linearly, rotations by slerp, with a ramp whose slope is zero at
both ends, see `imagin4d.geometry.blend`). `continue_chains` runs the windows after the first for a batch of
long requests through an `HOIInferencer` (one batched sampling call per window index). A storyboard's images go to
the windows of their moments (`storyboard.window_storyboard`): an image with a given frame (a frame of the motion)
conditions each window that contains it, at its re-timed frame; an image without one conditions every window; a
window with no image is sampled with the image source dropped.

Each window is canonicalised on its own start body, like a request window (`request_window.build_window`), and
mapped back to the world, so the chain lives in the world frame of the request. Shapes: world motions are dicts
of `decode_world` (joints (T, 24, 3), global_rot (T, 22, 3, 3), obj_rot (T, 3, 3), obj_com (T, 3), contacts (T, 4)).
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from imagin4d.geometry.blend import crossfade, crossfade_weights

from .request_window import build_window, decode_world
from .requests import RequestError, WaypointSpec
from .storyboard import NO_IMAGE, window_storyboard

__all__ = ['WindowPlan', 'plan_windows', 'window_waypoints', 'continuation_state', 'splice', 'continue_chains',
           'DEFAULT_OVERLAP', 'WINDOW_SEED_STRIDE']

#: Frames shared by consecutive windows at least (1 s at 30 fps); the seam blend spans this many frames.
DEFAULT_OVERLAP = 30
#: Window k of a sample with seed s is sampled with seed s + k * WINDOW_SEED_STRIDE (window 0: the sample's seed).
WINDOW_SEED_STRIDE = 7919
ROTATION_KEYS = ('global_rot', 'obj_rot')


@dataclass
class WindowPlan:
    """Where the windows of a motion of `num_frames` frames lie: `starts` (first frame of each window, the last
    window ends on frame num_frames - 1), `window` frames each, and `blend`: the frames of each seam's cross-fade,
    [start, start + blend) of every window after the first."""

    num_frames: int
    window: int
    starts: List[int]
    blend: int

    @property
    def seams(self) -> List[Tuple[int, int]]:
        """(first, end) frames of each blended seam (end exclusive)."""
        return [(s, s + self.blend) for s in self.starts[1:]]


def plan_windows(num_frames: int, window: int, overlap: int = DEFAULT_OVERLAP,
                 blend: Optional[int] = None) -> WindowPlan:
    """The fewest evenly spaced windows of `window` frames that cover `num_frames` with consecutive windows sharing
    at least `overlap` frames (1 <= overlap <= window // 3, so that a seam's blend ends before the next window
    starts). One window when num_frames == window. blend: frames of each seam's cross-fade (default: `overlap`; 0:
    a hard cut at each window start, for comparison; at most `overlap`)."""
    if num_frames < window:
        raise RequestError(f'num_frames: {num_frames} frames is shorter than the model window ({window} frames)')
    if num_frames == window:
        return WindowPlan(num_frames, window, [0], 0)
    if not (isinstance(overlap, int) and 1 <= overlap <= window // 3):
        raise RequestError(f'overlap: {overlap!r} frames; expected an integer in 1..{window // 3} (a third of the '
                           f'{window}-frame window)')
    count = math.ceil((num_frames - window) / (window - overlap)) + 1
    starts = np.rint(np.linspace(0, num_frames - window, count)).astype(int).tolist()
    room = [starts[k - 1] + window - starts[k] for k in range(1, count)]          # overlap of each seam
    room += [starts[k + 1] - starts[k] for k in range(1, count - 1)]              # the next window's start
    if blend is not None and not (isinstance(blend, int) and 0 <= blend <= overlap):
        raise RequestError(f'blend: {blend!r} frames; expected an integer in 0..{overlap} (the overlap)')
    return WindowPlan(num_frames, window, starts, min([overlap if blend is None else blend] + room))


def window_waypoints(spec: Optional[WaypointSpec], start: int, window: int,
                     object_start: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> Optional[WaypointSpec]:
    """The waypoints of the window that starts at frame `start`: the request's waypoints in (start, start + window
    - 1], re-timed to the window (frame f -> f - start); the object's start pose is `object_start` (position (3,),
    rotation (3, 3), world) or, for the first window, the request's. None when there is nothing to give."""
    if spec is None and object_start is None:
        return None
    if spec is not None and spec.num_frames == window and start == 0 and object_start is None:
        return spec
    last = start + window - 1
    local = WaypointSpec(num_frames=window, source=spec.source if spec is not None else '<long motion>')
    if object_start is not None:
        local.start_position, local.start_rotation = (np.asarray(v, np.float64) for v in object_start)
    elif spec is not None:
        local.start_position, local.start_rotation = spec.start_position, spec.start_rotation
    if spec is not None:
        local.xy = [(f - start, x, y) for f, x, y in spec.xy if start < f <= last]
        if spec.end_frame is not None and start < spec.end_frame <= last:
            if spec.end_frame != last:
                raise RequestError(f'waypoints {spec.source}: the last frame {spec.end_frame} is not the last frame '
                                   f'of a window (plan error)')
            local.end_frame, local.end_position = window - 1, spec.end_position
    return local


def continuation_state(world: Dict[str, torch.Tensor], frame: int, rest: torch.Tensor):
    """The start state of the next window: the body and object at `frame` of a world motion.

    Returns (state {rest (55, 3), joints24 (24, 3), global_rot (22, 3, 3)} as `request_window.body_state` gives
    it, object centre (3,), object rotation (3, 3) of the up-turned template), all world frame, float64."""
    state = dict(rest=rest, joints24=world['joints'][frame].double(), global_rot=world['global_rot'][frame].double())
    return state, world['obj_com'][frame].double().numpy(), world['obj_rot'][frame].double().numpy()


def splice(sequence: Dict[str, torch.Tensor], incoming: Dict[str, torch.Tensor], start: int,
           blend: int) -> Dict[str, torch.Tensor]:
    """The motion so far (frames 0..S-1, S >= start + blend) continued by a window that starts at frame `start`:
    frames before `start` are the sequence's, [start, start + blend) a cross-fade from the sequence to the window
    (`crossfade_weights`), the rest the window's. Returns start + len(incoming) frames."""
    if sequence['joints'].shape[0] < start + blend:
        raise ValueError(f'splice: the sequence has {sequence["joints"].shape[0]} frames, the blend needs '
                         f'{start + blend}')
    w = crossfade_weights(blend) if blend else torch.zeros(0, dtype=torch.float64)
    mixed = crossfade({k: v[start:start + blend] for k, v in sequence.items()},
                      {k: v[:blend] for k, v in incoming.items()}, w, ROTATION_KEYS) if blend else \
        {k: v[:0] for k, v in incoming.items()}
    return {k: torch.cat([sequence[k][:start], mixed[k], incoming[k][blend:]]) for k in sequence}


def continue_chains(inferencer, items: Sequence[dict], first: Sequence[Sequence[tuple]]) -> List[List[dict]]:
    """Generate the windows after the first of every long request, all samples of all requests batched per window.

    items: resolved requests of `HOIInferencer` (keys plan, waypoints, template, start, state, window, geometry,
    request, name); first: per item, the (motion, t_hat, seed) of its first window per sample. Returns per item and
    sample {world: the spliced world motion (N frames), t_hats: SFIE's t-hat per window, seed}."""
    codec, settings = inferencer.model.codec, inferencer.settings
    chains = []
    for i, it in enumerate(items):
        for motion, t_hat, seed in first[i]:
            world = decode_world(codec, motion, it['geometry'])
            chains.append(dict(item=i, seed=seed, world=world, last=world, t_hats=[t_hat]))
    count = max((len(it['plan'].starts) for it in items), default=1)
    for k in range(1, count):
        active = [c for c in chains if k < len(items[c['item']]['plan'].starts)]
        jobs, geometries = [], []
        for c in active:
            it = items[c['item']]
            plan = it['plan']
            state, position, rotation = continuation_state(c['last'], plan.starts[k] - plan.starts[k - 1],
                                                           it['state']['rest'])
            spec = window_waypoints(it['waypoints'], plan.starts[k], plan.window, (position, rotation))
            window, geometry = build_window(codec, it['template'], float(it['request'].object_scale), it['start'],
                                            state, spec, inferencer.start_object_xy, inferencer.bps_basis,
                                            plan.window, settings['first_frame_human'])
            window.update({key: value for key, value in it['window'].items() if key not in window and
                           key != NO_IMAGE})                                                  # features
            mask = it['window'].get(f"{settings['feature_key']}_mask")
            if mask is not None:          # a storyboard call: the images whose moment lies in this window, re-timed
                window.update(window_storyboard(it, plan.starts[k], plan.window, mask.numel(), settings['feature_key']))
            jobs.append((inferencer.sampling(it['request']), window, it['name'], it['request'].text,
                         c['seed'] + k * WINDOW_SEED_STRIDE))
            geometries.append(geometry)
        for c, (motion, t_hat, _), geometry in zip(active, inferencer.sample_windows(jobs), geometries):
            world = decode_world(codec, motion, geometry)
            c['world'] = splice(c['world'], world, items[c['item']]['plan'].starts[k], items[c['item']]['plan'].blend)
            c['last'] = world
            c['t_hats'].append(t_hat)
    out: List[List[dict]] = [[] for _ in items]
    for c in chains:
        out[c['item']].append(dict(world=c['world'], t_hats=c['t_hats'], seed=c['seed']))
    return out

"""Generate human-object interactions from your own prompt, object mesh, reference image and waypoints.

    python tools/generate.py CONFIG CHECKPOINT --text "lift the box, carry it and put it down" --object box.obj
        --image ref.png [--waypoints demo/waypoints.json] [--start-body body.npz] [--num-samples N] [--steps K]
        [--timestep-spacing linspace] [--guidance-image G] [--seed S] [--device cpu|cuda] [--out DIR]
        [--frames N [--overlap O]]
    python tools/generate.py CONFIG CHECKPOINT --requests requests.jsonl [--out DIR]
    python tools/generate.py CONFIG CHECKPOINT --text ... --object box.obj --image grasp.png --image carry.png
        --image place.png [--image-frame 20 --image-frame auto --image-frame 100]      (a storyboard)

Writes into --out, per request and sample (<name>_s<k>): `_smplx.npz` (AMASS SMPL-X layout), `_object.npz` (object
rotation, translation, scale, mesh file, contacts), `.bvh` (body skeleton), `.glb` (skinned body + animated object,
glTF 2.0), `.mp4` (the body mesh and the object beside the reference image), and `summary.json` (what was generated
from what, waypoint errors, the stage timings). An --out folder that holds files is refused unless --overwrite.
--frames N (N > 120, e.g. 300 or 900) generates a long interaction as overlapping windows chained and blended
(docs/user_guides/generate.md#long-interactions); its waypoints may lie anywhere in 1..N-1.
Inputs and the waypoint schema: docs/user_guides/generate.md.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import numpy as np  # noqa: E402

import imagin4d  # noqa: E402,F401
from imagin4d.engine.runner_setup import run_cli  # noqa: E402
from imagin4d.models.schedulers.base import TIMESTEP_SPACINGS  # noqa: E402
from imagin4d.models.schedulers.test_cfg import TEST_SAMPLERS  # noqa: E402
from imagin4d.utils.errors import UserError  # noqa: E402

FORMATS = ('npz', 'bvh', 'glb', 'mp4')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='a trained checkpoint (tools/train.py)')
    one = parser.add_argument_group('one request')
    one.add_argument('--text', help='the sentence describing the interaction')
    one.add_argument('--object', help='object mesh (.obj, .ply, .stl, .glb)')
    one.add_argument('--object-scale', type=float, default=1.0, help='mesh units -> metres (default 1)')
    one.add_argument('--object-up', default='z', choices=['x', 'y', 'z', '-x', '-y', '-z'],
                     help="the mesh's up axis (default z; most glTF / OBJ exports are y)")
    one.add_argument('--image', action='append', default=None,
                     help='the reference image (any size; RGB, RGBA or grayscale); repeat it for a storyboard of '
                          'several images, each showing another moment, in time order')
    one.add_argument('--image-frame', action='append', default=None,
                     help='the frame of the motion (0..N-1; with --frames N, each image conditions the windows '
                          'that contain its frame) the matching --image depicts, or "auto" (the model places it, in '
                          'every window); repeat once per --image')
    one.add_argument('--waypoints', help='waypoints JSON (docs/user_guides/generate.md)')
    one.add_argument('--start-body', help='start body: an AMASS SMPL-X .npz (default: a standing pose at the origin '
                                          'facing +Y, mean shape)')
    one.add_argument('--start-frame', type=int, default=0, help='frame of --start-body to start from')
    one.add_argument('--gender', choices=['neutral', 'male', 'female'], help='overrides the start body gender')
    one.add_argument('--name', help='output file prefix (default request_0)')
    parser.add_argument('--requests', help='many requests: a JSON-lines file, one request object per line')
    parser.add_argument('--frames', type=int, help='length of the motion in frames (default: the waypoints\' '
                                                   'num_frames, else one model window); longer than the window: '
                                                   'chained overlapping windows')
    parser.add_argument('--overlap', type=int, default=None,
                        help='frames shared by consecutive windows of a long motion, also the seam blend (30)')
    parser.add_argument('--blend', type=int, default=None,
                        help='frames of each seam cross-fade (default: the overlap; 0: a hard cut, for comparison)')
    parser.add_argument('--num-samples', type=int, help='samples per request (default: the config test_cfg)')
    parser.add_argument('--sampler', choices=sorted(TEST_SAMPLERS), help='default: the config test_cfg')
    parser.add_argument('--steps', type=int, help='sampling steps (default: the config test_cfg)')
    parser.add_argument('--timestep-spacing', choices=TIMESTEP_SPACINGS,
                        help="which training steps the sampler visits ('linspace' ends at t = 0; default: the config "
                             'test_cfg)')
    parser.add_argument('--guidance-image', type=float, help='image guidance G (1: plain conditional model)')
    parser.add_argument('--guidance-text', type=float, help='text guidance G')
    parser.add_argument('--inpaint-waypoints', action='store_true', default=None,
                        help='meet the start state and waypoints exactly (they replace the model values each step)')
    parser.add_argument('--reconstruction-guidance', action=argparse.BooleanOptionalAction, default=None,
                        help='physical-cost guidance in the last steps: hands on the object where contact is '
                             'predicted, feet and object on the floor (default: the config test_cfg)')
    parser.add_argument('--seed', type=int, help='seed (the same request and seed give the same result)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--batch-size', type=int, default=32, help='windows sampled together')
    parser.add_argument('--body-model-root', help='folder with smplx/SMPLX_*.npz (default data/body_models, '
                                                  'or IMAGIN4D_BODY_MODEL_DIR)')
    parser.add_argument('--formats', default=','.join(FORMATS), help=f'files to write, from {",".join(FORMATS)}')
    parser.add_argument('--out', default='outputs', help='output folder (default outputs/)')
    parser.add_argument('--overwrite', action='store_true', help='allow writing into a folder that holds files')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def build_requests(args):
    from imagin4d.apis import HOIRequest
    from imagin4d.apis.inference import SAMPLING_KEYS
    from imagin4d.apis.requests import read_requests_jsonl
    overrides = {k: getattr(args, k) for k in ('num_samples', *SAMPLING_KEYS, 'seed') if getattr(args, k) is not None}
    if args.frames is not None:
        overrides['num_frames'] = args.frames
    if args.requests:
        if args.text or args.object:
            raise UserError('give either --requests FILE or --text/--object/--image, not both')
        requests = read_requests_jsonl(args.requests)
        for request in requests:
            for key, value in overrides.items():
                if getattr(request, key) is None:
                    setattr(request, key, value)
        return requests
    if not args.text or not args.object:
        raise UserError('--text and --object are required (or --requests FILE)')
    images = dict(reference_image=args.image[0] if args.image else None)
    if (args.image and len(args.image) > 1) or args.image_frame:
        images = dict(images=args.image or [], frames=image_frames(args.image_frame, len(args.image or [])))
    return [HOIRequest(text=args.text, object_mesh=args.object, **images, waypoints=args.waypoints,
                       object_scale=args.object_scale, object_up=args.object_up, start_body=args.start_body,
                       start_frame=args.start_frame, gender=args.gender, name=args.name, **overrides)]


def image_frames(values, count: int):
    """--image-frame values (an integer or 'auto', one per --image) -> the request's frames (None: auto)."""
    if values is None:
        return None
    if len(values) != count:
        raise UserError(f'--image-frame given {len(values)} times for {count} --image; give one per image (a frame '
                        'or auto)')
    frames = []
    for value in values:
        if value.strip().lower() == 'auto':
            frames.append(None)
            continue
        try:
            frames.append(int(value))
        except ValueError:
            raise UserError(f'--image-frame {value!r}: expected a frame number or auto') from None
    return frames


def check_out_dir(out: str, overwrite: bool) -> None:
    if osp.isdir(out) and os.listdir(out) and not overwrite:
        raise UserError(f'--out {out} already holds files; choose another folder or pass --overwrite')
    if osp.exists(out) and not osp.isdir(out):
        raise UserError(f'--out {out} is a file, not a folder')
    os.makedirs(out, exist_ok=True)


def main(argv=None):
    args = parse_args(argv)
    formats = [f.strip() for f in args.formats.split(',') if f.strip()]
    bad = sorted(set(formats) - set(FORMATS))
    if bad:
        raise UserError(f'--formats: unknown {bad}; choose from {list(FORMATS)}')
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise UserError(f'{what} {path} does not exist')
    check_out_dir(args.out, args.overwrite)
    from imagin4d.apis import HOIInferencer, export_result
    from imagin4d.apis.long_generation import DEFAULT_OVERLAP
    requests = build_requests(args)
    inferencer = HOIInferencer(args.config, args.checkpoint, device=args.device, batch_size=args.batch_size,
                               body_model_root=args.body_model_root, progress=not args.no_progress,
                               overlap=DEFAULT_OVERLAP if args.overlap is None else args.overlap, blend=args.blend)
    results = inferencer(requests)
    timings = dict(inferencer.last_timings)
    summary = dict(config=args.config, checkpoint=args.checkpoint, requests=[], timings_s=timings)
    for request, samples in zip(requests, results):
        entry = dict(name=samples[0].meta['name'], text=request.text, object_mesh=str(request.object_mesh),
                     reference_image=None if request.reference_image is None else str(request.reference_image),
                     waypoints=None if request.waypoints is None else str(request.waypoints), samples=[])
        if request.images is not None:
            entry.update(images=[str(i) if isinstance(i, (str, os.PathLike)) else '<array>' for i in request.images],
                         frames=request.frames)
        for result in samples:
            stem = osp.join(args.out, f"{result.meta['name']}_s{result.meta['sample']}")
            written, stage_times = export_result(result, stem, formats)      # the video shows the first picture
            for stage, seconds in stage_times.items():
                timings[stage] = timings.get(stage, 0.0) + seconds
            entry['samples'].append(dict(
                files=[osp.basename(f) for f in written], seed=result.meta['seed'], t_hat=result.t_hat,
                object_start=dict(position=result.meta['object_start_position'],
                                  rotation=result.meta['object_start_rotation'],
                                  placed_by=result.meta['object_start_from']),
                waypoint_errors_mm=result.meta.get('waypoint_errors_mm'),
                sampling=result.meta['sampling'], num_frames=result.num_frames,
                **{k: result.meta[k] for k in ('windows', 'seams', 'window_t_hat', 'image_t_hat',
                                                           'window_images') if k in result.meta}))
            print(f"{result.meta['name']} sample {result.meta['sample']}: " + ', '.join(osp.basename(f)
                                                                                          for f in written))
        summary['requests'].append(entry)
    with open(osp.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1, default=lambda v: np.asarray(v).tolist())
    print(f'summary: {osp.join(args.out, "summary.json")}; stage times (s): ' +
          ', '.join(f'{k} {v:.2f}' for k, v in timings.items()))


if __name__ == '__main__':
    run_cli(main)

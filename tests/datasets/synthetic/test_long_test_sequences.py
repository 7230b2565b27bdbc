"""mini-FBM long test sequences: an extra output that leaves the default build byte for byte as it was, chained carry
segments whose object path is continuous and whose body starts each segment where it stands (no glide: a foot is
planted at every frame, joins included), and files that the generation API reads as they are."""
import hashlib
import importlib.util
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
from testing_utils import REPO

from imagin4d.apis.requests import load_start_body, load_waypoints
from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR, build_long_test
from imagin4d.datasets.synthetic.motion import end_stance


def _tool():
    spec = importlib.util.spec_from_file_location('make_mini_fbm', REPO / 'tools' / 'data' / 'make_mini_fbm.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _file_digests(root):
    """sha256 of every file of a data root but the long-test folder; the factors file without its build time."""
    out = {}
    for folder, _, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        if rel.split(os.sep)[0] == LONG_TEST_DIR:
            continue
        for name in files:
            path = os.path.join(folder, name)
            data = open(path, 'rb').read()
            if name == 'mini_fbm_factors.json':
                meta = json.loads(data)
                meta['summary'].pop('seconds')
                data = json.dumps(meta, sort_keys=True).encode()
            out[os.path.join(rel, name)] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.slow
def test_default_build_is_unchanged_by_the_long_test_output(tmp_path, free_body_dir):
    tool = _tool()
    args = ['--num-train', '1', '--num-test', '1', '--seed', '5', '--body-model-dir', free_body_dir, '--no-progress']
    assert tool.main(['--out', str(tmp_path / 'plain'), *args]) == 0
    assert tool.main(['--out', str(tmp_path / 'long'), *args, '--long-test', '1', '--long-segments', '2']) == 0
    plain, long = _file_digests(tmp_path / 'plain'), _file_digests(tmp_path / 'long')
    assert len(plain) > 10 and plain == long
    assert not (tmp_path / 'plain' / LONG_TEST_DIR).exists()
    assert (tmp_path / 'long' / LONG_TEST_DIR / 'index.json').is_file()


@pytest.fixture(scope='module')
def long_root(tmp_path_factory, free_body_dir):
    root = str(tmp_path_factory.mktemp('long_test'))
    return root, build_long_test(root, free_body_dir, num=1, segments=3, seed=1)


def test_segments_chain_where_the_object_was_put_down(long_root):
    root, index = long_root
    (name, info), = index['sequences'].items()
    seq = np.load(os.path.join(root, LONG_TEST_DIR, info['body']))
    T = info['num_frames']
    assert T == seq['trans'].shape[0] > 2 * 120 and len(info['segment_starts']) == 3
    centre, joints = seq['obj_centre'], seq['joints24']
    for start in info['segment_starts'][1:]:
        # the object rests across the join: the next segment picks it up where the last one left it
        np.testing.assert_allclose(centre[start - 10:start + 30], np.repeat(centre[start - 1:start], 40, 0),
                                   atol=1e-9)
        assert centre[start, 2] < 0.5 * centre[:, 2].max()                   # on the floor, not in the hands
        # the body stands still across the join: the next segment starts where the previous one's body stands
        assert np.linalg.norm(joints[start] - joints[start - 1], axis=-1).max() < 0.005
    assert max(info['join_gap']) < 0.005
    # each segment's depicted frame (its contact-centred frame) in sequence frames: a hand holds the object there
    assert len(info['depicted_frames']) == 3 and info['depicted_frames'][0] == info['depicted_frame']
    for start, frame in zip(info['segment_starts'], info['depicted_frames']):
        assert start < frame < start + 120 and seq['contacts'][frame, :2].any()
    step = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(-1)
    assert step.max() < 0.19                                                 # the generator's own continuity bound
    # no glide anywhere: at every frame one ankle does not move on the floor (the generator pins a planted foot;
    # a body cross-faded to another start slid both feet by millimetres to centimetres per frame)
    ankle = np.linalg.norm(np.diff(joints[:, [7, 8], :2], axis=0), axis=-1)
    assert ankle.min(-1).max() < 2e-4


def test_end_stance_is_the_body_pose_in_the_object_frame():
    # object turned 90 degrees about z at (1, 2): world +y is its +x; the body 1 m further along +y, heading 90 + 5.7
    yaw = math.pi / 2
    seq = SimpleNamespace(obj_rot=np.array([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]),
                          obj_trans=np.array([[1.0, 2.0, 0.3]]), info=dict(end_x=1.0, end_y=3.0, end_psi=yaw + 0.1))
    np.testing.assert_allclose(end_stance(seq), [1.0, 0.0, 0.1], atol=1e-12)


def test_files_are_requests_as_they_are(long_root):
    root, index = long_root
    (name, info), = index['sequences'].items()
    folder = os.path.join(root, LONG_TEST_DIR)
    seq = np.load(os.path.join(folder, info['body']))
    spec = load_waypoints(os.path.join(folder, info['waypoints']))
    T = info['num_frames']
    assert spec.num_frames == T and spec.end_frame == T - 1
    assert [f for f, _, _ in spec.xy] == list(range(29, T - 1, 30))
    np.testing.assert_allclose(spec.start_position, seq['obj_centre'][0])
    np.testing.assert_allclose(spec.xy[3][1:], seq['obj_centre'][119, :2])
    np.testing.assert_allclose(spec.end_position, seq['obj_centre'][-1])
    start = load_start_body(os.path.join(folder, info['body']), 0)
    np.testing.assert_allclose(start.transl, seq['trans'][0])
    assert start.gender == info['gender'] and start.betas.shape == (16,)
    # the template file placed with the stored pose has its vertex mean at the stored centre
    verts = np.array([[float(v) for v in line.split()[1:]] for line in open(os.path.join(folder, info['object_mesh']))
                      if line.startswith('v ')])
    placed = info['object_scale'] * verts @ seq['obj_rot'][200].T + seq['obj_trans'][200]
    np.testing.assert_allclose(placed.mean(0), seq['obj_centre'][200], atol=1e-5)

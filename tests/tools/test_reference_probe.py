"""tools/analysis/reference_probe.py: the 3 x 3 pooling of a patch grid (hand-computed), a probe that finds a factor
drawn into one side of the image and not one that is absent, and the tool on the small prepared mini-FBM."""
import json
from pathlib import Path

import numpy as np
import pytest
from testing_utils import REPO, load_tool, run_tool

from imagin4d.evaluation.functional import linear_probe_accuracy


def _module():
    return load_tool('tools/analysis/reference_probe.py')


def test_pool_patch_grid_by_hand():
    probe = _module()
    # a 4 x 3 grid with one channel whose value is 10 * row + column;
    # row cells [0], [1], [2, 3] (floor(i * 4 / 3)), column cells [0], [1], [2]
    patch = np.array([[10.0 * r + c] for r in range(4) for c in range(3)])
    assert np.allclose(probe.pool_patch_grid(patch, (4, 3)), [0, 1, 2, 10, 11, 12, 25, 26, 27])
    # channels stay together per cell: (cells * cells * C,)
    two = probe.pool_patch_grid(np.concatenate([patch, -patch], 1), (4, 3))
    assert two.shape == (18,) and np.allclose(two[:2], [0, 0]) and np.allclose(two[16:], [27, -27])
    with pytest.raises(ValueError, match='H\\*W'):
        probe.pool_patch_grid(patch[:5], (4, 3))
    # --cells: one cell is the image mean (mean of 10 r + c over r < 4, c < 3 = 15 + 1); 4 x 4 cells on 4 x 3
    # patches keep every row, and the first column repeats (column cells [0], [0], [1], [2]: at least one patch wide)
    assert np.allclose(probe.pool_patch_grid(patch, (4, 3), cells=1), [16.0])
    every_row = [10 * r + c for r in range(4) for c in (0, 0, 1, 2)]
    assert np.allclose(probe.pool_patch_grid(patch, (4, 3), cells=4), every_row)
    with pytest.raises(ValueError, match='positive'):
        probe.pool_patch_grid(patch, (4, 3), cells=0)


def test_probe_reads_a_side_drawn_into_the_image_and_not_an_absent_one():
    probe = _module()
    rng = np.random.default_rng(0)

    def split(n):
        side = rng.integers(0, 2, n)                      # 0: left, 1: right
        patch = rng.standard_normal((n, 7 * 7, 4))
        grid = patch.reshape(n, 7, 7, 4)
        grid[side == 0, :, :2, 0] += 1.0                  # a bright blob on the image's left or right
        grid[side == 1, :, 5:, 0] += 1.0
        pooled = np.stack([probe.pool_patch_grid(p, (7, 7)) for p in patch])
        return pooled, np.where(side == 0, 'left', 'right'), rng.choice(['a', 'b'], n)
    (x_tr, side_tr, noise_tr), (x_te, side_te, noise_te) = split(300), split(300)
    # the tool's probe: imagin4d.evaluation.functional.linear_probe_accuracy at the tool's regularisation
    assert linear_probe_accuracy(x_tr, side_tr, x_te, side_te, C=probe.PROBE_C) > 0.95
    assert linear_probe_accuracy(x_tr, noise_tr, x_te, noise_te, C=probe.PROBE_C) < 0.6      # about 1/2


def test_side_breakdown_by_hand():
    probe = _module()
    correct = np.array([True, False, True, True, False])
    hand = np.array(['left', 'left', 'right', 'right', 'left'])
    layout = np.array(['front', 'front', 'right', 'front', 'left'])
    azimuth = np.array([40.0, -40.0, 10.0, 30.0, -16.0])   # grasp side, other side, frontal, other side, other side
    parts = probe.side_breakdown(correct, hand, layout, azimuth)
    assert parts == {'layout_front': dict(accuracy=2 / 3, images=3), 'layout_left': dict(accuracy=0.0, images=1),
                     'layout_right': dict(accuracy=1.0, images=1), 'view_frontal': dict(accuracy=1.0, images=1),
                     'view_grasp_side': dict(accuracy=1.0, images=1), 'view_other_side': dict(accuracy=1 / 3, images=3)}


def test_camera_azimuths_of_cameras_placed_by_hand(mini_fbm_prepared, tmp_path):
    """Cameras 3 m from the pelvis, 1.5 m up, at 60 degrees to the body's left, 45 to its right and straight in front
    (directions built from the hip and shoulder joints, not from `body_heading`) give +60, -45 and 0 degrees."""

    from mmengine.registry import init_default_scope

    from imagin4d.body_models.skeletons import JOINTS24_NAMES
    from imagin4d.registry import DATASETS
    from imagin4d.rendering.camera import Camera, look_at_world_to_cam
    probe = _module()
    init_default_scope('imagin4d')
    dataset = DATASETS.build(dict(type='FBMDataset', data_root=mini_fbm_prepared, split='test', pipeline=[]))
    window = dataset.assemble_window(dataset.get_data_info(0))
    entry = next(e for e in json.loads((Path(mini_fbm_prepared) / 'references' / 'test_mesh.json').read_text())
                 if (e['seq_name'], e['window_start']) == (window['seq_name'], int(window['window_start'])))
    joints = dataset.codec.decode(window['motion'])['joints'][entry['t_star']].numpy().astype(float)
    at = {name: joints[JOINTS24_NAMES.index(name)] for name in ('left_hip', 'right_hip', 'left_shoulder',
                                                                'right_shoulder')}
    left = at['left_hip'] - at['right_hip'] + at['left_shoulder'] - at['right_shoulder']
    left = np.array([left[0], left[1], 0.0]) / np.hypot(left[0], left[1])
    front = np.cross(left, [0.0, 0.0, 1.0])   # the body's left = up x front
    stored = Camera.from_dict(entry['camera'])
    index = []
    for degrees in (60.0, -45.0, 0.0):
        angle = np.radians(degrees)
        eye = joints[0] + 3.0 * (np.cos(angle) * front + np.sin(angle) * left) + [0.0, 0.0, 1.5]
        camera = Camera(K=stored.K, world_to_cam=look_at_world_to_cam(eye, joints[0]), width=stored.width,
                        height=stored.height)
        index.append(dict(entry, image=str(Path(mini_fbm_prepared) / 'references' / entry['image']),
                          camera=camera.to_dict()))
    refs = tmp_path / 'references'
    refs.mkdir()
    (refs / 'test_mesh.json').write_text(json.dumps(index))
    np.testing.assert_allclose(probe.camera_azimuths(mini_fbm_prepared, str(refs), 'test', 'mesh'), [60, -45, 0],
                               atol=1e-6)


def test_tool_on_the_prepared_mini_fbm(mini_fbm_prepared, tmp_path):
    out = tmp_path / 'probe.json'
    run_tool(['tools/analysis/reference_probe.py', '--data-root', mini_fbm_prepared, '--cv', '2', '--out', out],
             cwd=REPO)
    report = json.loads(out.read_text())
    with open(f'{mini_fbm_prepared}/references/test_mesh.json') as f:
        assert report['test_images'] == len(json.load(f)) == 8
    assert report['train_images'] > report['test_images']
    # the features the configs read (the prepared build has no others)
    assert report['backbone'] == dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448))
    for name in ('grasp_hand', 'carry_height', 'layout'):
        entry = report['factors'][name]
        assert 0.0 <= entry['accuracy'] <= 1.0 and 0.0 < entry['chance'] <= entry['majority'] <= 1.0
    assert report['grasp_side']['chance'] == 0.5
    # --cv: every training image held out once (all of them per factor, the one-handed ones for the side)
    assert report['factors']['layout']['cv_images'] == report['train_images']
    assert 0 < report['grasp_side']['cv_images'] < report['train_images']
    assert report['grasp_side']['cv_folds'] == 2 and 0.0 <= report['grasp_side']['cv_accuracy'] <= 1.0
    parts = report['grasp_side']['cv_breakdown']   # every held-out one-handed image counted once per breakdown
    for kind in ('layout', 'view'):
        assert sum(v['images'] for k, v in parts.items() if k.startswith(kind)) == report['grasp_side']['cv_images']


def test_transfer_holds_where_the_cue_is_the_same_and_not_where_it_moved():
    """Probes fitted on one domain, scored on a test set of the same look and on one where the grasp-hand cue sits
    in another channel: high on the first, near chance on the second; a factor drawn into no image stays near
    chance in both."""
    from imagin4d.datasets.synthetic import FACTOR_NAMES
    probe = _module()
    rng = np.random.default_rng(1)
    hands, heights = np.array(['left', 'right', 'both']), np.array(['low', 'mid', 'high'])
    factors = {f's{i}': dict(grasp_hand=str(rng.choice(hands)), carry_height=str(rng.choice(heights)),
                             layout=str(rng.choice(['front', 'left', 'right']))) for i in range(900)}

    def domain(names, channel):
        x = rng.standard_normal((len(names), 3 * 3 * 2))
        for row, name in zip(x, names):
            cells = {'left': (0,), 'right': (2,), 'both': (0, 2)}[factors[name]['grasp_hand']]
            for cell in cells:                             # column `cell` of the 3 x 3 grid, channel `channel`
                row[[2 * (3 * r + cell) + channel for r in range(3)]] += 2.0
        return x
    names = np.array(sorted(factors))
    train, test = names[:600], names[600:]
    x_train, x_same, x_moved = domain(train, 0), domain(test, 0), domain(test, 1)
    scores = probe.transfer_accuracies(x_train, train, factors, dict(same=(x_same, test), moved=(x_moved, test)))
    same, moved = scores['same'], scores['moved']
    # fitted once and scored on the stacked sets: each set's accuracies are those of scoring it alone
    assert probe.transfer_accuracies(x_train, train, factors, dict(alone=(x_moved, test)))['alone'] == moved
    assert set(same) == set(FACTOR_NAMES) | {'grasp_side'}
    assert same['grasp_hand'] > 0.9 and same['grasp_side'] > 0.9
    assert moved['grasp_hand'] < 0.6 and moved['grasp_side'] < 0.75
    assert same['carry_height'] < 0.5 and moved['carry_height'] < 0.5    # chance 1/3


def test_tool_transfer_to_a_styles_test_references(mini_fbm_prepared, tmp_path):
    """A style with training references only (as the mixture) is probed on other styles' test references; fitted
    on the same images as the mesh probe, it scores exactly what the mesh probe scores on mesh."""
    refs = tmp_path / 'references'
    refs.mkdir()
    source = Path(mini_fbm_prepared) / 'references'
    for split, name in (('train', 'train_copy'), ('test', 'test_mesh'), ('train', 'train_mesh')):
        entries = json.loads((source / f'{split}_mesh.json').read_text())
        for entry in entries:
            entry['image'] = str(source / entry['image'])
        (refs / f'{name}.json').write_text(json.dumps(entries))
    mesh, copy = tmp_path / 'mesh.json', tmp_path / 'copy.json'
    run_tool(['tools/analysis/reference_probe.py', '--data-root', mini_fbm_prepared, '--references', refs,
              '--test-styles', 'mesh', '--out', mesh], cwd=REPO)
    run_tool(['tools/analysis/reference_probe.py', '--data-root', mini_fbm_prepared, '--references', refs,
              '--style', 'copy', '--test-styles', 'mesh', '--out', copy], cwd=REPO)
    mesh, copy = json.loads(mesh.read_text()), json.loads(copy.read_text())
    assert 'factors' not in copy and copy['style'] == 'copy' and copy['train_images'] == mesh['train_images']
    assert copy['transfer']['mesh'] == mesh['transfer']['mesh']
    assert {k: v['accuracy'] for k, v in mesh['factors'].items()} == {
        k: v for k, v in mesh['transfer']['mesh'].items() if k != 'grasp_side'}
    assert mesh['grasp_side']['accuracy'] == mesh['transfer']['mesh']['grasp_side']

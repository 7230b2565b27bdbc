"""build_identity: one identity for builds that differ only in float noise, another for a different build."""
import copy
import json

import pytest

from imagin4d.datasets.synthetic import build_identity

CAMERA = dict(K=[[240.88001196919276, 0.0, 111.5], [0.0, 240.88001196919276, 111.5], [0.0, 0.0, 1.0]],
              world_to_cam=[[-0.9851012166282987, -0.17197555930261021, 0.0, 0.37863250369197804],
                            [-0.04799389062750186, 0.2749160417887357, -0.9602696269432088, 0.44842301323178196],
                            [0.1651429061748672, -0.9459627777929577, -0.2790739034204927, 4.104480474404132],
                            [0.0, 0.0, 0.0, 1.0]], width=224, height=224)
ENTRY = dict(seq_name='sub16_trashcan_000', window_start=0, t_star=79, image='cache/73/734d.png', camera=CAMERA,
             style='mesh')


def _root(tmp_path, name, entries, num_test=96):
    root = tmp_path / name
    (root / 'references').mkdir(parents=True)
    (root / 'mini_fbm_factors.json').write_text(json.dumps(dict(version=2, seed=0, num_train=360,
                                                                num_test=num_test, sequences={})))
    (root / 'references' / 'test_mesh.json').write_text(json.dumps(entries))
    return str(root)


def _nudged(entry, row, col, delta):
    out = copy.deepcopy(entry)
    out['camera']['world_to_cam'][row][col] += delta
    return out


def test_float_noise_in_the_cameras_keeps_the_identity(tmp_path):
    base = build_identity(_root(tmp_path, 'a', [ENTRY]))
    assert {k: base[k] for k in ('version', 'seed', 'num_train', 'num_test')} == \
        dict(version=2, seed=0, num_train=360, num_test=96)
    # last-bit differences (what numpy's AVX-512 and AVX2 kernels give) and the sign of a zero: the same build
    noisy = _nudged(ENTRY, 0, 3, 3e-14)
    noisy['camera']['world_to_cam'][0][2] = -0.0
    assert build_identity(_root(tmp_path, 'b', [noisy])) == base
    # the file bytes differ (other float digits, other key order): still the same identity
    assert build_identity(_root(tmp_path, 'c', [dict(reversed(list(noisy.items())))])) == base


@pytest.mark.parametrize('change', ['camera', 't_star', 'image', 'sizes', 'extra index'])
def test_a_different_build_has_another_identity(tmp_path, change):
    base = build_identity(_root(tmp_path, 'a', [ENTRY]))
    entries, num_test = [ENTRY], 96
    if change == 'camera':          # a camera moved by 1 mm: another reference image
        entries = [_nudged(ENTRY, 0, 3, 1e-3)]
    elif change == 't_star':
        entries = [dict(ENTRY, t_star=80)]
    elif change == 'image':         # the same camera rendered in another style / renderer version
        entries = [dict(ENTRY, image='cache/9a/9a01.png')]
    elif change == 'sizes':
        num_test = 48
    root = _root(tmp_path, 'b', entries, num_test)
    if change == 'extra index':
        (tmp_path / 'b' / 'references' / 'test_sketch.json').write_text(json.dumps([dict(ENTRY, style='sketch')]))
    assert build_identity(root) != base


def test_a_broken_index_is_named(tmp_path):
    root = _root(tmp_path, 'a', [ENTRY])
    (tmp_path / 'a' / 'references' / 'train_mesh.json').write_text('[{"t_star": 3}')
    with pytest.raises(ValueError, match=r'train_mesh.json: not a reference index \(invalid JSON'):
        build_identity(root)
    (tmp_path / 'a' / 'references' / 'train_mesh.json').write_text('{"t_star": 3}')
    with pytest.raises(ValueError, match=r'train_mesh.json: expected a reference index .*got dict'):
        build_identity(root)
    assert build_identity(str(tmp_path / 'missing')) == {}

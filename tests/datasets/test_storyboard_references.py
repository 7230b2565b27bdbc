"""Storyboard references (issue 29): LoadReferenceFeatures(max_images=k_max) draws K distinct depicted frames sorted by
time, pads to k_max with a mask; without max_images it draws exactly the random numbers it drew before."""
import re

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from imagin4d.datasets.transforms import LoadReferenceFeatures, PackHOIInputs

N, C = 4, 6


class _Cache:
    """Features named by the image: patch[n, c] = id * 100 + n (so a test can tell which image it got)."""

    def get(self, image, spec):
        ident = int(re.search(r'img_(\d+)', image).group(1)) + (1000 if image.endswith('_mirrored.png') else 0)
        return dict(patch=np.full((N, C), ident, np.float32) * 100 + np.arange(N)[:, None],
                    pooled=np.full((C,), ident, np.float32))


def _reader(entries, **kwargs):
    t = LoadReferenceFeatures(reference_index='index.json', feature_cache='cache', **kwargs)
    t._entries = {('seq', 0): entries}
    t._cache, t._image_spec, t._text_spec = _Cache(), None, None
    return t


def _entries(frames):
    return [dict(image=f'img_{i}.png', camera=dict(id=i), t_star=t, style='mesh') for i, t in enumerate(frames)]


def _window():
    return dict(seq_name='seq', window_start=0, dataset='mini', motion=torch.zeros(120, 220),
                waypoint_mask=torch.zeros(120, 220, dtype=torch.bool), waypoint_values=torch.zeros(120, 220),
                bps=torch.zeros(8, 3), seq_len=120)


def test_one_image_draws_the_same_random_numbers_as_before():
    reader = _reader(_entries([52, 62, 69]), choice='random')
    for seed in range(5):
        np.random.seed(seed)
        out = reader(_window())
        after = np.random.get_state()[1].copy()
        np.random.seed(seed)
        expected = int(np.random.randint(3))           # today's draw: one randint over the window's images
        assert np.array_equal(after, np.random.get_state()[1])
        assert out['reference_image'] == f'img_{expected}.png' and out['t_star'] == [52, 62, 69][expected]
        assert out['image_patch'].shape == (N, C) and 'image_mask' not in out


def test_storyboard_draws_distinct_frames_sorted_by_time_padded_to_k_max():
    # frame 40 has two images (two cameras): at most one of them per storyboard
    entries = _entries([69, 40, 52, 40])
    reader = _reader(entries, choice='random', max_images=3)
    np.random.seed(0)
    sizes = set()
    for _ in range(60):
        out = reader(_window())
        k = int(out['image_mask'].sum())
        sizes.add(k)
        t_stars = out['reference_t_stars']
        assert len(t_stars) == k and t_stars == sorted(set(t_stars))
        assert out['image_t_star'].tolist() == t_stars + [-1] * (3 - k)
        assert out['image_patch'].shape == (3, N, C) and out['image_pooled'].shape == (3, C)
        for i, image in enumerate(out['reference_images']):
            ident = int(image.split('_')[-1].split('.')[0])
            assert entries[ident]['t_star'] == t_stars[i]
            assert float(out['image_patch'][i, 2, 0]) == ident * 100 + 2
        assert not out['image_patch'][k:].any() and out['t_star'] == t_stars[0]
        assert out['reference_image'] == out['reference_images'][0]
    assert sizes == {1, 2, 3}
    first = _reader(entries, choice='first', max_images=2)(_window())
    assert first['reference_t_stars'] == [40, 52] and first['image_mask'].tolist() == [True, True]
    one = _reader(_entries([30]), choice='random', max_images=3)(_window())
    assert one['image_mask'].tolist() == [True, False, False] and one['reference_t_stars'] == [30]


def test_storyboards_of_different_sizes_collate_with_a_mask():
    from imagin4d.models.data_preprocessors import HOIDataPreprocessor
    pack = PackHOIInputs()
    samples = [pack(_reader(_entries(frames), choice='first', max_images=3)(_window()))
               for frames in ([10], [10, 50, 90])]
    batch = pseudo_collate(samples)
    pre = HOIDataPreprocessor()
    pre.set_stats({name: torch.full_like(getattr(pre, f'stat_{name}'), -1.0 if name.endswith('min') else 1.0)
                   for name in pre._stat_names})
    inputs = pre(batch)['inputs']
    assert inputs['image_patch'].shape == (2, 3, N, C)
    assert inputs['image_mask'].tolist() == [[True, False, False], [True, True, True]]
    assert inputs['image_t_star'].tolist() == [[10, -1, -1], [10, 50, 90]]
    assert inputs['t_star'].tolist() == [10, 10] and 'image_patch_mask' not in inputs
    assert batch['data_samples'][1].reference_t_stars == [10, 50, 90]


def test_mirror_flips_only_the_chosen_storyboard_positions(tmp_path):
    from imagin4d.rendering.camera import Camera, intrinsics_from_fov, look_at_world_to_cam
    camera = Camera(intrinsics_from_fov(50.0, 48, 48), look_at_world_to_cam((1.0, -3.0, 1.2), (0.0, 0.0, 1.0)),
                    48, 48).to_dict()
    entries = [dict(e, image=str(tmp_path / e['image']), camera=camera) for e in _entries([10, 50, 90])]
    for e in entries:
        (tmp_path / e['image'].replace('.png', '_mirrored.png')).write_bytes(b'')
    out = _reader(entries, choice='first', max_images=3, mirror=[1])(_window())
    assert [float(out['image_patch'][k, 0, 0]) for k in range(3)] == [0.0, 100100.0, 200.0]
    assert out['reference_images'][1].endswith('img_1_mirrored.png')
    assert out['reference_images'][0] == entries[0]['image']
    assert out['reference_cameras'][0] == entries[0]['camera'] and out['reference_cameras'][1] != entries[1]['camera']


def test_bad_storyboard_settings_are_one_line():
    with pytest.raises(ValueError, match='max_images must be None'):
        LoadReferenceFeatures(reference_index='i.json', feature_cache='c', max_images=0)
    with pytest.raises(ValueError, match='positions need max_images'):
        LoadReferenceFeatures(reference_index='i.json', feature_cache='c', mirror=[1])

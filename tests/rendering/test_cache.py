"""Render cache: keys, round trip, a second run renders nothing, damaged entries are repaired with a warning."""
import logging
import os

import numpy as np
import pytest

from imagin4d.rendering import RENDERER_VERSION, Camera, RenderCache, build_style, camera_rng, sample_camera


@pytest.fixture
def camera():
    return sample_camera(camera_rng(0, 'cache'), [0, 0, 0.9], width=32, height=24)


def _image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)


def test_key_depends_on_every_component(camera):
    base = RenderCache.key('fbm/a', 10, camera, 'mesh')
    assert base == RenderCache.key('fbm/a', 10, Camera.from_dict(camera.to_dict()), build_style('mesh'))
    assert base == RenderCache.key('fbm/a', 10, camera, dict(type='MeshStyle'))
    other_camera = sample_camera(camera_rng(1, 'cache'), [0, 0, 0.9], width=32, height=24)
    variants = [RenderCache.key('fbm/b', 10, camera, 'mesh'), RenderCache.key('fbm/a', 11, camera, 'mesh'),
                RenderCache.key('fbm/a', 10, other_camera, 'mesh'), RenderCache.key('fbm/a', 10, camera, 'sketch'),
                RenderCache.key('fbm/a', 10, camera, dict(type='mesh', shadows=False)),
                RenderCache.key('fbm/a', 10, camera, 'mesh', renderer_version=RENDERER_VERSION + 'x'),
                RenderCache.key('fbm/a', 10, camera, 'mesh', extra=dict(body_model='smplx'))]
    assert len({base, *variants}) == 1 + len(variants)
    assert build_style('mesh').cache_config() != build_style(dict(type='mesh', shadows=False)).cache_config()


def test_get_or_render_second_run_renders_nothing(tmp_path, camera):
    calls = []

    def render():
        calls.append(1)
        return _image()

    first = RenderCache(tmp_path)
    image = first.get_or_render('fbm/a', 10, camera, 'mesh', render)
    second = RenderCache(tmp_path)  # a new process would see the same files
    again = second.get_or_render('fbm/a', 10, camera, 'mesh', render)
    assert np.array_equal(image, again) and len(calls) == 1
    assert (first.renders, first.misses, second.renders, second.hits) == (1, 1, 0, 1)
    entry = second.lookup(RenderCache.key('fbm/a', 10, camera, 'mesh'))
    assert entry.status == 'ok' and entry.camera.allclose(camera)
    assert entry.meta['seq_name'] == 'fbm/a' and entry.meta['t_star'] == 10
    png, meta = second.paths(entry.key)
    assert os.path.isfile(png) and os.path.isfile(meta)
    assert not [f for f in os.listdir(os.path.dirname(png)) if f.startswith('.tmp-')]


@pytest.mark.parametrize('damage', ['truncate_png', 'garbage_png', 'delete_png', 'garbage_json', 'wrong_shape'])
def test_damaged_entry_is_rerendered_with_warning(tmp_path, camera, caplog, damage):
    cache = RenderCache(tmp_path)
    cache.get_or_render('fbm/a', 10, camera, 'mesh', lambda: _image(0))
    key = RenderCache.key('fbm/a', 10, camera, 'mesh')
    png, meta = cache.paths(key)
    if damage == 'truncate_png':
        data = open(png, 'rb').read()
        open(png, 'wb').write(data[:len(data) // 2])
    elif damage == 'garbage_png':
        open(png, 'wb').write(b'not a png at all')
    elif damage == 'delete_png':
        os.remove(png)
    elif damage == 'garbage_json':
        open(meta, 'w').write('{"key": ')
    else:
        cache.put(key, np.zeros((24, 32, 3), np.uint8), camera)
        import cv2
        cv2.imwrite(png, np.zeros((5, 5, 3), np.uint8))
    assert cache.lookup(key).status == 'corrupt'
    fresh = RenderCache(tmp_path)
    with caplog.at_level(logging.WARNING, logger='imagin4d.rendering.cache'):
        image = fresh.get_or_render('fbm/a', 10, camera, 'mesh', lambda: _image(1))
    assert np.array_equal(image, _image(1)) and fresh.renders == 1 and fresh.repaired == 1
    assert any('unreadable' in r.getMessage() and "'fbm/a' frame 10" in r.getMessage() for r in caplog.records)
    assert np.array_equal(RenderCache(tmp_path).lookup(key).image, _image(1))  # overwritten


def test_put_rejects_wrong_images_and_rejection_markers(tmp_path, camera):
    cache = RenderCache(tmp_path)
    with pytest.raises(ValueError):
        cache.put('ab' * 32, np.zeros((24, 32, 3), np.float32), camera)
    with pytest.raises(ValueError):
        cache.put('ab' * 32, np.zeros((10, 10, 3), np.uint8), camera)
    cache.put_rejection('cd' * 32, 'nothing in view', camera)
    entry = cache.lookup('cd' * 32)
    assert entry.status == 'rejected' and entry.reason == 'nothing in view'
    assert cache.lookup('ef' * 32).status == 'miss'

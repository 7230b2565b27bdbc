"""Fixtures for the rendering tests: a small procedural interaction (capsule humanoid + box) and cameras.

Images are rendered at 64 or 96 pixels to keep the tests fast on a software rasteriser.
"""
import pytest
from toy_meshes import toy_interaction

from imagin4d.rendering import camera_rng, look_at_point, sample_camera


@pytest.fixture(scope='session')
def toy():
    """dict(body_verts (V, 3), body_faces, obj_verts, obj_faces): ~1.2k-vertex humanoid holding a box."""
    return toy_interaction(count=8)


@pytest.fixture(scope='session')
def toy_look_at(toy):
    return look_at_point(toy['body_verts'], toy['obj_verts'])


@pytest.fixture
def make_camera(toy_look_at):
    def make(index=0, size=64, seed=0):
        return sample_camera(camera_rng(seed, 'toy', index), toy_look_at, width=size, height=size)
    return make

"""These tests use many small tensors: run each on one torch thread (the shared `single_torch_thread` fixture)."""
import pytest


@pytest.fixture(autouse=True)
def _one_thread(single_torch_thread):
    yield

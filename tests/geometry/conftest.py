"""Fixtures for the geometry tests: run single-threaded (restored afterwards).

The geometry tests use many small tensors; on a shared 2-core machine intra-op threading makes them
slower, not faster, so each test runs with one torch thread.
"""
import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

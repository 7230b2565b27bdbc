"""Run these small-model tests on one intra-op thread: on a shared 2-core machine, two threads of tiny matmuls
contend with other processes and run several times slower."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

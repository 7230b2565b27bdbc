"""prepare_runtime's process settings: tensors from loader workers are shared by name ('file_system') only when a
loader has workers (benchmarks/loader_handover.py measures why); a run without workers leaves torch's default."""
import pytest
import torch
from mmengine.config import Config

from imagin4d.engine.runner_setup import prepare_runtime


@pytest.fixture
def restore_sharing_strategy():
    before = torch.multiprocessing.get_sharing_strategy()
    yield
    torch.multiprocessing.set_sharing_strategy(before)


@pytest.mark.parametrize('workers, expected', [(1, 'file_system'), (0, 'file_descriptor')])
def test_worker_tensor_sharing(tmp_path, restore_sharing_strategy, workers, expected):
    torch.multiprocessing.set_sharing_strategy('file_descriptor')
    cfg = Config(dict(train_dataloader=dict(batch_size=2, num_workers=workers), custom_hooks=[]))
    cfg.filename = str(tmp_path / 'run.py')
    prepare_runtime(cfg, 'none', work_dir=str(tmp_path))
    assert torch.multiprocessing.get_sharing_strategy() == expected

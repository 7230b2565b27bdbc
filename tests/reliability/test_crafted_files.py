"""A crafted pickle in each of the three formats (checkpoint, --dump results, FBM `.p`) is refused with one clear
line, and its payload (creating a file) does not run."""
import os
import pickle

import joblib
import pytest
import torch
from testing_utils import TINY_TOY, one_line_error

from imagin4d.evaluation.metrics import read_dump, write_samples
from imagin4d.utils.errors import DataError
from imagin4d.utils.safe_load import UnsafeFileError, load_checkpoint_file, load_joblib_restricted

pytestmark = pytest.mark.fault


class Payload:
    """Unpickling it would create `marker` (what a crafted file's code would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").write("ran")',)


def test_crafted_checkpoint_is_refused_by_the_tools(tools_runner, toy_work_dir, tmp_path):
    marker = tmp_path / 'pwned'
    ckpt = torch.load(toy_work_dir / 'iter_4.pth', weights_only=False)
    ckpt['meta']['note'] = Payload(marker)
    crafted = tmp_path / 'crafted.pth'
    torch.save(ckpt, crafted)
    line = one_line_error(tools_runner('tools/test.py', TINY_TOY, crafted, '--work-dir', tmp_path, check=False))
    assert f'{crafted} was not loaded: it asks for something a checkpoint does not hold' in line
    assert 'IMAGIN4D_TRUST_CHECKPOINTS=1' in line
    assert not marker.exists()
    # the real checkpoints (HistoryBuffer, numpy scalars in the message hub) load safely
    safe = load_checkpoint_file(toy_work_dir / 'iter_4.pth')
    assert safe['meta']['iter'] == 4 and safe['message_hub']['log_scalars']['train/loss'].mean() > 0


def test_crafted_results_dump_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    crafted = tmp_path / 'results.pkl'
    crafted.write_bytes(pickle.dumps([{'seq_name': 'x', 'pred_motion': Payload(marker)}]))
    with pytest.raises(DataError, match='results.pkl is a pickle .* it is not read'):
        read_dump(crafted)
    assert not marker.exists()
    with pytest.raises(TypeError, match=r'samples\[0\].extra: a Payload cannot be dumped'):
        write_samples(tmp_path / 'out.npz', [{'extra': Payload(marker)}])
    samples = [{'seq_name': 's', 'window_start': 3, 'pred': torch.ones(2, 3), 'metrics': {'a': 0.5},
                'tags': ('x', 'y'), 'none': None}]
    write_samples(tmp_path / 'ok.pkl', samples)                       # any extension; arrays + plain values
    back = read_dump(tmp_path / 'ok.pkl')
    assert back[0]['pred'].shape == (2, 3) and back[0]['metrics'] == {'a': 0.5} and back[0]['tags'] == ['x', 'y']
    assert back[0]['window_start'] == 3 and back[0]['none'] is None


def test_crafted_fbm_sequence_file_is_refused(tmp_path):
    import numpy as np
    marker = tmp_path / 'pwned'
    crafted = tmp_path / 'train_diffusion_manip_seq_joints24.p'
    joblib.dump({0: {'seq_name': 'sub1_box_000', 'trans': np.zeros((3, 3)), 'hook': Payload(marker)}}, crafted)
    with pytest.raises(UnsafeFileError, match=r'train_diffusion_manip_seq_joints24.p was not loaded: it asks for '
                                              r'builtins.exec'):
        load_joblib_restricted(str(crafted))
    assert not marker.exists()
    # an object array would be unpickled by joblib: its elements go through the same allowlist
    joblib.dump({0: {'names': np.array([Payload(marker)], dtype=object)}}, crafted)
    with pytest.raises(UnsafeFileError):
        load_joblib_restricted(str(crafted))
    assert not marker.exists()
    truncated = tmp_path / 'short.p'
    joblib.dump({0: {'trans': np.zeros((50, 3))}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DataError, match='short.p is not a readable sequence file'):
        load_joblib_restricted(str(truncated))
    # what the mini-FBM writer stores loads
    joblib.dump({0: {'seq_name': 'a', 'gender': np.array('male'), 'betas': np.zeros((1, 16)),
                     'obj_scale': np.ones(4, np.float32)}}, crafted)
    assert load_joblib_restricted(str(crafted))[0]['gender'] == 'male'
    assert os.listdir(tmp_path) and not marker.exists()

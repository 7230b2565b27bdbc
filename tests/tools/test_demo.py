"""tools/demo.py: a work dir remembers the data it was trained on, and a rebuilt data root is not evaluated with an
old checkpoint (the stages themselves are the tools tested elsewhere)."""
import json

import pytest
from testing_utils import load_tool


def _data_root(tmp_path, num_test=24, t_star=40):
    root = tmp_path / 'data'
    (root / 'references').mkdir(parents=True, exist_ok=True)
    (root / 'mini_fbm_factors.json').write_text(json.dumps(dict(version=2, seed=0, num_train=60, num_test=num_test)))
    (root / 'references' / 'test_mesh.json').write_text(json.dumps([dict(t_star=t_star)]))
    return str(root)


def test_work_dir_trained_on_other_data_is_refused(tmp_path):
    demo = load_tool('tools/demo.py')
    wd, ckpt = tmp_path / 'demo', tmp_path / 'demo' / 'iter_500.pth'
    root = _data_root(tmp_path)
    demo.check_work_dir_data(str(wd), root, str(ckpt))        # new work dir: the identity is recorded
    recorded = json.loads((wd / 'data_identity.json').read_text())
    assert recorded['num_test'] == 24 and recorded['version'] == 2
    ckpt.write_bytes(b'checkpoint')
    demo.check_work_dir_data(str(wd), root, str(ckpt))        # same data: the stages are reused
    _data_root(tmp_path, t_star=41)                           # the references rendered again
    with pytest.raises(SystemExit, match=r'data_identity.json: the demo in .* was trained on mini-FBM'):
        demo.check_work_dir_data(str(wd), root, str(ckpt))
    assert ckpt.read_bytes() == b'checkpoint'                 # nothing of the user's is deleted
    assert json.loads((wd / 'data_identity.json').read_text()) == recorded


def test_checkpoint_without_identity_is_refused(tmp_path):
    demo = load_tool('tools/demo.py')
    wd = tmp_path / 'old_demo'
    wd.mkdir()
    (wd / 'iter_500.pth').write_bytes(b'old')
    with pytest.raises(SystemExit, match='data_identity.json is missing'):
        demo.check_work_dir_data(str(wd), _data_root(tmp_path), str(wd / 'iter_500.pth'))

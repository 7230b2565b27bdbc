"""The preprocessing cache is keyed by the content of what was read: a contact file, a text file or an object mesh
rewritten in place (even keeping its size and modification time) rebuilds the cache, and the data set serves the new
values; an unchanged data root is a cache hit; older cache folders are reported."""
import json
import os
import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.fault


@pytest.fixture
def data_root(mini_fbm_root, tmp_path):
    """A private copy of the small mini-FBM (without its cache), so its files can be edited."""
    root = tmp_path / 'mini_fbm'
    shutil.copytree(mini_fbm_root, root, ignore=shutil.ignore_patterns('imagin4d_cache'),
                    symlinks=True)
    return root


@pytest.fixture
def log_messages():
    """Messages logged through mmengine's current logger during the test."""
    import logging

    from mmengine.logging import MMLogger
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger, handler = MMLogger.get_current_instance(), Collect()
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def _dataset(root):
    from imagin4d.datasets import FBMDataset
    return FBMDataset(data_root=str(root), split='test', pipeline=[])


def _rewrite_keeping_stat(path, data: bytes):
    """Rewrite a file in place with new content of the same size and the old modification time."""
    st = os.stat(path)
    assert len(data) == st.st_size
    with open(path, 'r+b') as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_in_place_edits_are_seen(data_root, log_messages):
    first = _dataset(data_root)
    assert first.cache_hit is False
    window = first.assemble_window(first.get_data_info(0))
    name = window['seq_name']
    assert _dataset(data_root).cache_hit is True                       # nothing changed: reused

    # contacts: flip every label of the sequence (same dtype and shape, so the same file size)
    contact_file = data_root / 'contact_labels_w_semantics_npy_files' / f'{name}.npy'
    labels = np.load(contact_file)
    raw = contact_file.read_bytes()
    header = len(raw) - labels.nbytes
    flipped = (labels.max() - labels).astype(labels.dtype)
    _rewrite_keeping_stat(contact_file, raw[:header] + flipped.tobytes())
    second = _dataset(data_root)
    assert second.cache_hit is False
    changed = second.assemble_window(second.get_data_info(0))['contacts'].numpy()
    assert not np.array_equal(changed, window['contacts'].numpy())

    # text: the same number of bytes, other words
    text_file = data_root / 'omomo_text_anno_json_data' / f'{name}.json'
    text = text_file.read_text()
    new = text.replace(window['text'], window['text'].upper())
    assert new != text
    _rewrite_keeping_stat(text_file, new.encode())
    third = _dataset(data_root)
    assert third.assemble_window(third.get_data_info(0))['text'] == window['text'].upper()

    # object mesh: one vertex's x written as zeros of the same width (the file keeps its size)
    mesh_file = data_root / 'captured_objects' / f"{window['object_name']}_cleaned_simplified.obj"
    lines = mesh_file.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith('v ') and float(line.split()[1]) > 0)
    parts = lines[index].split(' ')
    parts[1] = '0' * len(parts[1])
    lines[index] = ' '.join(parts)
    _rewrite_keeping_stat(mesh_file, ''.join(lines).encode())
    fourth = _dataset(data_root)
    assert fourth.cache_hit is False
    verts = fourth.object_template(window['object_name'])['verts']
    assert verts[index - sum(1 for line in lines[:index] if not line.startswith('v '))][0] == 0.0

    assert any('other cache folder(s) of fbm_test_w120_first' in m for m in log_messages)


def test_bps_basis_is_announced(data_root, log_messages):
    _dataset(data_root)
    assert any('wrote the BPS basis (1024 points, seed 0) to' in m for m in log_messages)
    assert any(p.name.startswith('bps_basis_') for p in (data_root / 'imagin4d_cache').iterdir())
    json.loads((data_root / 'imagin4d_cache' / 'source_hashes.json').read_text())     # the hash memo is JSON

"""The silhouette-cue plugin: its foreground rule, the transform on real references, the encoder, the wiring
into HOIDiffusion through the plugin config, and training it with the real tools/train.py."""
import sys
from pathlib import Path

import numpy as np
import pytest
import silhouette_cue
import tomllib
import torch
from mmengine.registry import init_default_scope
from silhouette_cue import LoadReferenceSilhouette, SilhouetteCueEncoder, foreground_mask, silhouette_grid

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
CONFIG = PLUGIN_ROOT / 'configs' / 'mini_fbm_sfie_silhouette.py'
WHITE, FLOOR_GREY, SHADOW_GREY = (255, 255, 255), (200, 200, 200), (120, 120, 120)
BODY_BLUE = (150, 190, 240)


# ---------------------------------------------------------------------------------------------- pure rule
def _scene_32px():
    """32x32 mesh-like scene, grid 4 (8x8-pixel cells): white sky (rows 0-15), grey floor (rows 16-31), a
    shadow patch on the floor (cell (3, 0)), a blue body square filling cell (1, 1) and half of cell (2, 1)."""
    image = np.empty((32, 32, 3), np.uint8)
    image[:16], image[16:] = WHITE, FLOOR_GREY
    image[24:32, 0:8] = SHADOW_GREY
    image[8:16, 8:16] = BODY_BLUE
    image[16:20, 8:16] = BODY_BLUE
    return image


def test_foreground_is_the_coloured_or_dark_pixels_only():
    grid = silhouette_grid(_scene_32px(), grid_size=4, with_shade=True)
    assert grid.shape == (2, 4, 4) and grid.dtype == np.float32
    expected = np.zeros((4, 4))
    expected[1, 1], expected[2, 1] = 1.0, 0.5          # background, floor and shadow are not foreground
    np.testing.assert_allclose(grid[0], expected)
    blue_luma = (0.299 * 150 + 0.587 * 190 + 0.114 * 240) / 255
    shade = np.zeros((4, 4))
    shade[1, 1] = shade[2, 1] = 1 - blue_luma          # mean darkness of the foreground pixels of a cell
    np.testing.assert_allclose(grid[1], shade, atol=1e-6)


def test_sketch_outlines_fill_only_when_asked():
    image = np.full((32, 32, 3), 255, np.uint8)
    image[8:16, 8:16] = 0
    image[9:15, 9:15] = 255                           # a black 8x8 square outline: 28 of 64 pixels
    image[28, :] = 128                                # a mid-grey floor rim: not foreground
    assert not foreground_mask(image)[28].any()
    np.testing.assert_allclose(silhouette_grid(image, 4)[0, 1, 1], 28 / 64)
    filled = silhouette_grid(image, 4, fill_holes=True)[0]
    assert filled[1, 1] == 1.0 and filled.sum() == 1.0


def test_uneven_cells_and_bad_images():
    image = np.zeros((10, 7, 3), np.float32)          # all black: every pixel foreground, cells of 2-3 pixels
    np.testing.assert_allclose(silhouette_grid(image, 3)[0], np.ones((3, 3)))
    with pytest.raises(ValueError, match='smaller than the grid'):
        silhouette_grid(image, 8)
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        silhouette_grid(np.zeros((10, 10)), 2)


# ---------------------------------------------------------------------------------------------- encoder
def test_encoder_registers_under_both_names_and_maps_grids_to_the_base_stream():
    from imagin4d.registry import MODELS
    init_default_scope('imagin4d')
    scoped = MODELS.build(dict(type='silhouette_cue.SilhouetteCueEncoder', grid_size=16, out_dim=32))
    plain = MODELS.build(dict(type='SilhouetteCueEncoder', grid_size=16, out_dim=32))
    assert type(scoped) is SilhouetteCueEncoder and type(plain) is SilhouetteCueEncoder
    assert scoped.streams == ('base',) and scoped.input_keys == ('silhouette',)

    torch.manual_seed(0)
    left, right = torch.zeros(3, 16, 16), torch.zeros(3, 16, 16)
    left[:, 4:12, 1:5], right[:, 4:12, 11:15] = 1.0, 1.0
    out = scoped.encode(dict(silhouette=left, text_pooled=torch.randn(3, 8)))   # picks its key by name
    assert set(out) == {'base'} and out['base'].shape == (3, 32)
    # the same figure on the other side of the picture is another condition (the layout is kept)
    assert not torch.allclose(out['base'], scoped(right)['base'])
    two = SilhouetteCueEncoder(grid_size=8, in_channels=2, out_dim=16)
    assert two(torch.rand(2, 2, 8, 8))['base'].shape == (2, 16)
    with pytest.raises(ValueError, match="'silhouette': expected"):
        two(torch.rand(2, 8, 8))


# ---------------------------------------------------------------------------------------------- real references
def _references(root, style):
    from imagin4d.rendering.dataset_references import load_reference_index
    return load_reference_index(f'{root}/references/test_{style}.json')


def test_real_references_give_plausible_silhouettes_and_blank_gives_none(mini_fbm_prepared, tmp_path):
    transform = LoadReferenceSilhouette(grid_size=16)
    by_window = {}
    for style in ('mesh', 'sketch'):
        for entry in _references(mini_fbm_prepared, style):
            results = transform(dict(reference_image=entry['image'], reference_style=entry['style']))
            grid = results['silhouette']
            assert grid.shape == (16, 16) and grid.dtype == torch.float32
            fraction = float(grid.mean())
            assert 0.0 < fraction < 0.6, (style, entry['image'], fraction)
            by_window.setdefault((entry['seq_name'], entry['window_start']), {})[style] = (entry, grid)
    # Independent cross-check: two renderings of the same view (mesh: coloured pixels; sketch: filled line
    # drawing) are read by different halves of the rule, yet give the same silhouette.
    pairs = [(v['mesh'][1], v['sketch'][1]) for v in by_window.values()
             if len(v) == 2 and v['mesh'][0]['camera'] == v['sketch'][0]['camera']]
    assert pairs
    for mesh, sketch in pairs:
        a, b = mesh > 0.5, sketch > 0.5
        assert (a & b).sum() / (a | b).sum() > 0.5

    import cv2
    blank = tmp_path / 'blank.png'
    cv2.imwrite(str(blank), np.full((96, 96, 3), 255, np.uint8))
    for style in ('mesh', 'sketch'):
        empty = transform(dict(reference_image=str(blank), reference_style=style))['silhouette']
        assert torch.count_nonzero(empty) == 0


def _test_set(root, pipeline_tail):
    from imagin4d.datasets import FBMDataset
    load = dict(type='LoadReferenceFeatures', reference_index=f'{root}/references/test_mesh.json',
                feature_cache=f'{root}/feature_cache', choice='first')
    return FBMDataset(data_root=root, split='test', window=120, pipeline=[load, *pipeline_tail])


def test_transform_after_or_before_packing_in_a_real_pipeline(mini_fbm_prepared):
    init_default_scope('imagin4d')
    after = _test_set(mini_fbm_prepared, [dict(type='PackHOIInputs'),
                                          dict(type='silhouette_cue.LoadReferenceSilhouette', with_shade=True)])[0]
    keys = ('motion', 'waypoint_mask', 'waypoint_values', 'bps', 'silhouette')
    before = _test_set(mini_fbm_prepared, [dict(type='LoadReferenceSilhouette', with_shade=True),
                                           dict(type='PackHOIInputs', input_keys=keys)])[0]
    assert after['inputs']['silhouette'].shape == (2, 16, 16)
    assert torch.equal(after['inputs']['silhouette'], before['inputs']['silhouette'])
    image = after['data_samples'].reference_image
    expected = silhouette_grid(silhouette_cue.read_rgb(image), 16, with_shade=True)
    np.testing.assert_array_equal(after['inputs']['silhouette'].numpy(), expected)

    with pytest.raises(KeyError, match='LoadReferenceFeatures'):
        LoadReferenceSilhouette()(dict(seq_name='s', window_start=0))


def test_config_wires_the_cue_into_the_model(mini_fbm_prepared, monkeypatch):
    """The plugin config's model on a real batch: the cue is its own condition source in the base stream."""
    from mmengine.dataset import pseudo_collate

    from imagin4d.engine.runner_setup import load_config
    from imagin4d.registry import DATASETS, MODELS
    monkeypatch.setenv('IMAGIN4D_MINI_FBM_ROOT', mini_fbm_prepared)   # the base config's data location
    cfg = load_config(str(CONFIG))
    init_default_scope('imagin4d')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    model = MODELS.build(cfg.model).eval()
    assert type(model.encoders['silhouette_encoder']) is SilhouetteCueEncoder
    assert model.sources['silhouette_encoder'] == 'silhouette'
    assert model.condition_dropout == dict(image=0.1, text=0.1, silhouette=0.1)
    model.data_preprocessor.load_stats(dataset.metainfo['stats_file'])
    batch = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(2)]), training=True)['inputs']
    assert batch['silhouette'].shape == (2, 2, 16, 16)
    with torch.no_grad():
        encoded = model.encode(batch)['streams']['base']
        dropped = model.encode(batch, drop=dict(silhouette=torch.tensor([True, False])))['streams']['base']
        own = model.encoders['silhouette_encoder'].encode(batch)['base']
    # dropping the source for sample 0 removes exactly the silhouette vector from its base stream
    torch.testing.assert_close(encoded[0] - dropped[0], own[0])
    torch.testing.assert_close(encoded[1], dropped[1])
    assert own.abs().sum() > 0


# ---------------------------------------------------------------------------------------------- install + train
def test_pyproject_declares_the_entry_point_that_load_plugins_imports(tmp_path, monkeypatch):
    from imagin4d.utils import plugins
    project = tomllib.loads((PLUGIN_ROOT / 'pyproject.toml').read_text())['project']
    assert project['name'] == 'imagin4d-silhouette-cue' and 'imagin4d' in project['dependencies']
    entry_points = project['entry-points']['imagin4d.plugins']
    assert entry_points == {'silhouette_cue': 'silhouette_cue'}
    # what `pip install` writes, minus the copy: dist metadata with the entry point, on sys.path
    info = tmp_path / f'imagin4d_silhouette_cue-{silhouette_cue.__version__}.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f'Version: {silhouette_cue.__version__}\n')
    (info / 'entry_points.txt').write_text('[imagin4d.plugins]\n' + ''.join(
        f'{name} = {module}\n' for name, module in entry_points.items()))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv('IMAGIN4D_PLUGINS', '1')
    monkeypatch.setattr(plugins, 'LOADED_PLUGINS', {})
    loaded = plugins.load_plugins(logger=None)
    assert loaded['silhouette_cue'] == dict(module='silhouette_cue', version=silhouette_cue.__version__,
                                            status='loaded')
    assert 'silhouette_cue' in sys.modules


def test_plugin_cue_trains_through_the_real_tool(tools_runner, mini_fbm_prepared, tmp_path):
    work = tmp_path / 'work'
    result = tools_runner(
        'tools/train.py', CONFIG, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=3',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None', 'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=3',
        env=dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, OMP_NUM_THREADS='1'))
    log = result.stdout + result.stderr
    assert "'silhouette_cue': '0.1.0 (custom_imports)'" in log
    first = torch.load(work / 'iter_1.pth', weights_only=False)
    last = torch.load(work / 'iter_3.pth', weights_only=False)
    assert last['meta']['imagin4d_plugins'] == {'silhouette_cue': f'{silhouette_cue.__version__} (custom_imports)'}
    # AdaLN-Zero: the first step gives the conditioning no gradient, the next two do. EMAHook keeps the
    # raw weights in `ema_state_dict` ('module.'-prefixed) and saves the averaged ones as `state_dict`.
    prefix = 'module.encoders.silhouette_encoder.'
    raw = {k[len(prefix):]: v for k, v in last['ema_state_dict'].items() if k.startswith(prefix)}
    raw_first = {k[len(prefix):]: v for k, v in first['ema_state_dict'].items() if k.startswith(prefix)}
    assert set(raw) == {f'{m}.{p}' for m in ('conv.0', 'conv.2', 'mlp.0', 'mlp.2') for p in ('weight', 'bias')}
    for name, value in raw.items():
        assert torch.isfinite(value).all(), name
        assert not torch.equal(value, raw_first[name]), f'{name} did not train'
    # the first convolution only moves when non-zero silhouettes reach it
    assert not torch.equal(raw['conv.0.weight'], raw_first['conv.0.weight'])

"""HOIDiffusion end to end on the prepared mini-FBM: every config builds; loss / predict per variant with gradients
where (and only where) the variant has encoders; image-encoder swap from --cfg-options; classifier-free guidance
semantics; clear errors for bad input."""
import glob
import json
import os
import shutil

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from testing_utils import REPO, perturb_adaln

pytestmark = pytest.mark.usefixtures('single_torch_thread')

CONFIGS = sorted(glob.glob(str(REPO / 'projects' / 'imagin4d' / '*.py')))
MINI_VARIANTS = {
    # variant: (image encoder type or None, frame-aware encoder present)
    'no_image': (None, False),
    'global_token': ('GlobalTokenImageEncoder', False),
    'uniform_image': ('UniformImageEncoder', False),
    'sfie_spatial': ('SpatiallyFactorizedImageEncoder', False),
    'sfie': ('SpatiallyFactorizedImageEncoder', True),
    'sketch': ('SpatiallyFactorizedImageEncoder', True),
    'sfie_fused': ('SpatiallyFactorizedImageEncoder', True),
    'sfie_lean': ('SpatiallyFactorizedImageEncoder', True),        # the full model's lean image cues (issue 23)
}
# mini-FBM-only configs of the full model on other references or training data (no fbm_ / behave_ twins)
MINI_ONLY = {name: ('SpatiallyFactorizedImageEncoder', True) for name in ('scene', 'mixture', 'storyboard')}


def load_cfg(path, root=None, options=None):
    from imagin4d.engine.runner_setup import load_config
    if root is not None:
        os.environ['IMAGIN4D_MINI_FBM_ROOT'] = root
    try:
        return load_config(str(path), options)
    finally:
        os.environ.pop('IMAGIN4D_MINI_FBM_ROOT', None)


def build(cfg, split='test', num=3, condition_dropout=0.0):
    """(model, collated batch of `num` windows of `split`) for a config; the model has the data set's stats."""
    from imagin4d.registry import DATASETS, MODELS
    init_default_scope('imagin4d')
    loader = cfg.train_dataloader if split == 'train' else cfg.test_dataloader
    dataset = DATASETS.build(loader.dataset)
    model_cfg = cfg.model.copy()
    model_cfg['condition_dropout'] = dict(image=condition_dropout, text=condition_dropout)
    model = MODELS.build(model_cfg)
    model.data_preprocessor.load_stats(dataset.metainfo['stats_file'])
    return model, pseudo_collate([dataset[i] for i in range(num)])


def test_every_config_builds():
    from imagin4d.registry import MODELS, TRANSFORMS
    init_default_scope('imagin4d')
    names = {os.path.basename(p)[:-3] for p in CONFIGS}
    for dataset in ('mini_fbm', 'fbm', 'behave'):
        for variant in MINI_VARIANTS:
            assert f'{dataset}_{variant}' in names
    for path in CONFIGS:
        cfg = load_cfg(path)
        model = MODELS.build(cfg.model)
        image_type, frame_aware = {**MINI_VARIANTS, **MINI_ONLY}[
            os.path.basename(path)[:-3].split('_', 1)[1].replace('fbm_', '')]
        assert ('image_encoder' in model.encoders) == (image_type is not None), path
        if image_type:
            assert type(model.encoders['image_encoder']).__name__ == image_type, path
        assert ('frame_image_encoder' in model.encoders) == frame_aware, path
        # source-separated routing is the full model's (mesh and sketch references); baselines and the ablation sum
        full = path.endswith(('_sfie.py', '_sketch.py', '_sfie_lean.py')) or \
            any(path.endswith(f'_{n}.py') for n in MINI_ONLY)
        assert model.denoiser.stream_fusion == ('separate' if full else 'sum'), path
        for loader in (cfg.train_dataloader, cfg.test_dataloader):
            for t in loader.dataset.pipeline:
                TRANSFORMS.build(t)
    # the routing check: SFIE spatial's encoders with the full model's routing
    check = load_cfg(REPO / 'projects' / 'imagin4d' / 'checks' / 'mini_fbm_sfie_spatial_separate.py')
    model = MODELS.build(check.model)
    assert type(model.encoders['image_encoder']).__name__ == 'SpatiallyFactorizedImageEncoder'
    assert 'frame_image_encoder' not in model.encoders and model.denoiser.stream_fusion == 'separate'
    fbm = load_cfg(REPO / 'projects' / 'imagin4d' / 'fbm_sfie.py')
    assert fbm.model.denoiser.width == 512 and fbm.model.denoiser.head_dim == 256     # CHOIS's FBM size


@pytest.mark.parametrize('variant', sorted(MINI_VARIANTS))
def test_loss_and_predict_per_variant(mini_fbm_prepared, variant):
    cfg = load_cfg(REPO / 'projects' / 'imagin4d' / f'mini_fbm_{variant}.py', mini_fbm_prepared)
    model, batch = build(cfg)
    perturb_adaln(model)                  # AdaLN-Zero: conditioning gets gradients only once modulation is non-zero
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert ('loss_sfie_depicted_frame' in losses) == (MINI_VARIANTS[variant][0] == 'SpatiallyFactorizedImageEncoder')
    sum(losses.values()).backward()
    expected = {'text_encoder', 'object_encoder', 'waypoint_encoder'}
    if MINI_VARIANTS[variant][0]:
        expected.add('image_encoder')
    if MINI_VARIANTS[variant][1]:
        expected.add('frame_image_encoder')
    assert set(model.encoders) == expected
    for slot, encoder in model.encoders.items():
        norm = sum(float(p.grad.norm()) for p in encoder.parameters() if p.grad is not None)
        assert norm > 0, f'{variant}: no gradient reaches {slot}'
    if not MINI_VARIANTS[variant][0]:
        assert not any('image' in name for name, _ in model.named_parameters())

    model.eval()
    model.test_cfg.update(num_steps=3)
    out = model(**model.data_preprocessor(batch, False), mode='predict')
    for sample in out:
        assert sample.pred_motion.shape == sample.gt_motion.shape == (120, 220)
        assert torch.isfinite(sample.pred_motion).all()


def test_image_encoder_swap_from_cfg_options(mini_fbm_prepared):
    path = REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie.py'
    for new_type in ('GlobalTokenImageEncoder', 'UniformImageEncoder'):
        cfg = load_cfg(path, mini_fbm_prepared, {'model.image_encoder.type': new_type})
        model, batch = build(cfg, num=2)
        assert type(model.encoders['image_encoder']).__name__ == new_type
        losses = model(**model.data_preprocessor(batch, True), mode='loss')
        assert 'loss_sfie_depicted_frame' not in losses and torch.isfinite(losses['loss_x0'])


def test_guidance_scale_zero_makes_the_image_irrelevant(mini_fbm_prepared):
    cfg = load_cfg(REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie.py', mini_fbm_prepared)
    model, batch = build(cfg, num=2)
    perturb_adaln(model)
    model.eval()
    data = model.data_preprocessor(batch, False)
    swapped = dict(data['inputs'])
    swapped['image_patch'] = data['inputs']['image_patch'].flip(0)       # each window gets the other's image

    def generate(inputs, g, sampler='ddim', steps=3):
        model.test_cfg.update(guidance_image=g, sampler=sampler, num_steps=steps)
        x0, _ = model.generate(inputs, data['data_samples'])
        return x0

    assert torch.allclose(generate(data['inputs'], 0.0), generate(swapped, 0.0), atol=1e-5)
    change_1 = (generate(data['inputs'], 1.0) - generate(swapped, 1.0)).abs().mean()
    change_3 = (generate(data['inputs'], 3.0) - generate(swapped, 3.0)).abs().mean()
    assert change_1 > 1e-3 and change_3 > change_1
    ddpm = generate(data['inputs'], 1.0, 'ddpm', 4)
    assert ddpm.shape == data['inputs']['motion'].shape and torch.isfinite(ddpm).all()
    # DPM-Solver++: one step is DDIM's (the last step returns the prediction at the first index either way), two
    # steps differ from DDIM's by its second-order term
    assert torch.equal(generate(data['inputs'], 1.0, 'dpmpp', 1), generate(data['inputs'], 1.0, 'ddim', 1))
    assert not torch.allclose(generate(data['inputs'], 1.0, 'dpmpp', 3), generate(data['inputs'], 1.0, 'ddim', 3))
    model.test_cfg.update(sampler='ddim', num_steps=5, timestep_spacing='linspace')   # the last prediction at t = 0
    assert model.build_sampler().timesteps().tolist() == [999, 749, 500, 250, 0]
    model.test_cfg.update(sampler='euler')
    with pytest.raises(ValueError, match=r"test_cfg.sampler must be one of \['ddim', 'ddpm', 'dpmpp'\]"):
        model.build_sampler()


def test_bad_inputs_have_clear_errors(mini_fbm_prepared, tmp_path):
    from imagin4d.models.backbones.feature_cache import MissingFeaturesError
    from imagin4d.registry import TRANSFORMS
    from imagin4d.utils.errors import UserError
    cfg = load_cfg(REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie.py', mini_fbm_prepared)
    model, batch = build(cfg, num=2)
    data = model.data_preprocessor(batch, True)
    name = f"fbm/{batch['data_samples'][0].seq_name}@0"

    no_image = {k: v for k, v in data['inputs'].items() if k != 'image_patch'}
    with pytest.raises(UserError, match=r"needs 'image_patch'.*" + name.replace('.', r'\.')):
        model(no_image, data['data_samples'], mode='loss')
    wrong = dict(data['inputs'], image_patch=data['inputs']['image_patch'][..., :100])
    with pytest.raises(UserError, match='expects 1280-channel image features.*has 100'):
        model(wrong, data['data_samples'], mode='loss')

    # a window missing from the reference index
    index = json.load(open(f'{mini_fbm_prepared}/references/test_mesh.json'))
    missing_seq = index[0]['seq_name']
    partial = tmp_path / 'test_mesh.json'
    json.dump([e for e in index if e['seq_name'] != missing_seq], open(partial, 'w'))
    shutil.copytree(f'{mini_fbm_prepared}/references/cache', tmp_path / 'cache', dirs_exist_ok=True)
    load = TRANSFORMS.build(dict(cfg.test_dataloader.dataset.pipeline[0], reference_index=str(partial)))
    with pytest.raises(UserError, match=f'no reference image for window fbm/{missing_seq}@0'):
        load(dict(dataset='fbm', data_root=mini_fbm_prepared, seq_name=missing_seq, window_start=0, text='x'))
    # an image whose features were never cached (changed pixels -> a new content hash)
    from PIL import Image
    kept = next(e for e in index if e['seq_name'] != missing_seq)
    png = tmp_path / kept['image']
    img = Image.open(png).convert('RGB')
    img.putpixel((0, 0), (1, 2, 3))
    img.save(png)
    with pytest.raises(MissingFeaturesError, match='no cached image features'):
        load(dict(dataset='fbm', data_root=mini_fbm_prepared, seq_name=kept['seq_name'],
                  window_start=kept['window_start'], text='x'))


def test_train_tool_runs_the_full_model(mini_fbm_prepared, tools_runner, tmp_path):
    result = tools_runner('tools/train.py', 'projects/imagin4d/mini_fbm_sfie.py', '--work-dir', tmp_path / 'wd',
                          '--cfg-options', 'train_cfg.max_iters=3', 'train_dataloader.batch_size=4',
                          'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                          'default_hooks.logger.interval=1', 'train_cfg.val_interval=3',
                          'model.test_cfg.num_steps=2', 'val_dataloader.batch_size=4',
                          'default_hooks.visualization.interval=1',
                          'default_hooks.visualization.max_samples=2',
                          env=dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, OMP_NUM_THREADS='1'))
    log = result.stdout + result.stderr
    assert 'normalisation statistics:' in log and 'loss_sfie_depicted_frame' in log
    # validation at iteration 3 logged videos of the first sample of the first two batches (the default runtime's
    # HOIVisualizationHook): as files and as a TensorBoard summary
    runs = list((tmp_path / 'wd').glob('2*/vis_data'))
    assert len(runs) == 1, runs
    videos = sorted(p.name for p in (runs[0] / 'vis_video').iterdir())
    assert len(videos) == 2 and all(v.startswith('val_') and '_3.' in v for v in videos), videos
    events = list(runs[0].rglob('events.out.tfevents.*'))
    assert events and any(b'val_' in e.read_bytes() and b'_video' in e.read_bytes() for e in events)
    ckpt = torch.load(tmp_path / 'wd' / 'iter_3.pth', map_location='cpu', weights_only=False)
    assert bool(ckpt['state_dict']['data_preprocessor.stats_ready'])
    # evaluate the checkpoint with the whole suite, dump per-sample results, run the mirrored-reference test
    out, dump = tmp_path / 'metrics.json', tmp_path / 'results.pkl'
    env = dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, OMP_NUM_THREADS='1')
    tools_runner('tools/test.py', 'projects/imagin4d/mini_fbm_sfie.py', tmp_path / 'wd' / 'iter_3.pth',
                 '--work-dir', tmp_path / 'wd', '--out', out, '--dump', dump,
                 '--cfg-options', 'model.test_cfg.num_steps=2', env=env)
    metrics = json.loads(out.read_text())
    for key in ('hand_jpe', 'contact_f1', 'foot_sliding', 'waypoint_xy_err', 'ia_success', 'factor_grasp_hand'):
        assert key in metrics, key
    from imagin4d.evaluation.metrics import read_dump
    samples = read_dump(dump)
    assert len(samples) == 8 and samples[0]['pred_motion'].shape == (120, 220)
    assert 'hand_jpe' in samples[0]['metrics'] and 'ia_success' in samples[0]['metrics']
    report = tmp_path / 'mirror.json'
    tools_runner('tools/analysis/mirror_test.py', 'projects/imagin4d/mini_fbm_sfie.py',
                 tmp_path / 'wd' / 'iter_3.pth', '--out', report, '--limit', 4, '--dump-dir', tmp_path / 'mirror',
                 '--cfg-options', 'model.test_cfg.num_steps=2', env=env)
    rates = json.loads(report.read_text())
    assert rates['windows'] == 4 and 0.0 <= rates['mirror_consistency'] <= 1.0
    assert len(read_dump(tmp_path / 'mirror' / 'mirrored.npz')) == 4

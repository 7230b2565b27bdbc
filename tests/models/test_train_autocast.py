"""bf16 autocast training (`HOIDiffusion(train_autocast='bfloat16')`, `tools/train.py --amp`, issue 23): the cue
encoders' and the denoiser's matrix multiplies run in bf16, every loss (with the SFIE targets' autoencoders) is
computed and returned in fp32, every
gradient reaches the fp32 weights, and the losses stay close to the fp32 step's on the same batch and noise."""
import os

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from testing_utils import REPO, TINY_TOY, perturb_adaln

pytestmark = pytest.mark.usefixtures('single_torch_thread')
LEAN = REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie_lean.py'


def lean_model_and_batch(root, **model_options):
    from imagin4d.engine.runner_setup import load_config
    from imagin4d.registry import DATASETS, MODELS
    os.environ['IMAGIN4D_MINI_FBM_ROOT'] = str(root)
    try:
        cfg = load_config(str(LEAN))
    finally:
        os.environ.pop('IMAGIN4D_MINI_FBM_ROOT')
    init_default_scope('imagin4d')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg.model, **model_options))
    model.data_preprocessor.load_stats(dataset.metainfo['stats_file'])
    perturb_adaln(model)                        # AdaLN-Zero: the image streams matter once modulation is non-zero
    return model, pseudo_collate([dataset[i] for i in range(4)])


def linear_output_dtypes(model, losses_fn):
    """({module name: output dtype} of every Linear under the encoders and the denoiser, losses_fn())."""
    seen, handles = {}, []

    def record(name):
        def hook(module, args, out):
            seen.setdefault(name, out.dtype)       # returns None: the output is left as it is
        return hook
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.startswith(('encoders.', 'denoiser.')):
            handles.append(module.register_forward_hook(record(name)))
    try:
        losses = losses_fn()
    finally:
        for handle in handles:
            handle.remove()
    return seen, losses


def test_bf16_networks_fp32_losses_and_gradients(mini_fbm_prepared):
    model, batch = lean_model_and_batch(mini_fbm_prepared)
    data = model.data_preprocessor(batch, True)
    runs = {}
    for dtype in (None, 'bfloat16'):
        model.train_autocast = dtype
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)                    # the same timesteps, noise, dropout masks and condition dropout
        dtypes, losses = linear_output_dtypes(model, lambda: model(**data, mode='loss'))
        sum(losses.values()).backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        runs[dtype] = dtypes, losses, grads
    fp32_dtypes, fp32_losses, fp32_grads = runs[None]
    bf16_dtypes, bf16_losses, bf16_grads = runs['bfloat16']
    # the default is fp32 everywhere; with bf16 every linear layer of the encoders and the denoiser ran in bf16
    assert fp32_dtypes and set(fp32_dtypes.values()) == {torch.float32}
    assert any(n.startswith('encoders.image_encoder') for n in bf16_dtypes) and \
        any(n.startswith('denoiser.blocks') for n in bf16_dtypes)
    # ... except the SFIE targets' autoencoders, which are part of the head losses (fp32)
    loss_side = {n for n in bf16_dtypes if '.autoencoders.' in n}
    assert loss_side and {bf16_dtypes[n] for n in loss_side} == {torch.float32}
    assert {d for n, d in bf16_dtypes.items() if n not in loss_side} == {torch.bfloat16}
    # every loss in fp32, finite, within bf16's rounding of the fp32 step (8 mantissa bits: ~0.4% per product)
    assert set(bf16_losses) == set(fp32_losses)
    for key, value in bf16_losses.items():
        assert value.dtype == torch.float32 and torch.isfinite(value), key
        new, old = float(value.detach()), float(fp32_losses[key].detach())
        assert abs(new - old) <= 0.02 * abs(old) + 1e-3, key
    # the same parameters get gradients, in fp32 (the weights' dtype), pointing the same way
    assert set(bf16_grads) == set(fp32_grads)
    flat = {k: torch.cat([g.reshape(-1) for g in grads.values()]) for k, grads in
            (('fp32', fp32_grads), ('bf16', bf16_grads))}
    assert flat['bf16'].dtype == torch.float32 and torch.isfinite(flat['bf16']).all()
    assert float(torch.nn.functional.cosine_similarity(flat['fp32'], flat['bf16'], dim=0)) > 0.95


def test_train_autocast_accepts_only_bf16():
    """float16 would need loss scaling (a GradScaler) that this path does not have."""
    from imagin4d.models.hoi_diffusion import HOIDiffusion
    with pytest.raises(ValueError, match="train_autocast must be None or one of"):
        HOIDiffusion(denoiser=dict(type='RoleAwareDenoiser', motion_dim=220, width=32, depth=1, num_heads=2),
                     train_autocast='float16')


def test_amp_flag_sets_train_autocast(mini_fbm_prepared, tools_runner, tmp_path):
    work = tmp_path / 'wd'
    tools_runner('tools/train.py', LEAN, '--work-dir', work, '--amp', '--cfg-options', 'train_cfg.max_iters=2',
                 'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
                 'train_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1',
                 'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
                 env=dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared))
    from mmengine.config import Config
    assert Config.fromfile(str(work / 'mini_fbm_sfie_lean.py')).model.train_autocast == 'bfloat16'
    assert (work / 'iter_2.pth').is_file()


def test_amp_flag_on_a_model_without_the_option_is_one_line(tools_runner, tmp_path):
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', tmp_path, '--amp', check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr, result.stderr[-2000:]
    assert 'has no train_autocast option' in result.stderr

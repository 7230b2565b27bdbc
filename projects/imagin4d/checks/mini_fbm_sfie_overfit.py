# Overfitting check of the full model (issue: "drives its training loss close to zero and reproduces the GT motion at
# the depicted frame"): train and test on the same 4 mini-FBM test windows with their evaluation references, no
# condition dropout, no EMA; see benchmarks/results/overfit_mini_fbm.md for the recorded run and its commands.
_base_ = ['../mini_fbm_sfie.py']
_windows = 4
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(split='test', indices=_windows, pipeline={{_base_.test_pipeline}}))
test_dataloader = dict(batch_size=4, dataset=dict(indices=_windows))
val_dataloader = None
val_cfg = None
val_evaluator = None
model = dict(condition_dropout=dict(image=0.0, text=0.0), denoiser=dict(dropout=0.0))
train_cfg = dict(max_iters=1500, val_interval=100000)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
custom_hooks = [dict(type='CodecStatsHook'), dict(type='PluginInfoHook')]
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=1500))

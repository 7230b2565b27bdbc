# A tiny CPU config for the tool tests: the toy regressor from tests/fixtures/toy_hoi on the real runtime base.
_base_ = ['../../../projects/imagin4d/_base_/default_runtime.py']
custom_imports = dict(imports=['toy_hoi'], allow_failed_imports=False)

model = dict(type='ToyRegressor')
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', size=64))
val_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', size=32, seed=1))
test_dataloader = val_dataloader
val_evaluator = dict(type='ToyMSEMetric')
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=False, max_iters=4, val_interval=4)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-2))
param_scheduler = [dict(type='ConstantLR', by_epoch=False, factor=1.0)]

# a toy regression model: no HOI samples for the runtime's validation videos
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2), visualization=dict(draw=False))
custom_hooks = [dict(type='PluginInfoHook'), dict(type='EMAHook', momentum=0.5),
                dict(type='DumpRankParamsHook')]
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

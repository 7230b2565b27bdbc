# Runtime shared by every imagin4d config: scope, hooks, logging, visualisation backends, distribution.
default_scope = 'imagin4d'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Videos (reference image | GT | generated) of a few validation windows, to TensorBoard and vis_data/.
    visualization=dict(type='HOIVisualizationHook', draw=True, interval=10, max_samples=4, modes=['val']),
)
# CodecStatsHook: the model's normalisation statistics from the training set (or its checkpoint); EMA of the weights
# (mmengine momentum = 1 - decay), swapped in for validation and testing.
custom_hooks = [dict(type='CodecStatsHook'), dict(type='PluginInfoHook'),
                dict(type='EMAHook', momentum=0.01, update_buffers=False)]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # NCCL on GPUs; CPU-only torchrun runs get a gloo group from imagin4d.utils.compat.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='HOIVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False, window_size=50)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=False)

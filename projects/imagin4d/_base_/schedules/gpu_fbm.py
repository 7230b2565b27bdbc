# CHOIS's schedule on FBM (Li et al. 2024): Adam-style, lr 2e-4, batch 32 (x2 accumulation), 400k steps, EMA 0.995
_base_ = ['../default_runtime.py']
# (every 10 steps from step 2000); bf16 autocast with --amp on GPUs.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=400000, val_interval=20000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.0),
                     accumulative_counts=2, clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=2000)]
default_hooks = dict(checkpoint=dict(interval=20000, max_keep_ckpts=3))
custom_hooks = [dict(type='CodecStatsHook'), dict(type='PluginInfoHook'),
                dict(type='EMAHook', momentum=0.005, interval=10, begin_iter=2000, update_buffers=False)]
# What this schedule costs without a GPU, measured on a 2-core CPU at the FBM size and batch 32 (about 11-14 s per
# iteration, 4.8 GB; benchmarks/results/model_throughput_cpu.md: 4.1 s per step at batch 16 without data loading).
# tools/train.py states it once at start on a machine without CUDA, with the config meant for CPUs.
cpu_cost = dict(seconds_per_iter='11-14', memory='4.8 GB', measured='2-core CPU, batch 32',
                cpu_config='mini_fbm_{variant}.py')

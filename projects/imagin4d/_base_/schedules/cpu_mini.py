# Training budget of the mini-FBM configs: 2000 iterations, about 35 minutes on one core of a 2-core CPU (the demo
# and the benchmark set shorter counts). AdamW, constant LR after a short warm-up.
_base_ = ['../default_runtime.py']
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000, val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.0),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100)]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1000, max_keep_ckpts=2))
# One intra-op thread: this model's matmuls are small; on a shared 2-core machine extra threads oversubscribe.
torch_num_threads = 1

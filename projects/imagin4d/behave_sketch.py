# BEHAVE (CHOIS size, GPU schedule): The full IMAGIN-4D on sketch (line-drawing) references: same encoders, sketch images, same backbone
# features (own preprocessing is possible through image_backbone).
_base_ = ['_base_/datasets/behave.py',
          '_base_/models/imagin4d_fbm.py', '_base_/schedules/gpu_fbm.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.sketch_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.sketch_test_pipeline}}))
test_dataloader = val_dataloader

# Source-separated routing: each stream (base, waypoint, spatial image) has its own modulation projection and the
# projections are summed (the paper's h = LN(x)(1 + sum_s gamma_s) + sum_s beta_s).
model = dict(denoiser=dict(stream_fusion='separate'))

# mini-FBM (embedded, CPU-sized: trains in minutes on 2 cores):
# the full IMAGIN-4D with its AdaLN streams summed before one modulation projection (the baselines' routing), where
# the full model gives each stream its own projection: the ablation of source-separated routing.
_base_ = ['mini_fbm_sfie.py']

model = dict(denoiser=dict(stream_fusion='sum'))

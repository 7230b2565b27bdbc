# BEHAVE (CHOIS size, GPU schedule):
# the full IMAGIN-4D with its AdaLN streams summed before one modulation projection (the baselines' routing), where
# the full model gives each stream its own projection: the ablation of source-separated routing.
_base_ = ['behave_sfie.py']

model = dict(denoiser=dict(stream_fusion='sum'))

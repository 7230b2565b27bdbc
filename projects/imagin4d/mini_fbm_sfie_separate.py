# mini-FBM (embedded, CPU-sized: trains in minutes on 2 cores):
# the full IMAGIN-4D with source-separated AdaLN modulation: each stream (base, waypoint, spatial image) has its
# own modulation projection and the projections are summed (the paper's h = LN(x)(1 + sum_s gamma_s) +
# sum_s beta_s), where the other configs sum the streams and modulate through one projection.
_base_ = ['mini_fbm_sfie.py']

model = dict(denoiser=dict(stream_fusion='separate'))

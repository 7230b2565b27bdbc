# FBM/OMOMO (CHOIS size, GPU schedule): The full IMAGIN-4D: SFIE spatial tokens + frame-aware tokens + source-separated
# role-aware AdaLN routing.
_base_ = ['_base_/datasets/fbm.py',
          '_base_/models/imagin4d_fbm.py', '_base_/schedules/gpu_fbm.py']

# Source-separated routing: each stream (base, waypoint, spatial image) has its own modulation projection and the
# projections are summed (the paper's h = LN(x)(1 + sum_s gamma_s) + sum_s beta_s).
model = dict(denoiser=dict(stream_fusion='separate'))

# mini-FBM (embedded, CPU-sized: trains in minutes on 2 cores): The full IMAGIN-4D: SFIE spatial tokens + frame-aware
# tokens + source-separated role-aware AdaLN routing.
_base_ = ['_base_/datasets/mini_fbm.py',
          '_base_/models/imagin4d_mini.py', '_base_/schedules/cpu_mini.py']

# Source-separated routing: each stream (base, waypoint, spatial image) has its own modulation projection and the
# projections are summed (the paper's h = LN(x)(1 + sum_s gamma_s) + sum_s beta_s).
model = dict(denoiser=dict(stream_fusion='separate'))

# FBM/OMOMO (CHOIS size, GPU schedule): The full IMAGIN-4D: SFIE spatial tokens + frame-aware tokens + role-aware AdaLN routing.
_base_ = ['_base_/datasets/fbm.py',
          '_base_/models/imagin4d_fbm.py', '_base_/schedules/gpu_fbm.py']

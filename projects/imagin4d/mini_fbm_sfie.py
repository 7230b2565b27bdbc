# mini-FBM (embedded, CPU-sized: trains in minutes on 2 cores): The full IMAGIN-4D: SFIE spatial tokens + frame-aware tokens + role-aware AdaLN routing.
_base_ = ['_base_/datasets/mini_fbm.py',
          '_base_/models/imagin4d_mini.py', '_base_/schedules/cpu_mini.py']

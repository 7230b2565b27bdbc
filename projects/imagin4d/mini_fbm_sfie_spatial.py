# mini-FBM (embedded, CPU-sized: trains in minutes on 2 cores): SFIE spatial tokens only (role heads, depicted-frame window, role-aware routing); no frame-aware tokens.
_base_ = ['_base_/datasets/mini_fbm.py',
          '_base_/models/imagin4d_mini.py', '_base_/schedules/cpu_mini.py']

model = dict(frame_image_encoder=None)

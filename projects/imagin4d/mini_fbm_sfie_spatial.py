# mini-FBM (embedded, CPU-sized: trains in minutes on 2 cores): SFIE spatial tokens only (role heads, depicted-frame
# window) in their own AdaLN stream, summed with the others before one projection (the baselines' routing); no frame-
# aware tokens.
_base_ = ['_base_/datasets/mini_fbm.py',
          '_base_/models/imagin4d_mini.py', '_base_/schedules/cpu_mini.py']

model = dict(frame_image_encoder=None)

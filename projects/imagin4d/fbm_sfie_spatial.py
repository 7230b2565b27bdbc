# FBM/OMOMO (CHOIS size, GPU schedule): SFIE spatial tokens only (role heads, depicted-frame window, role-aware routing); no frame-aware tokens.
_base_ = ['_base_/datasets/fbm.py',
          '_base_/models/imagin4d_fbm.py', '_base_/schedules/gpu_fbm.py']

model = dict(frame_image_encoder=None)

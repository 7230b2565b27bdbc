# FBM/OMOMO (CHOIS size, GPU schedule): SFIE spatial tokens only (role heads, depicted-frame window) in their own AdaLN
# stream, summed with the others before one projection (the baselines' routing); no frame-aware tokens.
_base_ = ['_base_/datasets/fbm.py',
          '_base_/models/imagin4d_fbm.py', '_base_/schedules/gpu_fbm.py']

model = dict(frame_image_encoder=None)

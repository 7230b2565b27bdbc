# FBM/OMOMO (CHOIS size, GPU schedule): The no-image baseline (CHOIS-style conditioning: text + object geometry +
# waypoints).
_base_ = ['_base_/datasets/fbm.py',
          '_base_/models/imagin4d_fbm.py', '_base_/schedules/gpu_fbm.py']

model = dict(image_encoder=None, frame_image_encoder=None)

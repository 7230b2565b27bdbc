# mini-FBM (embedded, CPU-sized: trains in minutes on 2 cores): The no-image baseline (CHOIS-style conditioning: text +
# object geometry + waypoints).
_base_ = ['_base_/datasets/mini_fbm.py',
          '_base_/models/imagin4d_mini.py', '_base_/schedules/cpu_mini.py']

model = dict(image_encoder=None, frame_image_encoder=None)

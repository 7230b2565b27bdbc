# mini-FBM (embedded, CPU-sized: trains in minutes on 2 cores): Uniform image evidence: a Q-Former summary of the patch
# grid given identically to every frame
# (SFIE's route without role factorisation and without the Gaussian window); no frame-aware tokens.
_base_ = ['_base_/datasets/mini_fbm.py',
          '_base_/models/imagin4d_mini.py', '_base_/schedules/cpu_mini.py']

model = dict(
    image_encoder=dict(_delete_=True, type='UniformImageEncoder', image_dim={{_base_.image_dim}},
                       out_dim={{_base_.width}}, output='stream'),
    frame_image_encoder=None)

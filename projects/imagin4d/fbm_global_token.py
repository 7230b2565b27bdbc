# FBM/OMOMO (CHOIS size, GPU schedule): CHOIS+Img: one pooled image token added to the base AdaLN stream; no spatial or
# frame tokens.
_base_ = ['_base_/datasets/fbm.py',
          '_base_/models/imagin4d_fbm.py', '_base_/schedules/gpu_fbm.py']

model = dict(
    image_encoder=dict(_delete_=True, type='GlobalTokenImageEncoder', image_dim={{_base_.image_dim}},
                       out_dim={{_base_.width}}),
    frame_image_encoder=None)

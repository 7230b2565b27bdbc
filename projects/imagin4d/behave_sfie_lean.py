# BEHAVE (CHOIS size, GPU schedule): the full IMAGIN-4D with the image cues' lean options (issue 23); see
# fbm_sfie_lean.py. The default stays behave_sfie.py.
_base_ = ['./behave_sfie.py']
patch_dim = 256
model = dict(
    image_encoder=dict(patch_dim=patch_dim, spatial_stream='gated'),
    frame_image_encoder=dict(patch_dim=patch_dim, num_frame_queries=30),
)

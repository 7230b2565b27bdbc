# FBM/OMOMO (CHOIS size, GPU schedule): the full IMAGIN-4D with the image cues' lean options (issue 23): one shared
# projection of the patch grid (LN + 1280 -> 256 once, read by the four SFIE role heads and the frame-aware
# encoder), the role heads stacked into one batched Q-Former, the spatial-image AdaLN stream modulated per sequence
# and gated per frame by the window, and 30 frame-aware queries interpolated to the 120 frames. See
# mini_fbm_sfie_lean.py; the default stays fbm_sfie.py.
_base_ = ['./fbm_sfie.py']
patch_dim = 256
model = dict(
    image_encoder=dict(patch_dim=patch_dim, spatial_stream='gated', stacked_heads=True),
    frame_image_encoder=dict(patch_dim=patch_dim, num_frame_queries=30),
)

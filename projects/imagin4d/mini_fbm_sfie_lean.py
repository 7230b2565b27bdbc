# mini-FBM (embedded, CPU-sized): the full IMAGIN-4D with the image cues' lean options (issue 23), at about 1.2x
# the no-image model's training step instead of 2x: one shared projection of the patch grid (LN + 1280 -> 64 once,
# read by the four SFIE role heads and the frame-aware encoder), the four role heads stacked into one batched
# Q-Former, the spatial-image AdaLN stream modulated per sequence and gated per frame by the window (`GatedStream`),
# and 30 frame-aware queries interpolated to the 120 frames. The math differs from mini_fbm_sfie.py
# (docs/conventions.md, "Lean image cues"); retrained at 3 seeds, every headline metric is within the full model's
# seed spread (benchmarks/results/training_step_rerun.md). mini_fbm_sfie.py stays the default of the results pages.
_base_ = ['./mini_fbm_sfie.py']
patch_dim = 64
model = dict(
    image_encoder=dict(patch_dim=patch_dim, spatial_stream='gated', stacked_heads=True),
    frame_image_encoder=dict(patch_dim=patch_dim, num_frame_queries=30),
)

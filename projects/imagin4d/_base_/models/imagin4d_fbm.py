# IMAGIN-4D at CHOIS's FBM size (Li et al. 2024: 4 layers, 4 heads, d_model 512, d_k = d_v = 256, FFN 512,
# dropout 0.1, BPS MLP 3072 -> 512 -> 256, T = 120, 1000-step cosine schedule) for GPUs; DINOv2-size features
# are swapped in through `image_dim` when the cache holds them (EfficientNet-Lite0: 1280).
_base_ = ['./imagin4d_mini.py']
width = 512
model = dict(
    denoiser=dict(width=width, depth=4, num_heads=4, head_dim=256, mlp_ratio=1.0, dropout=0.1),
    text_encoder=dict(out_dim=width),
    object_encoder=dict(out_dim=width, hidden_dims=(512, 256)),
    waypoint_encoder=dict(out_dim=width, hidden_dim=512),
    image_encoder=dict(out_dim=width, head_dim=256, depth=2, role_latent_dim=32),
    frame_image_encoder=dict(out_dim=width, dim=256, depth=2),
    # the mini-FBM choice (DDIM on 'quadratic' indices and the mini base's reconstruction guidance, over the last 5
    # of the 10 steps; docs/results/sampling_mini_fbm.md) with twice its 5 steps as a margin: no trained model of
    # this size has been measured yet
    test_cfg=dict(sampler='ddim', num_steps=10, timestep_spacing='quadratic'),
)

# IMAGIN-4D at the size of the CPU configs (width 128, 4 AdaLN blocks): the full model's encoders (SFIE spatial
# tokens + frame-aware tokens). Variants replace `image_encoder` / `frame_image_encoder`. Routing: the streams are
# summed before one modulation projection (`stream_fusion='sum'`, as the baselines route every condition through one
# pathway); the full model (`*_sfie.py`, `*_sketch.py`) separates them (source-separated routing).
# Feature widths: EfficientNet-Lite0 patch grid 7x7x1280, MiniLM-L6 384. The paper gives no sizes; these are ours.
width = 128
image_dim = 1280
text_dim = 384
num_frames = 120

model = dict(
    type='HOIDiffusion',
    data_preprocessor=dict(type='HOIDataPreprocessor'),
    denoiser=dict(type='RoleAwareDenoiser', motion_dim=220, width=width, depth=4, num_heads=4, mlp_ratio=4.0,
                  dropout=0.1, num_cross_attention_layers=1, max_frames=num_frames, stream_fusion='sum'),
    text_encoder=dict(type='TextCueEncoder', text_dim=text_dim, out_dim=width),
    object_encoder=dict(type='ObjectGeometryEncoder', num_points=1024, out_dim=width, hidden_dims=(256, 128)),
    waypoint_encoder=dict(type='WaypointEncoder', motion_dim=220, out_dim=width, hidden_dim=256),
    image_encoder=dict(type='SpatiallyFactorizedImageEncoder', image_dim=image_dim, out_dim=width,
                       num_frames=num_frames, head_dim=64, queries_per_role=2, depth=1, num_heads=4,
                       role_latent_dim=16, window_sigma=8.0),
    frame_image_encoder=dict(type='FrameAwareImageEncoder', image_dim=image_dim, text_dim=text_dim, out_dim=width,
                             dim=64, depth=1, num_heads=4),
    diffusion=dict(type='DDPMSampler', schedule='cosine', num_train_steps=1000, clip_x0=1.0),
    condition_dropout=dict(image=0.1, text=0.1),
    loss_weights=dict(x0=1.0, contact=1.0, fk=0.5, object_surface=1.0, sfie=1.0),
    # sampling-time parts (test_cfg, reconstruction_guidance: not in a run's config identity), chosen by the sampling
    # study (3 seeds, docs/results/sampling_mini_fbm.md):
    # - reconstruction guidance on, step 1 (normalised units) over the last 5 steps: hands pulled onto the object
    #   where the model predicts contact. At DDIM 5 it raises ia_success 0.583 -> 0.670 (contact F1 0.88 -> 0.95)
    #   with waypoints, foot sliding and FID unchanged; the step of before (0.01) changed nothing measurable
    # - DDIM 5 on 'quadratic' indices (dense near t = 0, the last prediction at t = 0): the fewest steps as good as
    #   DDPM-1000 on every metric, level with or better than the DDIM 20 'trailing' of before at a quarter of its
    #   cost (foot sliding 8.94 vs 9.46)
    reconstruction_guidance=dict(type='ReconstructionGuidance', lr=1.0, num_iters=1, last_steps=5),
    test_cfg=dict(sampler='ddim', num_steps=5, timestep_spacing='quadratic', reconstruction_guidance=True, seed=0),
)

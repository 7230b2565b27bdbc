# The embedded mini-FBM (tools/data/prepare_mini_fbm.py builds it into data/mini_fbm): FBM release layout, mesh
# reference images (3 depicted frames per training window), EfficientNet-Lite0 patch features, MiniLM text features.
_base_ = ['./hoi_references.py']
data_root = '{{$IMAGIN4D_MINI_FBM_ROOT:data/mini_fbm}}'  # env var: another location
# The body models, for the data set, the metrics and the tools (as FBM: <data root>/smpl_all_models/smplx/).
# Another folder: --cfg-options body_model_root=DIR or IMAGIN4D_BODY_MODEL_DIR=DIR (docs/user_guides/datasets.md).
body_model_root = '{{ $IMAGIN4D_BODY_MODEL_DIR: {data_root}/smpl_all_models }}'
train_dataloader = dict(batch_size=16, num_workers=1,
                        dataset=dict(type='FBMDataset', data_root=data_root))
val_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                      dataset=dict(type='FBMDataset', data_root=data_root))
test_dataloader = val_dataloader

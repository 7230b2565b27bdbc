# FBM / OMOMO (CHOIS's data): the release folder as downloaded, in data/fbm (README: data set-up). Reference images
# and feature caches are built by tools/data/render_references.py and tools/data/cache_features.py.
_base_ = ['./hoi_references.py']
data_root = '{{$IMAGIN4D_FBM_ROOT:data/fbm}}'  # env var: another location
# The body models, for the data set, the metrics and the tools (FBM release: <data root>/smpl_all_models/smplx/).
# Another folder: --cfg-options body_model_root=DIR or IMAGIN4D_BODY_MODEL_DIR=DIR (docs/user_guides/datasets.md).
body_model_root = '{{ $IMAGIN4D_BODY_MODEL_DIR: {data_root}/smpl_all_models }}'
train_dataloader = dict(dataset=dict(type='FBMDataset', data_root=data_root))
val_dataloader = dict(dataset=dict(type='FBMDataset', data_root=data_root))
test_dataloader = val_dataloader

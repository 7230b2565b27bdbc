# BEHAVE (release layout in data/behave; converted to Z up on load). Reference images and feature caches are
# built by tools/data/render_references.py --dataset BEHAVEDataset and tools/data/cache_features.py.
_base_ = ['./hoi_references.py']
data_root = '{{$IMAGIN4D_BEHAVE_ROOT:data/behave}}'  # env var: another location
# The body models, for the data set, the metrics and the tools (BEHAVE: <data root>/smplh/).
# Another folder: --cfg-options body_model_root=DIR or IMAGIN4D_BODY_MODEL_DIR=DIR (docs/user_guides/datasets.md).
body_model_root = '{{ $IMAGIN4D_BODY_MODEL_DIR: {data_root} }}'
train_dataloader = dict(dataset=dict(type='BEHAVEDataset', data_root=data_root))
val_dataloader = dict(dataset=dict(type='BEHAVEDataset', data_root=data_root))
test_dataloader = val_dataloader

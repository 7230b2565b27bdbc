# BEHAVE (release layout in data/behave; converted to Z up on load). Reference images and feature caches are
# built by tools/data/render_references.py --dataset BEHAVEDataset and tools/data/cache_features.py.
_base_ = ['./hoi_references.py']
data_root = '{{$IMAGIN4D_BEHAVE_ROOT:data/behave}}'  # env var: another location
train_dataloader = dict(dataset=dict(type='BEHAVEDataset', data_root=data_root))
val_dataloader = dict(dataset=dict(type='BEHAVEDataset', data_root=data_root))
test_dataloader = val_dataloader

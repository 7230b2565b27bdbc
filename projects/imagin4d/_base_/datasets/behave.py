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
# BEHAVE has no sentences: every window of an object carries the same template sentence (BEHAVEDataset.text_template),
# so R-precision and the matching score would only tell which object is handled; the data set says so in its metainfo
# and DistributionMetric leaves them out, with that reason in its log. FID, diversity and multimodality need a BEHAVE
# evaluator (projects/imagin4d/evaluators/behave_evaluator.py, docs/user_guides/behave.md).

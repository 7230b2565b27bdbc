# What every HOI data set config shares: pipelines reading the reference-image and text features from the data root's
# caches, object surface points, packing, and the evaluators. Paths are written relative to the data set's root
# ('{data_root}', filled in from each window by LoadReferenceFeatures and from dataset_meta by the metrics), so the
# per-data-set configs (mini_fbm.py, fbm.py, behave.py) set only the data set type, its root and the loader sizes.
feature_cache = '{data_root}/feature_cache'
reference_style = 'mesh'
# References are rendered at 448 px and read at 448 px: EfficientNet-Lite0 (stride 32) then gives a 14 x 14 patch grid,
# close to the paper's DINOv2 16 x 16; at its native 224 px the grid is 7 x 7, too coarse to tell which hand grasps
# (docs/results/results_mini_fbm_notes.md). tools/data/cache_features.py --config <this config> caches with the same
# backbone.
image_backbone = dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448))
text_feature_encoder = dict(type='MiniLMTextEncoder')
window = 120


def hoi_pipeline(split, style, choice):
    """Reference features of `style` images + text features, object surface points, packing."""
    return [
        dict(type='LoadReferenceFeatures', reference_index=f'{{data_root}}/references/{split}_{style}.json',
             feature_cache=feature_cache, image_backbone=image_backbone, text_encoder=text_feature_encoder,
             choice=choice),
        dict(type='SampleObjectPoints', num_points=100),
        dict(type='PackHOIInputs'),
    ]


train_pipeline = hoi_pipeline('train', reference_style, 'random')
test_pipeline = hoi_pipeline('test', reference_style, 'first')
sketch_train_pipeline = hoi_pipeline('train', 'sketch', 'random')
sketch_test_pipeline = hoi_pipeline('test', 'sketch', 'first')

train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(split='train', window=window, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(split='test', window=window, pipeline=test_pipeline))
test_dataloader = val_dataloader

# Foot sliding on CHOIS's per-sequence floor (estimated from the static toe heights, for the ground truth and the
# generation separately): mini-FBM toes stand 2.6-3.0 cm above z = 0, where the metric's fixed floor (floor_height=0.0)
# reports about a tenth of CHOIS's number. The evaluator's order matters: the benchmark sets
# test_evaluator.2.evaluator_ckpt. Other protocol options: docs/user_guides/evaluation.md.
val_evaluator = [
    dict(type='HOIMotionMetric', floor_height='estimate'),
    dict(type='ImageAdherenceMetric'),
    dict(type='DistributionMetric', evaluator_ckpt=None, feature_cache=feature_cache),
]
test_evaluator = val_evaluator

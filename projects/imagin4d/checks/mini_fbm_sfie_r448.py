# Resolution check of the full model (issue 7, the grasp-side mirror bar): the same model on 448 x 448 reference
# images read by EfficientNet-Lite0 at 448 px (a 14 x 14 patch grid, close to the paper's DINOv2 16 x 16, instead of
# 7 x 7). Needs a mini-FBM whose references were rendered at 448 px and cached at that size:
#   python tools/data/prepare_mini_fbm.py --out data/mini_fbm_r448 --size 448 --styles mesh \
#       --backbone-cfg '{"preprocess": {"size": 448}}'
#   IMAGIN4D_MINI_FBM_ROOT=data/mini_fbm_r448 python tools/train.py projects/imagin4d/checks/mini_fbm_sfie_r448.py
_base_ = ['../mini_fbm_sfie.py']
_backbone = dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448))


def _pipeline(split, choice):   # hoi_references.py's pipeline with the 448-px backbone
    return [dict(type='LoadReferenceFeatures', reference_index=f'{{data_root}}/references/{split}_mesh.json',
                 feature_cache='{data_root}/feature_cache', image_backbone=_backbone,
                 text_encoder=dict(type='MiniLMTextEncoder'), choice=choice),
            dict(type='SampleObjectPoints', num_points=100), dict(type='PackHOIInputs')]


train_dataloader = dict(dataset=dict(pipeline=_pipeline('train', 'random')))
val_dataloader = dict(dataset=dict(pipeline=_pipeline('test', 'first')))
test_dataloader = val_dataloader

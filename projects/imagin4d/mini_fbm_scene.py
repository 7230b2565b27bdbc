# mini-FBM (embedded, CPU-sized): the full IMAGIN-4D trained and tested on `scene` references (the paper's SceneImg
# look made in code: dressed body, textured object, procedural furnished room, varied light). One training domain of
# the domain-transfer study (issue 28) beside mini_fbm_sfie.py (mesh) and mini_fbm_mixture.py (mesh + scene +
# degraded). Build the references first (the existing mesh/sketch images and features are reused):
#   python tools/data/prepare_mini_fbm.py --styles scene degraded --mixture mesh scene degraded
# Test on another domain: point the test pipeline at that domain's index (mesh | scene | sketch | degraded), e.g.
#   python tools/test.py projects/imagin4d/mini_fbm_scene.py CKPT \
#       --cfg-options "test_dataloader.dataset.pipeline.0.reference_index={data_root}/references/test_degraded.json"
_base_ = ['mini_fbm_sfie.py']   # the full model (its encoders and source-separated routing)


def domain_pipeline(split, style, choice):
    """The base configs' reference pipeline (hoi_references.py) reading the `style` index of `split`."""
    return [
        dict(type='LoadReferenceFeatures', reference_index=f'{{data_root}}/references/{split}_{style}.json',
             feature_cache={{_base_.feature_cache}}, image_backbone={{_base_.image_backbone}},
             text_encoder={{_base_.text_feature_encoder}}, choice=choice),
        dict(type='SampleObjectPoints', num_points=100),
        dict(type='PackHOIInputs'),
    ]


# The pipelines of the study's domains (mini_fbm_mixture.py selects its own from these).
scene_train_pipeline = domain_pipeline('train', 'scene', 'random')
scene_test_pipeline = domain_pipeline('test', 'scene', 'first')
mixture_train_pipeline = domain_pipeline('train', 'mixture', 'random')
train_dataloader = dict(dataset=dict(pipeline=scene_train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=scene_test_pipeline))
test_dataloader = val_dataloader

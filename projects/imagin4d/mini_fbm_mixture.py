# mini-FBM (embedded, CPU-sized): the full IMAGIN-4D trained on a mixture of image domains (domain randomisation):
# each training sample draws its reference among every indexed image of its window in the mesh, scene and degraded
# styles (references/train_mixture.json, written by
#   python tools/data/prepare_mini_fbm.py --styles scene degraded --mixture mesh scene degraded),
# so the three domains are equally likely. Validated and tested on mesh references like mini_fbm_sfie.py (the
# mesh-only row of the transfer study); sketch is the held-out domain. Another test domain: see mini_fbm_scene.py.
_base_ = ['mini_fbm_scene.py']

train_dataloader = dict(dataset=dict(pipeline={{_base_.mixture_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader

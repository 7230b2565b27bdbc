# BEHAVE (CHOIS size, GPU schedule): The full IMAGIN-4D on sketch (line-drawing) references: same encoders, sketch
# images, same backbone
# features (own preprocessing is possible through image_backbone).
_base_ = ['behave_sfie.py']   # the full model (its encoders and source-separated routing)

train_dataloader = dict(dataset=dict(pipeline={{_base_.sketch_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.sketch_test_pipeline}}))
test_dataloader = val_dataloader

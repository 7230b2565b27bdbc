# mini-FBM: the full IMAGIN-4D (mini_fbm_sfie.py) plus the plugin's silhouette cue: a 16x16 coverage + shade grid
# of the reference image, encoded into the 'base' AdaLN stream, with its own condition dropout.
# Needs the `silhouette_cue` package importable: `pip install -e plugins/imagin4d_silhouette_cue`, or
# PYTHONPATH=plugins/imagin4d_silhouette_cue/src. Data: IMAGIN4D_MINI_FBM_ROOT (default data/mini_fbm), as the base.
_base_ = ['../../../projects/imagin4d/mini_fbm_sfie.py']

# Imports the plugin when the config is read (registers its classes under their plain names) and records it,
# with its version, in the work-dir log and in checkpoint meta['imagin4d_plugins']. The scope prefix
# 'silhouette_cue.' below would resolve even without it.
custom_imports = dict(imports=['silhouette_cue'], allow_failed_imports=False)

silhouette_grid_size = 16
silhouette_with_shade = True

# After PackHOIInputs: the transform reads reference_image from the packed data sample and adds
# inputs['silhouette'] ((2, 16, 16) here), so PackHOIInputs keeps its default input_keys.
load_silhouette = dict(type='silhouette_cue.LoadReferenceSilhouette', grid_size=silhouette_grid_size,
                       with_shade=silhouette_with_shade)
train_pipeline = [*_base_.train_pipeline, load_silhouette]
test_pipeline = [*_base_.test_pipeline, load_silhouette]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(
    # the key 'silhouette' names the encoder slot ('silhouette_encoder') and the condition source
    extra_encoders=dict(silhouette=dict(type='silhouette_cue.SilhouetteCueEncoder', grid_size=silhouette_grid_size,
                                        in_channels=2 if silhouette_with_shade else 1, out_dim=_base_.width)),
    condition_dropout=dict(silhouette=0.1),     # merged with the base's image=0.1, text=0.1
)

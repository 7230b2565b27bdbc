"""Fixtures of the visualisation tests: evaluated-sample dicts (the tools/test.py --dump format) built from the
prepared mini-FBM test split, with the generated motion equal to the ground truth."""
import numpy as np
import pytest


def build_dataset(root):
    from imagin4d.datasets import FBMDataset
    from imagin4d.datasets.transforms.formatting import PackHOIInputs
    from imagin4d.datasets.transforms.reference_features import LoadReferenceFeatures
    return FBMDataset(data_root=root, split='test', pipeline=[
        LoadReferenceFeatures(reference_index=f'{root}/references/test_mesh.json',
                              feature_cache=f'{root}/feature_cache', text_encoder=dict(type='MiniLMTextEncoder')),
        PackHOIInputs()])


@pytest.fixture(scope='session')
def vis_dataset(mini_fbm_prepared):
    return build_dataset(mini_fbm_prepared)


@pytest.fixture(scope='session')
def vis_samples(vis_dataset):
    """Three dumped samples (numpy dicts): pred_motion = gt_motion, no pred_t_star. Copy before changing."""
    from imagin4d.visualization import sample_to_numpy
    samples = []
    for index in range(3):
        sample = sample_to_numpy(vis_dataset[index]['data_samples'])
        sample['pred_motion'] = np.array(sample['gt_motion'], copy=True)
        samples.append(sample)
    return samples

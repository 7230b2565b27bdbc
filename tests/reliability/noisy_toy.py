"""A toy data set whose samples depend on the random draws of the process that loads them (for the resume tests
with data workers), registered into imagin4d's registries and loaded by configs through `custom_imports`."""
import random

import numpy as np
import torch
from toy_hoi import ToyRegressionDataset

from imagin4d.registry import DATASETS


@DATASETS.register_module()
class NoisyToyDataset(ToyRegressionDataset):
    """`ToyRegressionDataset` with noise on x drawn, per sample, from the global numpy, Python and torch generators
    (as the data transforms' random choices are): in a data worker, from that worker's generators."""

    def __getitem__(self, idx):
        item = super().__getitem__(idx)
        noise = np.random.normal(size=8) + random.random() + torch.rand(8).numpy()
        return dict(inputs=item['inputs'] + torch.as_tensor(noise, dtype=torch.float32), targets=item['targets'])

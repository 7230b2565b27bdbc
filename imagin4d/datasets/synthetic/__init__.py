"""mini-FBM: a procedural, embedded data set in the exact FBM/OMOMO release layout, for tests and the demo.

Owns the public API of `imagin4d.datasets.synthetic`: objects (`OBJECTS`), subjects and the shaped skeleton,
motion synthesis (`synthesize`, `SynthSequence`), the hidden factors (re-exported from
`imagin4d.geometry.interaction_factors`: `recover_factors`, `mirror_motion`)
and the writer (`build_mini_fbm`). The synthesis is pure numpy/torch; only `writer` touches files.
"""
from imagin4d.geometry.interaction_factors import (
                                                   CARRY_HEIGHTS,
                                                   FACTOR_NAMES,
                                                   GRASP_HANDS,
                                                   LAYOUTS,
                                                   classify_height,
                                                   classify_layout,
                                                   mirror_factors,
                                                   mirror_motion,
                                                   recover_factors,
)

from .body import ShapedSkeleton, Subject, sample_subjects
from .factors import LEVEL_NAMES, chance_accuracy, factor_agreement, prior_accuracy, reference_levels
from .motion import SynthesisFailed, SynthSequence, synthesize
from .objects import OBJECT_NAMES, OBJECTS, ObjectSpec, Program
from .placement import feasible_options
from .writer import (
                                                   DEFAULT_NUM_TEST,
                                                   DEFAULT_NUM_TRAIN,
                                                   FACTORS_FILE,
                                                   body_levels,
                                                   build_identity,
                                                   build_mini_fbm,
                                                   load_factors,
                                                   option_distribution,
                                                   sequence_record,
)

__all__ = [
    'OBJECTS', 'OBJECT_NAMES', 'ObjectSpec', 'Program', 'Subject', 'sample_subjects', 'ShapedSkeleton',
    'synthesize', 'SynthSequence', 'SynthesisFailed', 'feasible_options',
    'GRASP_HANDS', 'CARRY_HEIGHTS', 'LAYOUTS', 'FACTOR_NAMES', 'recover_factors', 'classify_height',
    'classify_layout', 'mirror_motion', 'mirror_factors', 'factor_agreement', 'chance_accuracy', 'prior_accuracy',
    'reference_levels', 'LEVEL_NAMES', 'build_mini_fbm', 'load_factors', 'build_identity', 'sequence_record',
    'body_levels', 'option_distribution', 'FACTORS_FILE', 'DEFAULT_NUM_TRAIN', 'DEFAULT_NUM_TEST',
]

"""How hidden are mini-FBM's hidden factors? Predict each factor from the conditions a model gets besides the image.

    python tools/analysis/factor_leak.py [--data-root data/mini_fbm] [--out factor_leak.json]

For the test protocol's windows (the first 120 frames of each sequence) the given condition values are read exactly
as the model sees them at test time (FBMDataset: canonicalised window, CHOIS waypoint mask, object rotations
relative to frame 0): frame 0 object pose, frame 0 human pose, the object xy at frames 29/59/89, the object xyz at
the last frame; and the object's identity with the prompt's action (one-hot). A standardised multinomial logistic
regression is fitted on the training sequences' first windows and scored on the test sequences', for each group of
conditions alone and for all of them. Reference levels: chance (sum of squared value frequencies of the test
split) and the majority value; and the prior, what the object and prompt alone allow: p(true value | object,
action) from the training split on average (a generator that follows those frequencies), and its majority
value. Some objects allow only some values (a table is never carried overhead), and some bodies only some of
those: the no-image ceiling (`body_levels`: the generator's own distribution given the body, the object and the
action, its most probable value) is the most a model without the image can get on average, and the body prior
what sampling that distribution gets. A linear probe of the conditions clearly above the ceiling means they tell
the factor (a leak in the data set); image-adherence gains must be read against the ceiling.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402

from imagin4d.engine.runner_setup import run_cli  # noqa: E402

#: condition groups: name -> (frame selector, codec slices); 'last' is the window's last frame
GROUPS = {
    'frame0_object': ('first', ('obj_com', 'obj_rot')),
    'frame0_human': ('first', ('joints', 'rot6d')),
    'xy_waypoints': ('middle', ('obj_com',)),
    'end_waypoint': ('last', ('obj_com',)),
}
#: the object's identity and the prompt's action, one-hot: what fixes which factor values are possible at all
PROMPT_GROUP = 'object_prompt'


def first_windows(data_root: str, split: str):
    """The first window of every sequence: ({group: (N, F) given values}, [seq_name])."""
    from mmengine.registry import init_default_scope

    from imagin4d.registry import DATASETS
    init_default_scope('imagin4d')
    extra = dict(stride=30) if split == 'train' else {}
    # bps_frame='first' for both splits: the test protocol's object rotation reference, and deterministic (the
    # training default picks a random frame per window, which would make the features depend on iteration order)
    dataset = DATASETS.build(dict(type='FBMDataset', data_root=data_root, split=split, window=120, pipeline=[],
                                  bps_frame='first', **extra))
    slices = dataset.codec.slices
    feats, names = {g: [] for g in GROUPS}, []
    for i in range(len(dataset)):
        if int(dataset.get_data_info(i)['window_start']) != 0:   # assemble only the first windows
            continue
        window = dataset[i]
        mask, values = window['waypoint_mask'].numpy(), window['waypoint_values'].numpy()
        last = int(np.nonzero(mask.any(axis=1))[0].max())
        rows = {'first': [0], 'last': [last], 'middle': [f for f in range(1, last) if mask[f].any()]}
        for group, (which, keys) in GROUPS.items():
            cols = np.concatenate([np.arange(slices[k].start, slices[k].stop) for k in keys])
            block = values[np.ix_(rows[which], cols)]
            feats[group].append(block[mask[np.ix_(rows[which], cols)]])
        names.append(window['seq_name'])
    return {g: np.stack(v) for g, v in feats.items()}, names


def prompt_object_codes(train_keys, test_keys):
    """One-hot codes (N, K) of the (object, action) keys: what the object geometry and the prompt tell."""
    vocab = sorted(set(train_keys) | set(test_keys))
    code = lambda keys: np.array([[k == v for v in vocab] for k in keys], float)  # noqa: E731
    return code(train_keys), code(test_keys)


def leak_table(train, test, y_train, y_test) -> dict:
    """{group or 'all': test accuracy of a logistic regression on that group's conditions}; train / test map the
    group names (GROUPS, and PROMPT_GROUP where given) to (N, F) arrays."""
    from imagin4d.evaluation.functional.probe import linear_probe_accuracy
    out = {}
    groups = [g for g in (*GROUPS, PROMPT_GROUP) if g in train]
    for group in (*groups, 'all'):
        xtr = np.concatenate([train[g] for g in groups], 1) if group == 'all' else train[group]
        xte = np.concatenate([test[g] for g in groups], 1) if group == 'all' else test[group]
        out[group] = linear_probe_accuracy(xtr, y_train, xte, y_test, C=1.0)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--out', help='JSON with the accuracies and chance levels')
    args = parser.parse_args(argv)
    from imagin4d.datasets.synthetic import FACTOR_NAMES, LEVEL_NAMES, body_levels, load_factors, reference_levels
    factors = load_factors(args.data_root)['sequences']
    levels, body = reference_levels(factors), body_levels(args.data_root)
    train, train_names = first_windows(args.data_root, 'train')
    test, test_names = first_windows(args.data_root, 'test')
    keys = {split: [(factors[s]['object'], factors[s]['action']) for s in names]
            for split, names in (('train', train_names), ('test', test_names))}
    train[PROMPT_GROUP], test[PROMPT_GROUP] = prompt_object_codes(keys['train'], keys['test'])
    report = dict(train_windows=len(train_names), test_windows=len(test_names), factors={})
    columns = (*GROUPS, PROMPT_GROUP, 'all')
    print(f'{"factor":14s} ' + ' '.join(f'{g:>14s}' for g in columns) +
          '    chance  majority  prior  prior-majority  body-prior  ceiling')
    for name in FACTOR_NAMES:
        y_train = [factors[s][name] for s in train_names]
        y_test = [factors[s][name] for s in test_names]
        acc = leak_table(train, test, y_train, y_test)
        report['factors'][name] = dict(accuracy=acc, **dict(zip(LEVEL_NAMES, levels[name])),
                                       body_prior=body[name][0], no_image_ceiling=body[name][1])
        chance, majority, prior, prior_majority = levels[name]
        print(f'{name:14s} ' + ' '.join(f'{acc[g]:14.3f}' for g in columns) +
              f'    {chance:.3f}     {majority:.3f}  {prior:.3f}           {prior_majority:.3f}'
              f'       {body[name][0]:.3f}    {body[name][1]:.3f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
        print(f'written: {args.out}')


if __name__ == '__main__':
    run_cli(main)

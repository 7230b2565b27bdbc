"""Building and writing the mini-FBM data root in the exact FBM/OMOMO release layout (what FBMDataset reads).

Owns `build_mini_fbm` (subjects -> sequences -> files, deterministic for a seed, with a progress bar),
`sequence_record` (one `.p` record with the release keys, shapes and dtypes), `build_identity` (what tells two
builds apart, for results kept beside a build), `option_distribution` / `body_levels` (the generator's choice
distribution and the hidden-factor accuracy it allows without the image) and the file layout::

    train_diffusion_manip_seq_joints24.p / test_...   joblib {int: record}, subjects 1-15 / 16-17
    captured_objects/<obj>_cleaned_simplified.obj      template vertices in FBM units (metres / obj_scale)
    omomo_text_anno_json_data/<seq>.json               {"<seq>": "<sentence>"}
    contact_labels_w_semantics_npy_files/<seq>.npy     (T, 4) float32 lh, rh, lf, rf
    smpl_all_models/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz   the free SMPL-X-layout body
    mini_fbm_factors.json                              hidden factors and metadata per sequence
"""
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import time
from collections import Counter
from typing import Dict, Iterable, Tuple

import numpy as np

from imagin4d.geometry.interaction_factors import CARRY_HEIGHTS, GRASP_HANDS, HEIGHT_RULE, LAYOUT_FRONT_DEG, LAYOUTS

from .body import NUM_BETAS_STORED, ShapedSkeleton, Subject, sample_subjects
from .motion import FPS, WINDOW, SynthesisFailed, SynthSequence, synthesize
from .objects import OBJECT_NAMES, OBJECTS
from .placement import feasible_options

__all__ = ['build_mini_fbm', 'sequence_record', 'load_factors', 'build_identity', 'body_levels', 'option_distribution',
           'FACTORS_FILE', 'SEQ_FILE', 'DEFAULT_NUM_TRAIN', 'DEFAULT_NUM_TEST', 'GENERATOR_VERSION']

SEQ_FILE = '{split}_diffusion_manip_seq_joints24.p'
OBJECT_DIR, TEXT_DIR = 'captured_objects', 'omomo_text_anno_json_data'
CONTACT_DIR = 'contact_labels_w_semantics_npy_files'
FACTORS_FILE = 'mini_fbm_factors.json'
DEFAULT_NUM_TRAIN, DEFAULT_NUM_TEST = 360, 96
MAX_ATTEMPTS = 12
#: Bumped when the same seed gives different sequences. 2: the body starts at a distance from the object that
#: tells nothing about the hidden factors and walks to the stance; the object is picked up below and put down
#: below its carry placement; a carried object is back on the floor inside the test window.
GENERATOR_VERSION = 2


def sequence_record(seq: SynthSequence, seq_name: str, skel: ShapedSkeleton) -> dict:
    """The FBM `.p` record of one sequence (keys, shapes and dtypes of docs/user_guides/datasets.md#fbm--omomo)."""
    T = seq.num_frames
    scale = OBJECTS[seq.object_name].scale
    return {
        'seq_name': seq_name,
        'gender': np.array(seq.gender),                                          # 0-d str array
        'betas': np.asarray(seq.betas, np.float64).reshape(1, NUM_BETAS_STORED),  # (1, 16)
        'trans': np.asarray(seq.trans, np.float64),                              # (T, 3)
        'root_orient': np.asarray(seq.root_orient, np.float64),                  # (T, 3)
        'pose_body': np.asarray(seq.pose_body, np.float64),                      # (T, 63)
        'rest_offsets': skel.joints24_rest_offsets().astype(np.float64),          # (24, 3)
        'trans2joint': (-skel.rest[0]).astype(np.float64),                        # (3,): root joint = trans - this
        'obj_trans': np.asarray(seq.obj_trans, np.float32)[:, :, None],          # (T, 3, 1)
        'obj_rot': np.asarray(seq.obj_rot, np.float32),                          # (T, 3, 3)
        'obj_scale': np.full(T, scale, np.float32),                              # (T,)
        'obj_com_pos': np.asarray(seq.obj_centre, np.float32),                   # (T, 3)
    }


def _write_obj(path: str, verts: np.ndarray, faces: np.ndarray) -> None:
    lines = [f'v {x:.6f} {y:.6f} {z:.6f}' for x, y, z in verts]
    lines += [f'f {a + 1} {b + 1} {c + 1}' for a, b, c in faces]
    with open(path, 'w') as f:
        f.write('# mini-FBM procedural object (imagin4d); vertices in FBM template units\n')
        f.write('\n'.join(lines) + '\n')


def _plan(num: int, subjects: Iterable[Subject], seed: int, split: str):
    """(subject, object name) for each of `num` sequences: subjects round-robin; objects in shuffled rounds, so
    every object appears equally often (within one) in a split."""
    subjects = list(subjects)
    rng = np.random.default_rng([seed, 0 if split == 'train' else 1, 77])
    queue, out = [], []
    for i in range(num):
        if not queue:
            queue = rng.permutation(OBJECT_NAMES).tolist()
        out.append((subjects[i % len(subjects)], queue.pop()))
    return out


def _pick_option(options: list, rng: np.random.Generator):
    """A (program, height) drawn factor by factor, so that each factor's values are balanced where the object
    allows: grasp hand uniformly, then layout, then the (program, height) pair."""
    for key in (lambda o: o[0].hands, lambda o: o[0].layout):
        values = sorted({key(o) for o in options})
        chosen = values[int(rng.integers(len(values)))]
        options = [o for o in options if key(o) == chosen]
    return options[int(rng.integers(len(options)))]


def option_distribution(options: list) -> Dict[tuple, float]:
    """{(action, hands, layout, carry height): probability} of the option `_pick_option` draws from `options`
    (the same order: grasp hand uniformly, then layout, then the (program, height) pair)."""
    dist = Counter()
    hands = sorted({o[0].hands for o in options})
    for hand in hands:
        with_hand = [o for o in options if o[0].hands == hand]
        layouts = sorted({o[0].layout for o in with_hand})
        for layout in layouts:
            chosen = [o for o in with_hand if o[0].layout == layout]
            for program, height in chosen:
                dist[(program.action, hand, layout, height)] += 1.0 / (len(hands) * len(layouts) * len(chosen))
    return dict(dist)


def body_levels(data_root: str, split: str = 'test') -> Dict[str, Tuple[float, float]]:
    """{factor: (body prior, no-image ceiling)}: the accuracy levels of knowing everything but the image, for the
    sequences of `split`. For each sequence, the generator's own distribution of the factor given the subject's body,
    the object and the action (`feasible_options` of that body and object, drawn as `_pick_option` draws, restricted
    to the action the prompt names); body prior = mean p(true value) (a model that samples that distribution),
    no-image ceiling = how often its most probable value is the true one (ties split): no model without the image
    does better on average. The bodies are built from the data root's own body model files and the factors file's
    betas."""
    from imagin4d.geometry.interaction_factors import FACTOR_NAMES

    from .factors import distribution_accuracy
    meta = load_factors(data_root)
    model_dir = osp.join(data_root, 'smpl_all_models')
    position = dict(action=0, grasp_hand=1, layout=2, carry_height=3)
    cache, dists, values = {}, {name: [] for name in FACTOR_NAMES}, {name: [] for name in FACTOR_NAMES}
    for seq_name, seq in sorted(meta['sequences'].items()):
        if seq['split'] != split:
            continue
        key = (seq['subject'], seq['object'])
        if key not in cache:
            subject = meta['subjects'][seq['subject']]
            skel = ShapedSkeleton.from_model(model_dir, subject['gender'], np.asarray(subject['betas']))
            cache[key] = option_distribution(feasible_options(OBJECTS[seq['object']], skel))
        joint = {option: p for option, p in cache[key].items() if option[0] == seq['action']}
        if not joint:
            raise ValueError(f'{osp.join(data_root, FACTORS_FILE)}: sequence {seq_name}: the body of '
                             f'{seq["subject"]} has no feasible {seq["action"]} of {seq["object"]} '
                             '(another generator?)')
        total = sum(joint.values())
        for name in FACTOR_NAMES:
            marginal = Counter()
            for option, p in joint.items():
                marginal[option[position[name]]] += p / total
            dists[name].append(dict(marginal))
            values[name].append(seq[name])
    return {name: distribution_accuracy(dists[name], values[name]) for name in FACTOR_NAMES}


def _generate(sub: Subject, obj_name: str, skel: ShapedSkeleton, seed: int, split: str, index: int,
              options_cache: dict, failures: Counter) -> SynthSequence:
    key = (sub.index, obj_name)
    if key not in options_cache:
        options_cache[key] = feasible_options(OBJECTS[obj_name], skel)
    options = options_cache[key]
    if not options:
        raise RuntimeError(f'no feasible interaction for {obj_name} and subject {sub.name}')
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, 0 if split == 'train' else 1, index, attempt])
        program, height = _pick_option(options, rng)
        try:
            return synthesize(OBJECTS[obj_name], program, height, skel, sub.gender, sub.betas, rng)
        except SynthesisFailed as err:
            failures[str(err).split(' (')[0][:60]] += 1
    raise RuntimeError(f'could not synthesise {obj_name} for {sub.name} in {MAX_ATTEMPTS} attempts: {failures}')


def build_mini_fbm(out_dir: str, body_model_dir: str, num_train: int = DEFAULT_NUM_TRAIN,
                   num_test: int = DEFAULT_NUM_TEST, seed: int = 0, progress: bool = True,
                   overwrite: bool = False) -> dict:
    """Generate and write a mini-FBM data root; returns a summary dict (counts, factor histograms, seconds).

    body_model_dir: a folder with smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz (e.g. from
    `imagin4d.body_models.free_body.ensure_free_body_model`); the files are copied into the data root.
    The result depends only on (seed, num_train, num_test) and the body model files.
    """
    import joblib
    import torch
    from tqdm import tqdm

    t0 = time.time()
    if osp.exists(osp.join(out_dir, FACTORS_FILE)) and not overwrite:
        raise FileExistsError(f'{out_dir} already holds a mini-FBM ({FACTORS_FILE}); pass overwrite=True')
    for sub_dir in (OBJECT_DIR, TEXT_DIR, CONTACT_DIR, 'imagin4d_cache'):
        shutil.rmtree(osp.join(out_dir, sub_dir), ignore_errors=True)
    for sub_dir in (OBJECT_DIR, TEXT_DIR, CONTACT_DIR, osp.join('smpl_all_models', 'smplx')):
        os.makedirs(osp.join(out_dir, sub_dir), exist_ok=True)
    for gender in ('NEUTRAL', 'MALE', 'FEMALE'):
        shutil.copyfile(osp.join(body_model_dir, 'smplx', f'SMPLX_{gender}.npz'),
                        osp.join(out_dir, 'smpl_all_models', 'smplx', f'SMPLX_{gender}.npz'))
    for name, spec in OBJECTS.items():
        verts, faces = spec.template()
        _write_obj(osp.join(out_dir, OBJECT_DIR, f'{name}_cleaned_simplified.obj'), verts, faces)

    subjects = sample_subjects(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # small per-sequence tensors: threads only add overhead
    try:
        skels = {s.index: ShapedSkeleton.from_model(body_model_dir, s.gender, s.betas) for s in subjects}
        jobs = [('train', j) for j in _plan(num_train, [s for s in subjects if s.split == 'train'], seed, 'train')]
        jobs += [('test', j) for j in _plan(num_test, [s for s in subjects if s.split == 'test'], seed, 'test')]
        records = {'train': {}, 'test': {}}
        factors, failures, options_cache, counters = {}, Counter(), {}, Counter()
        bar = tqdm(jobs, desc='mini-FBM', unit='seq', disable=not progress)
        for index, (split, (sub, obj_name)) in enumerate(bar):
            seq = _generate(sub, obj_name, skels[sub.index], seed, split, index, options_cache, failures)
            seq_name = f'{sub.name}_{obj_name}_{counters[(sub.index, obj_name)]:03d}'
            counters[(sub.index, obj_name)] += 1
            records[split][len(records[split])] = sequence_record(seq, seq_name, skels[sub.index])
            with open(osp.join(out_dir, TEXT_DIR, f'{seq_name}.json'), 'w') as f:
                json.dump({seq_name: seq.text}, f)
            np.save(osp.join(out_dir, CONTACT_DIR, f'{seq_name}.npy'), seq.contacts.astype(np.float32))
            factors[seq_name] = dict(split=split, subject=sub.name, gender=sub.gender, object=obj_name,
                                     action=seq.action, text=seq.text, num_frames=seq.num_frames,
                                     depicted_frame=seq.depicted_frame, **seq.factors,
                                     phases={k: list(v) for k, v in seq.phases.items()})
    finally:
        torch.set_num_threads(threads)
    for split in ('train', 'test'):
        joblib.dump(records[split], osp.join(out_dir, SEQ_FILE.format(split=split)))
    summary = dict(num_train=len(records['train']), num_test=len(records['test']),
                   histogram={k: dict(Counter(v[k] for v in factors.values()))
                              for k in ('grasp_hand', 'carry_height', 'layout', 'action', 'object')},
                   rejected_plans=dict(failures), seconds=round(time.time() - t0, 1))
    meta = dict(format='mini-fbm-factors', version=GENERATOR_VERSION, seed=seed, num_train=num_train, num_test=num_test,
                window=WINDOW, fps=FPS,
                factor_values=dict(grasp_hand=list(GRASP_HANDS), carry_height=list(CARRY_HEIGHTS),
                                   layout=list(LAYOUTS)),
                rules=dict(height=HEIGHT_RULE, layout_front_deg=LAYOUT_FRONT_DEG,
                           recover='imagin4d.datasets.synthetic.recover_factors'),
                depicted_frame='contact-centred frame of the first 120-frame window (the test protocol)',
                subjects={s.name: dict(gender=s.gender, betas=s.betas.tolist(), split=s.split) for s in subjects},
                objects={n: dict(scale=o.scale, extents_m=o.extents.round(4).tolist()) for n, o in OBJECTS.items()},
                summary=summary, sequences=factors)
    with open(osp.join(out_dir, FACTORS_FILE), 'w') as f:
        json.dump(meta, f, indent=1)
    return summary


def load_factors(data_root: str) -> dict:
    """The `mini_fbm_factors.json` of a data root: {'sequences': {seq_name: {...}}, ...}."""
    path = osp.join(data_root, FACTORS_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist: {data_root} is not a mini-FBM root '
                                '(build one with tools/data/prepare_mini_fbm.py)')
    with open(path) as f:
        return json.load(f)


def build_identity(data_root: str) -> dict:
    """What results measured on a mini-FBM root must share with it to stand for it: the generator version, seed and
    split sizes of `mini_fbm_factors.json`, and a digest of the reference indices (`references/*.json`: which frames
    are depicted, the cameras and the rendered files), which change when the references are rendered differently
    without a new generator version. {} when the root has no factors file.

    The entries are digested as parsed JSON (key order and float formatting do not count) with each camera as its
    `Camera.fingerprint` (rounded to 1e-6, like the render-cache keys that name the image files), so float noise far
    below a pixel does not make another build."""
    if not osp.isfile(osp.join(data_root, FACTORS_FILE)):
        return {}
    from imagin4d.rendering.camera import Camera
    meta = load_factors(data_root)
    identity = {key: meta.get(key) for key in ('version', 'seed', 'num_train', 'num_test')}
    digest = hashlib.sha256()
    for index in sorted(glob.glob(osp.join(data_root, 'references', '*.json'))):
        try:
            with open(index) as f:
                entries = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{index}: not a reference index (invalid JSON: {err})') from None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValueError(f'{index}: expected a reference index (a JSON list of entry objects), got '
                             f'{type(entries).__name__}')
        canonical = [dict(e, camera=Camera.from_dict(e['camera']).fingerprint()) if 'camera' in e else e
                     for e in entries]
        digest.update(osp.basename(index).encode())
        digest.update(json.dumps(canonical, sort_keys=True).encode())
    identity['references'] = digest.hexdigest()[:16]
    return identity

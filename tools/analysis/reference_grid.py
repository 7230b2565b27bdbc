"""A picture of reference images for different hidden factors of a mini-FBM split (mesh and sketch side by side).

    python tools/analysis/reference_grid.py --data-root data/mini_fbm --split test --out docs/mini_fbm_references.png

Needs the references rendered by tools/data/render_references.py (both styles). One column pair per chosen
sequence: sequences are picked to cover every grasp hand, carry height and layout that occur in the split.
"""
import argparse
import json
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from imagin4d.rendering.dataset_references import load_reference_index  # noqa: E402

FACTORS = ('grasp_hand', 'carry_height', 'layout')


def pick_sequences(factors: dict, names, count: int):
    """Greedy cover: each pick adds the most factor values not shown yet (ties: name order)."""
    shown, picks = set(), []
    candidates = sorted(names)
    while candidates and len(picks) < count:
        gain = [len({(f, factors[n][f]) for f in FACTORS} - shown) for n in candidates]
        best = candidates.pop(int(np.argmax(gain)))
        picks.append(best)
        shown |= {(f, factors[best][f]) for f in FACTORS}
    return picks


def labelled(image: np.ndarray, lines) -> np.ndarray:
    size = image.shape[1]
    band = np.full((16 * len(lines) + 6, size, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(band, line, (4, 14 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, band], axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--split', default='test')
    parser.add_argument('--count', type=int, default=6)
    parser.add_argument('--per-row', type=int, default=3)
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    with open(osp.join(args.data_root, 'mini_fbm_factors.json')) as f:
        factors = json.load(f)['sequences']
    refs = {style: {e['seq_name']: e for e in load_reference_index(
        osp.join(args.data_root, 'references', f'{args.split}_{style}.json'))} for style in ('mesh', 'sketch')}
    names = [n for n in refs['mesh'] if n in refs['sketch'] and n in factors]
    cells = []
    for name in pick_sequences(factors, names, args.count):
        fac = factors[name]
        pair = np.concatenate([cv2.cvtColor(cv2.imread(refs[s][name]['image']), cv2.COLOR_BGR2RGB)
                               for s in ('mesh', 'sketch')], axis=1)
        cell = labelled(pair, [f"{fac['object']}: {fac['grasp_hand']} hand(s)",
                               f"height {fac['carry_height']}, object {fac['layout']}",
                               f"{name} t*={refs['mesh'][name]['t_star']}"])
        cells.append(np.pad(cell, ((0, 8), (0, 8), (0, 0)), constant_values=255))
    cells += [np.full_like(cells[0], 255)] * (-len(cells) % args.per_row)
    rows = [np.concatenate(cells[i:i + args.per_row], axis=1) for i in range(0, len(cells), args.per_row)]
    grid = np.concatenate(rows, axis=0)
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f'wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})')


if __name__ == '__main__':
    main()

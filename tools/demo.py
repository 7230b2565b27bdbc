"""The main job of `make demo`: build the embedded mini-FBM data set, train the full model's mini config,
evaluate it and write a report. Parts that have not landed yet are reported, not faked."""
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

MISSING = [
    ('tools/data/make_mini_fbm.py', 'the embedded mini-FBM data set (issue 4)'),
    ('projects/imagin4d/mini_fbm_sfie.py', 'the IMAGIN-4D model and its mini config (issue 5)'),
    ('tools/analysis/run_benchmark.py', 'the evaluation report (issues 6 and 7)'),
]


def main() -> int:
    repo = osp.abspath(osp.join(osp.dirname(__file__), '..'))
    missing = [(path, what) for path, what in MISSING if not osp.exists(osp.join(repo, path))]
    if missing:
        print('make demo: not available yet. The demo needs parts that have not landed:')
        for path, what in missing:
            print(f'  - {what} ({path})')
        print('What works today: `make test`, and training/evaluating any config with tools/train.py and '
              'tools/test.py (see README).')
        return 2
    raise SystemExit('make demo: all parts exist but the demo pipeline is not wired yet')


if __name__ == '__main__':
    sys.exit(main())

"""The benchmark's claim checks: the verdict rules of each kind of claim, applied to the claims of a data file
(`CLAIMS_FILE`: texts, variants, metrics, thresholds), and the chance levels of the hidden factors."""
import json
import math
import os.path as osp
from typing import Optional

import yaml

from .runner import FACTORS, REPO

#: The paper's claims as data (text, the variants and metrics each compares, thresholds), in page order.
CLAIMS_FILE = osp.join(REPO, 'projects', 'imagin4d', 'benchmark_claims.yaml')


def load_claims(path: str = CLAIMS_FILE) -> list:
    """The claims of a claims file: a list of {kind, ...} (kinds: `CHECKS`)."""
    with open(path) as f:
        claims = yaml.safe_load(f)['claims']
    for claim in claims:
        if claim.get('kind') not in CHECKS:
            raise ValueError(f'{path}: unknown claim kind {claim.get("kind")!r}; known: {", ".join(CHECKS)}')
    return claims


def chance_levels(data_root: str) -> dict:
    """Per hidden factor (and their mean), from mini_fbm_factors.json: (chance, majority, prior, prior majority).

    chance: a generator that ignores the image and follows the test split's factor frequencies (sum of squared
    frequencies); majority: always the commonest value; prior: a generator that follows the training split's
    frequencies for the sequence's object and action (the level a model reaches from the object and the prompt
    alone, since some objects allow only some values); prior majority: the commonest value for them. On a built data
    root (with its body model files) two more: body prior and the no-image ceiling (`body_levels`)."""
    path = osp.join(data_root, 'mini_fbm_factors.json')
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        sequences = json.load(f)['sequences']
    from imagin4d.datasets.synthetic import body_levels, reference_levels
    levels = {f'factor_{name}': values for name, values in reference_levels(sequences).items()}
    if osp.isdir(osp.join(data_root, 'smpl_all_models')):     # a real build (not a bare factors file)
        body = body_levels(data_root)
        levels = {key: values + body[key[len('factor_'):]] for key, values in levels.items()}
    size = len(levels[FACTORS[0]])
    levels['factor_accuracy'] = tuple(sum(levels[k][i] for k in FACTORS) / len(FACTORS) for i in range(size))
    return levels


def _value(summary, variant, metric):
    return summary.get(variant, {}).get(metric, (math.nan, math.nan, 0))


def _above(summary, a, b, metric) -> str:
    """'clearly' (gap > the two seed spreads together), 'yes' (gap > 0) or 'NO' for mean(a) > mean(b); with a
    single run on either side there is no spread to judge the gap against, and the verdict says so."""
    (ma, sa, na), (mb, sb, nb) = _value(summary, a, metric), _value(summary, b, metric)
    if math.isnan(ma) or math.isnan(mb):
        return 'not measured'
    gap = ma - mb
    return (f'{_gap_verdict(gap, sa + sb, min(na, nb))} ({ma:.3f} vs {mb:.3f}, gap {gap:+.3f}, '
            f'spreads {sa:.3f} / {sb:.3f})')


def _gap_verdict(gap: float, spread: float, runs: int) -> str:
    """Whether a positive gap stands out: 'clearly' (beyond the seed spread), 'yes, within the seed spread' or
    'NO'; with a single run there is no spread, and the verdict says so."""
    if runs < 2:
        return ('yes' if gap > 0 else 'NO') + ', one run: no seed spread to judge the gap'
    return 'clearly' if gap > spread and gap > 0 else 'yes, within the seed spread' if gap > 0 else 'NO'


def within_spread(a, b) -> Optional[bool]:
    """Whether two (mean, std, runs) agree within their seed spreads together; None when either has < 2 runs."""
    if min(a[2], b[2]) < 2:
        return None
    return abs(a[0] - b[0]) <= a[1] + b[1]


def _close(summary, a, b, metric) -> str:
    """Whether a is about as good as b: the gap is within the two seed spreads together."""
    (ma, sa, na), (mb, sb, nb) = _value(summary, a, metric), _value(summary, b, metric)
    if math.isnan(ma) or math.isnan(mb):
        return 'not measured'
    gap = ma - mb
    close = within_spread((ma, sa, na), (mb, sb, nb))
    verdict = 'cannot judge, one run: no seed spread' if close is None else 'yes' if close else 'NO'
    return f'{verdict} ({ma:.3f} vs {mb:.3f}, gap {gap:+.3f}, spreads {sa:.3f} / {sb:.3f})'


def ordering_lines(claim: dict, summary: dict, chance: dict) -> list:
    """Per metric, each (better, worse) pair: better > worse (`_above`)."""
    lines = []
    for metric in claim['metrics']:
        parts = [f'{a} > {b}: {_above(summary, a, b, metric)}' for a, b in claim['pairs']]
        lines.append(f'- {claim["claim"].format(metric=metric)}: ' + '; '.join(parts) + '.')
    return lines


def at_level_lines(claim: dict, summary: dict, chance: dict) -> list:
    """The claim "no image at chance on the hidden factors" and the image models' distance from that level. With the
    body levels (6-tuples of `chance_levels`) the verdict is against the no-image ceiling (no model without the image
    does better on average: above it means the conditions leak the factor); without them against the object-action
    prior. Within the seed spread or the claim's tolerance counts as at the level. No chance levels: no lines."""
    if 'factor_accuracy' not in chance:
        return []
    body = len(chance['factor_accuracy']) == 6
    level, name = (5, claim['level_names']['ceiling']) if body else (2, claim['level_names']['prior'])
    parts = []
    for key in claim['metrics']:
        mean, std, _ = _value(summary, claim['variant'], key)
        ref = chance[key][level]
        close = abs(mean - ref) <= max(std, claim['tolerance'])
        if math.isnan(mean):
            verdict = 'not measured'
        elif body:
            verdict = f'at {name}' if close else f'below {name}' if mean < ref else f'ABOVE {name} (a leak)'
        else:
            verdict = f'at {name}' if close else f'above {name}' if mean > ref else f'below {name}'
        levels = (f'ceiling {chance[key][5]:.3f}, body prior {chance[key][4]:.3f}; ' if body else '') + (
            f'object-action prior {chance[key][2]:.3f}, prior majority {chance[key][3]:.3f}; chance '
            f'{chance[key][0]:.3f}, majority {chance[key][1]:.3f}')
        parts.append(f'{key} {mean:.3f} ± {std:.3f}: {verdict} ({levels})')
    intro = claim['claim_ceiling' if body else 'claim_prior'].format(tolerance=claim['tolerance'])
    lines = [f'- {intro}: ' + '; '.join(parts) + '.']
    above = claim['above']
    for variant in above['variants']:
        mean, std, runs = _value(summary, variant, above['metric'])
        if math.isnan(mean):
            continue
        ref = chance[above['metric']][level]
        text = above['claim'].format(metric=above['metric'], variant=variant, level=name)
        lines.append(f'- {text}: {_gap_verdict(mean - ref, std, runs)} ({mean:.3f} ± {std:.3f} vs {ref:.3f}).')
    return lines


def within_ratio_lines(claim: dict, summary: dict, chance: dict) -> list:
    """Per variant and metric: mean <= max_ratio x the baseline's mean (an error that may grow by that much)."""
    lines = []
    ratio, unit = claim['max_ratio'], claim['unit']
    for variant, name in claim['variants'].items():
        for metric in claim['metrics']:
            text = claim['claim'].format(metric=metric, name=name, percent=f'{ratio - 1:.0%}')
            full, base = _value(summary, variant, metric)[0], _value(summary, claim['baseline'], metric)[0]
            if math.isnan(full) or math.isnan(base):
                lines.append(f'- {text}: not measured.')
                continue
            verdict = 'yes' if full <= ratio * base else 'NO'
            lines.append(f'- {text}: {verdict} ({full:.1f} vs {base:.1f} {unit}, {100 * (full / base - 1):+.0f}%).')
    return lines


def at_least_lines(claim: dict, summary: dict, chance: dict) -> list:
    """Per metric of the variant: mean >= bar, 'clearly' when above it by more than the seed spread; unmeasured
    metrics get no line."""
    lines, bar = [], claim['bar']
    for metric in claim['metrics']:
        value, spread, runs = _value(summary, claim['variant'], metric)
        if not math.isnan(value):   # 'clearly' when the mean is above the bar by more than the seed spread
            verdict = 'yes' if value == bar else _gap_verdict(value - bar, spread, runs)
            lines.append(f'- {claim["claim"].format(metric=metric, bar=bar)}: {verdict} ({value:.3f} ± '
                         f'{spread:.3f} over {runs} seed{"s" if runs > 1 else ""}).')
    return lines


def about_equal_lines(claim: dict, summary: dict, chance: dict) -> list:
    """Per metric: the variant about as good as the reference (`_close`)."""
    return [f'- {claim["claim"].format(metric=metric)}: '
            f'{_close(summary, claim["variant"], claim["reference"], metric)}.' for metric in claim['metrics']]


def check_lines(claim: dict, summary: dict, chance: dict) -> list:
    """A check of a cause, only when its variant has run: its text with the verdict of each comparison."""
    if claim['when_run'] not in summary:
        return []
    verdicts = [_above(summary, a, b, metric) for a, b, metric in claim['comparisons']]
    return ['- ' + claim['text'].format(*verdicts)]


#: kind of claim -> its check: (claim, summary, chance levels) -> page lines.
CHECKS = dict(ordering=ordering_lines, at_level=at_level_lines, within_ratio=within_ratio_lines,
              at_least=at_least_lines, about_equal=about_equal_lines, check=check_lines)


def claim_lines(summary: dict, chance: dict, claims: Optional[list] = None) -> list:
    """The claims (default: those of `CLAIMS_FILE`), each with its verdict, as the results page's lines.

    Args:
        summary: {variant: {metric: (mean, std, runs)}} (`read_summary`).
        chance: the chance levels of the hidden factors (`chance_levels`; {} when unknown).
    """
    lines = []
    for claim in load_claims() if claims is None else claims:
        lines += CHECKS[claim['kind']](claim, summary, chance)
    return lines

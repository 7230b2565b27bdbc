"""Metric sweeps: parse `--sweep model.test_cfg.KEY=v1,v2` specs, expand their Cartesian product, apply one
setting to a built model, and write the result rows as CSV and Markdown."""
import ast
import csv
import itertools
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from imagin4d.utils.errors import UserError


def parse_value(text: str) -> Any:
    """'2.5' -> 2.5, 'True' -> True, 'ddim' -> 'ddim' (Python literals, else the string)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_sweep_specs(specs: Sequence[str]) -> List[Tuple[str, list]]:
    """['model.test_cfg.steps=10,50'] -> [('model.test_cfg.steps', [10, 50])]; repeated keys are an error."""
    parsed, seen = [], set()
    for spec in specs:
        key, sep, values = spec.partition('=')
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UserError(f"--sweep expects KEY=v1,v2,...; got '{spec}'")
        if not key.startswith('model.'):
            raise UserError(f"--sweep keys must address the built model (model.test_cfg.KEY); got '{key}'")
        if key in seen:
            raise UserError(f"--sweep key '{key}' given twice")
        seen.add(key)
        parsed.append((key, [parse_value(v.strip()) for v in values.split(',')]))
    return parsed


def expand_grid(parsed: Sequence[Tuple[str, list]]) -> List[Dict[str, Any]]:
    """Cartesian product of the parsed specs, first key varying slowest."""
    keys = [k for k, _ in parsed]
    return [dict(zip(keys, combo)) for combo in itertools.product(*[v for _, v in parsed])]


def apply_setting(model, key: str, value: Any) -> None:
    """Set `model.a.b.c = value` on a built model; dict-like parts are indexed, others use attributes.

    The last part must already exist, so a typo fails loudly instead of creating an unused setting.
    """
    node = getattr(model, 'module', model)  # unwrap DDP
    parts = key.split('.')[1:]
    for depth, part in enumerate(parts):
        is_last = depth == len(parts) - 1
        exists = (part in node) if isinstance(node, dict) else hasattr(node, part)
        if not exists:
            where = 'model.' + '.'.join(parts[:depth]) if depth else 'model'
            available = sorted(node.keys()) if isinstance(node, dict) else \
                sorted(n for n in vars(node) if not n.startswith('_'))[:30]
            raise UserError(f"--sweep key '{key}': '{part}' not found in {where}; available: {available}")
        if is_last:
            if isinstance(node, dict):
                node[part] = value
            else:
                setattr(node, part, value)
        else:
            node = node[part] if isinstance(node, dict) else getattr(node, part)


def _fmt(value: Any) -> str:
    return f'{value:.4g}' if isinstance(value, float) else str(value)


def write_table(rows: List[Dict[str, Any]], prefix: Path) -> Tuple[Path, Path]:
    """Write rows (settings + metrics) to `prefix`.csv and `prefix`.md; columns in first-seen order."""
    columns = list(dict.fromkeys(col for row in rows for col in row))
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = prefix.with_suffix('.csv'), prefix.with_suffix('.md')
    with open(csv_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(_fmt(row.get(c, '')) for c in columns) + ' |' for row in rows]
    md_path.write_text('\n'.join(lines) + '\n')
    return csv_path, md_path

"""Benchmark: the attention backends of imagin4d.models.layers on this machine (forward time, median of repeats).

Writes benchmarks/results/attention_backends.{json,md} with the machine, the command and the numbers.
Usage: python benchmarks/attention_backends.py [--repeats 30]
"""
import argparse
import json
from pathlib import Path

import torch
from bench_common import command_line, machine_info, timed

from imagin4d.models.layers import attention, available_backends

SHAPES = [  # (name, B, Lq, Lk, H, D): denoiser self-attention at the mini and FBM sizes, image cross-attention
    ('self-attn mini (B8, T120, H4, D32)', 8, 120, 120, 4, 32),
    ('self-attn FBM (B32, T120, H8, D64)', 32, 120, 120, 8, 64),
    ('cross-attn patches (B32, T120 -> 49, H8, D64)', 32, 120, 49, 8, 64),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'attention_backends'))
    args = parser.parse_args()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    rows = []
    for name, b, lq, lk, h, d in SHAPES:
        q = torch.randn(b, lq, h, d, device=device)
        k, v = torch.randn(b, lk, h, d, device=device), torch.randn(b, lk, h, d, device=device)
        mask = torch.ones(b, lk, dtype=torch.bool, device=device)
        mask[:, lk - lk // 4:] = False
        row = dict(shape=name)
        for backend in available_backends():
            try:
                with torch.no_grad():
                    row[backend] = 1e3 * timed(lambda: attention(q, k, v, mask, backend=backend), args.repeats)[0]
            except ValueError:
                row[backend] = None  # constraints not met on this machine (e.g. xformers on a CPU)
        rows.append(row)
    machine = machine_info(device=device if device == 'cpu' else torch.cuda.get_device_name())
    result = dict(command=command_line(), machine=machine,
                  unit='ms per forward (median)', repeats=args.repeats, rows=rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(result, indent=2))
    backends = [k for k in rows[0] if k != 'shape']
    title = f'{machine["device"]}, {machine["torch_threads"]} threads, torch {machine["torch"]}'
    lines = [f'# Attention backends ({title})',
             '', f'Command: `{result["command"]}`; {result["unit"]} over {args.repeats} repeats; 25% of keys masked.',
             '', '| shape | ' + ' | '.join(backends) + ' | math / sdpa |', '|' + '---|' * (len(backends) + 2)]
    for row in rows:
        cells = ['n/a' if row[b] is None else f'{row[b]:.2f}' for b in backends]
        ratio = row['math'] / row['sdpa'] if row.get('sdpa') else float('nan')
        lines.append(f'| {row["shape"]} | ' + ' | '.join(cells) + f' | {ratio:.2f} |')
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()

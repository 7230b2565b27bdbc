"""Benchmark: the attention backends of imagin4d.models.layers on this machine (forward time, median of repeats, and
each backend's largest difference from the `math` reference on the same inputs).

Writes benchmarks/results/attention_backends.{json,md} with the machine, the command and the numbers.
Usage: python benchmarks/attention_backends.py [--repeats 30]
"""
import argparse
import json
from pathlib import Path

import torch
from bench_common import command_line, machine_info, synchronize, timed

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
    parser.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16', 'float16'],
                        help='of q, k and v (the math reference computes in it too)')
    args = parser.parse_args()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    dtype = getattr(torch, args.dtype)
    rows = []
    for name, b, lq, lk, h, d in SHAPES:
        q = torch.randn(b, lq, h, d, device=device, dtype=dtype)
        k, v = (torch.randn(b, lk, h, d, device=device, dtype=dtype) for _ in range(2))
        mask = torch.ones(b, lk, dtype=torch.bool, device=device)
        mask[:, lk - lk // 4:] = False
        row, diff = dict(shape=name), {}
        with torch.no_grad():
            reference = attention(q, k, v, mask, backend='math')
            for backend in available_backends():
                def forward():
                    attention(q, k, v, mask, backend=backend)
                    synchronize(device)
                try:
                    diff[backend] = float((attention(q, k, v, mask, backend=backend) - reference).abs().max())
                    row[backend] = 1e3 * timed(forward, args.repeats)[0]
                except ValueError:
                    row[backend] = None  # constraints not met on this machine (e.g. xformers on a CPU)
        row['max_abs_diff_vs_math'] = diff
        rows.append(row)
    machine = machine_info(device=device if device == 'cpu' else torch.cuda.get_device_name())
    result = dict(command=command_line(), machine=machine,
                  unit='ms per forward (median)', repeats=args.repeats, rows=rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(result, indent=2))
    backends = [k for k in rows[0] if k not in ('shape', 'max_abs_diff_vs_math')]
    title = f'{machine["device"]}, {args.dtype}, {machine["torch_threads"]} threads, torch {machine["torch"]}'
    lines = [f'# Attention backends ({title})',
             '', f'Command: `{result["command"]}`; {result["unit"]} over {args.repeats} repeats; 25% of keys masked.',
             '', '| shape | ' + ' | '.join(backends) + ' | math / sdpa | largest difference from math |',
             '|' + '---|' * (len(backends) + 3)]
    for row in rows:
        cells = ['n/a' if row[b] is None else f'{row[b]:.2f}' for b in backends]
        ratio = row['math'] / row['sdpa'] if row.get('sdpa') else float('nan')
        diffs = ', '.join(f'{b} {d:.1e}' for b, d in row['max_abs_diff_vs_math'].items() if b != 'math')
        lines.append(f'| {row["shape"]} | ' + ' | '.join(cells) + f' | {ratio:.2f} | {diffs} |')
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()

"""The real workload of HOIDiffusion on the CPU: training steps of a trained checkpoint on real batches, the cost of
generation per request and per sampling step, and where the image cues' extra training cost goes (issue 23).

    IMAGIN4D_MINI_FBM_ROOT=data/mini_fbm_demo IMAGIN4D_BODY_MODEL_DIR=data/body_models \\
        python benchmarks/training_step.py [--checkpoint work_dirs/demo/iter_500.pth] [--repeats 5] [--threads 1]
        [--parts real generation breakdown absorbed lean bound] [--sizes mini fbm] [--tag cpu]

Parts (each measured side by side in one process: the variants of a part are interleaved, repeat by repeat, and
the medians are compared as ratios; the load average is recorded before and after every part):
- real: one training step (data preprocessor, forward, backward, gradient clipping, AdamW step: the model's own
  `train_step` with the config's optimiser wrapper) of the mini full model on batches of the config's train loader,
  with subnormal floats flushed (`denormals_flushed`) and not, for (a) the checkpoint's weights AND optimiser state,
  (b) fresh weights on the same real batches, (c) the checkpoint on a synthetic batch of the real shapes (the
  throughput benchmark's). Before every timed step the weights and optimiser state are restored and the RNG reseeded,
  so every variant times the same computation. Also a census of the subnormal values in the parameters, the Adam
  moments and the gradients of every module output (forward hooks) of one real step.
- generation: the once-per-request cost (the frozen text and image backbones on one sentence and one 448-px
  picture, then the model's condition encoders `encode`) and the per-step cost of sampling (one `denoise` call under
  the config's guidance: one pass, or one per guided source plus one) for the mini and the FBM-size full model, at
  batch 1 and 8. The FBM size uses random weights and a synthetic batch of the real shapes (no FBM data here).
- breakdown: per-component time (torch.profiler; forward ops by the module that ran them, backward ops by the module
  whose forward op created their autograd node) and FLOPs (FlopCounterMode, forward + backward) of one training step
  of the full model (today's and the lean one) and of the no-image model, at the mini and the FBM size (synthetic
  batch of the real shapes, flushed).
- absorbed: the absorbed few-query cross-attention against the dispatch path (the same function).
- lean: the lean image cues (issue 23): old full (`*_sfie.py`) / new full (`*_sfie_lean.py`) / no image, one
  training step each, interleaved, on a synthetic batch and on real batches, with their FLOPs, at both sizes.
- bound: what bounds the step's rate against the fp32 matmul peak (training_step_bound.py): the self time of one
  profiled step per class of op (matmuls with their FLOPs, attention, optimiser, norms, copies, elementwise), the
  time outside the ops (Python, dispatch), and the step's matmuls at the rate their shapes reach alone.
- precision: fp32 against bf16 autocast training (`train_autocast`, `--amp`) for the full, the lean full and the
  no-image model at both sizes, on real batches (training_step_precision.py).
- dropout: torch's dropout against the 16-bit-mask dropout (`imagin4d.models.layers.dropout`) in the training step
  of the lean full and the no-image mini model, fp32 and bf16, on real batches (training_step_precision.py).
Writes benchmarks/results/training_step_<tag>.{json,md}. The parts live in training_step_real.py (real,
generation), training_step_cost.py (breakdown, absorbed, lean), training_step_bound.py (bound),
training_step_precision.py (precision, dropout) and training_step_report.py (the page); training_step_common.py has
what they share.
"""
import argparse
import json
import os
import sys

import torch
from bench_common import REPO, machine_info
from training_step_bound import part_bound
from training_step_cost import part_absorbed, part_breakdown, part_lean
from training_step_precision import part_dropout, part_precision
from training_step_real import part_generation, part_real
from training_step_report import write_report

PARTS = ('real', 'generation', 'breakdown', 'absorbed', 'lean', 'bound', 'precision', 'dropout')


def main():
    os.chdir(REPO)                                  # paths of the arguments and the results are the repository's
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', default='work_dirs/demo/iter_500.pth', help='relative to the repository')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch', type=int, default=16, help='batch of the breakdown part')
    parser.add_argument('--parts', nargs='+', default=list(PARTS), choices=list(PARTS))
    parser.add_argument('--sizes', nargs='+', default=['mini', 'fbm'], choices=['mini', 'fbm'],
                        help='model sizes of the generation and breakdown parts')
    parser.add_argument('--tag', default='cpu')
    parser.add_argument('--out-dir', default=str(REPO / 'benchmarks' / 'results'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from pathlib import Path
    out = Path(args.out_dir) / f'training_step_{args.tag}'
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = {'real': lambda: part_real(args.checkpoint, args.repeats),
            'generation': lambda: part_generation(args.repeats, args.sizes),
            'breakdown': lambda: part_breakdown(args.batch, args.sizes),
            'absorbed': lambda: part_absorbed(args.checkpoint, args.repeats, args.sizes),
            'lean': lambda: part_lean(args.repeats, args.sizes, args.batch),
            'bound': lambda: part_bound(args.batch),
            'precision': lambda: part_precision(args.repeats, args.sizes),
            'dropout': lambda: part_dropout(args.repeats)}
    record = {}
    for part in [p for p in args.parts if p in runs]:        # in the order given; the page is written after each
        record[part] = runs[part]()
        record['machine'] = machine_info(command=' '.join(sys.argv))
        out.with_suffix('.json').write_text(json.dumps(record, indent=1, default=str))
        write_report(record, out)

if __name__ == '__main__':
    main()

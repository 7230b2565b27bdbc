"""Training and sampling speed of HOIDiffusion (full IMAGIN-4D and the no-image baseline) at the mini and FBM sizes.

    python benchmarks/model_throughput.py [--threads 1] [--batch 16] [--repeats 5] [--device cpu]
        [--precision fp32 [bf16]] [--attn-backend auto [sdpa xformers]] [--gen-batch 8 ...] [--only CONFIG ...]
        [--tag TAG] [--out-dir DIR]

Per model and precision: training iterations/s (forward + backward + AdamW step on a synthetic batch of the real
shapes; data loading excluded), model FLOPs per training step (torch's FlopCounterMode: matmuls, attention,
convolutions), the fraction of this machine's measured fp32 matrix-multiply peak that the step reaches, the first
step's loss (the same weights and batch in every precision: bf16 against fp32 is the agreement), the peak GPU memory,
and the seconds of generation per batch size (DDIM, the config's step count; the frozen image / text backbones,
once per request, are not in it). `bf16` trains with `train_autocast='bfloat16'`, what `tools/train.py --amp` sets
(the networks in bf16 autocast, the losses in fp32), and generates under `torch.autocast(bfloat16)`. Writes
benchmarks/results/model_throughput_<tag>.{json,md} (tag: the device unless given).
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from bench_common import REPO, machine_info, synchronize, timed

sys.path.insert(0, str(REPO))

CONFIGS = [('mini', 'mini_fbm_sfie'), ('mini', 'mini_fbm_no_image'), ('fbm', 'fbm_sfie'), ('fbm', 'fbm_no_image')]


def matmul_peak(device: str, n: int = 1024, repeats: int = 5) -> float:
    """Measured fp32 GFLOP/s of an n x n matmul (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)

    def run():
        (a @ b).sum().item()
    median, _ = timed(run, repeats)
    return 2 * n ** 3 / median / 1e9


def default_patch_count() -> int:
    """Patch tokens per reference image that the configs' backbone gives (EfficientNet-Lite0, stride 32: 14 x 14
    at 448 px)."""
    from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
    return (DEFAULT_IMAGE_BACKBONE['preprocess']['size'] // 32) ** 2


def synthetic_batch(batch: int, frames: int = 120, patches: int = None, image_dim: int = 1280, text_len: int = 16,
                    device: str = 'cpu') -> dict:
    patches = patches or default_patch_count()
    g = torch.Generator().manual_seed(0)
    motion = torch.rand(batch, frames, 220, generator=g) * 2 - 1
    mask = torch.zeros(batch, frames, 220, dtype=torch.bool)
    mask[:, 0, :84] = True
    inputs = dict(motion=motion, frame_mask=torch.ones(batch, frames, dtype=torch.bool), num_frames=frames,
                  waypoint_mask=mask, waypoint_values=motion * mask, bps=torch.randn(batch, 1024, 3, generator=g),
                  image_patch=torch.randn(batch, patches, image_dim, generator=g),
                  image_pooled=torch.randn(batch, image_dim, generator=g),
                  text_pooled=torch.randn(batch, 384, generator=g), text_tokens=torch.randn(batch, text_len, 384,
                                                                                            generator=g),
                  text_mask=torch.ones(batch, text_len, dtype=torch.bool),
                  object_points=torch.randn(batch, 100, 3, generator=g) * 0.2, obj_scale=torch.ones(batch, frames),
                  obj_ref_rot=torch.eye(3).expand(batch, 3, 3).clone(),
                  rest_joints24=torch.randn(batch, 24, 3, generator=g) * 0.3,
                  t_star=torch.randint(0, frames, (batch,), generator=g))
    return {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in inputs.items()}


def build_model(name: str, device: str):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from imagin4d.registry import MODELS
    init_default_scope('imagin4d')
    cfg = Config.fromfile(str(REPO / 'projects' / 'imagin4d' / f'{name}.py'))
    torch.manual_seed(0)                 # the same initial weights in every precision
    model = MODELS.build(cfg.model).to(device)
    stats = {f'{n}_{e}': torch.full((3 if n == 'obj_com' else 72,), -1.0 if e == 'min' else 1.0)
             for n in ('obj_com', 'joints') for e in ('min', 'max')}
    model.data_preprocessor.set_stats(stats)
    return model


def bench_one(size: str, name: str, batch: int, repeats: int, device: str, peak: float, precision: str = 'fp32',
              gen_batches=(8,), attn_backend: str = 'auto') -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from imagin4d.models.layers import set_attn_backend
    model = set_attn_backend(build_model(name, device), attn_backend)
    inputs = synthetic_batch(batch, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast(device.split(':')[0], dtype=torch.bfloat16, enabled=precision == 'bf16')
    model.train_autocast = 'bfloat16' if precision == 'bf16' else None
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()

    def train_step():
        losses = model(inputs, None, mode='loss')
        loss = sum(losses.values())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        synchronize(device)
        return float(loss)

    torch.manual_seed(0)                 # the diffusion noise and timesteps of the first step
    with FlopCounterMode(display=False) as counter:
        first_loss = train_step()
    flops = counter.get_total_flops()
    step_s, _ = timed(train_step, repeats)
    model.eval()
    steps = int(model.test_cfg['num_steps'])
    gen = {}
    for gen_batch in gen_batches:
        gen_inputs = synthetic_batch(gen_batch, device=device)

        def generate():
            with autocast:
                model.generate(gen_inputs)
            synchronize(device)
        gen[gen_batch] = round(timed(generate, max(2, repeats // 2))[0], 3)
    params = sum(p.numel() for p in model.parameters())
    peak_mb = round(torch.cuda.max_memory_allocated() / 2 ** 20) if device.startswith('cuda') else None
    return dict(size=size, config=name, precision=precision, attn_backend=attn_backend, batch=batch,
                params_m=round(params / 1e6, 2),
                first_loss=round(first_loss, 5), train_iter_s=round(step_s, 4), train_iters_per_s=round(1 / step_s, 3),
                train_samples_per_s=round(batch / step_s, 2), gflops_per_step=round(flops / 1e9, 2),
                achieved_gflops=round(flops / step_s / 1e9, 2),
                fraction_of_matmul_peak=round(flops / step_s / 1e9 / peak, 3), peak_gpu_mb=peak_mb,
                ddim_steps=steps, **{f'gen_s_batch{b}': t for b, t in gen.items()},
                **{f'gen_samples_per_s_batch{b}': round(b / t, 3) for b, t in gen.items()})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--only', nargs='*', default=None, help='config names to run (default: all four)')
    parser.add_argument('--precision', nargs='+', default=['fp32'], choices=['fp32', 'bf16'],
                        help='bf16: training with train_autocast=bfloat16 (tools/train.py --amp), generation under '
                             'torch.autocast(bfloat16)')
    parser.add_argument('--gen-batch', type=int, nargs='+', default=[8], help='batch sizes of the generation timing')
    parser.add_argument('--attn-backend', nargs='+', default=['auto'],
                        help="attention backends of every layer, each a row ('auto': xformers on CUDA when it imports, "
                             'else sdpa; sdpa, math, xformers)')
    parser.add_argument('--tag', default=None, help='results file name suffix (default: the device)')
    parser.add_argument('--out-dir', default=str(REPO / 'benchmarks' / 'results'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak(args.device)
    rows = [bench_one(size, name, args.batch, args.repeats, args.device, peak, precision, args.gen_batch, backend)
            for size, name in CONFIGS if not args.only or name in args.only for precision in args.precision
            for backend in args.attn_backend]
    info = machine_info(command=' '.join(sys.argv), matmul_peak_gflops=round(peak, 2))
    out = Path(args.out_dir) / f'model_throughput_{args.tag or args.device.replace(":", "")}'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(dict(machine=info, rows=rows), indent=1))
    keys = list(rows[0])
    gpu = f', GPU {info["cuda"]}' if args.device.startswith('cuda') and info.get('cuda') else ''
    lines = [f'# HOIDiffusion training / sampling throughput ({args.device})', '',
             f'Command: `{info["command"]}`  ', f'Machine: {info["cpu"]}, {info["logical_cores"]} logical cores'
             f'{gpu}, torch {info["torch"]}, {args.threads} thread(s), load {info["load_average_1_5_15"]}  ',
             f'Measured fp32 matmul peak (1024^3): {peak:.1f} GFLOP/s. Medians of {args.repeats} steps; synthetic '
             f'batches of the real shapes ({default_patch_count()} image patches; data loading excluded).', '',
             '| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)]
    lines += ['| ' + ' | '.join(str(r[k]) for k in keys) + ' |' for r in rows]
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()

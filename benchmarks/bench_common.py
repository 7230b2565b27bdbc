"""What every benchmark shares: median wall-clock timing and a description of the machine it ran on."""
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int, warmup: int = 1):
    """(median seconds, all seconds) of `fn()` over `repeats` runs after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def synchronize(device) -> None:
    """Wait for the device's queued work (CUDA kernels run asynchronously: a timer must wait for them).
    device: a torch.device or its name; nothing to wait for on the CPU."""
    if str(device).startswith('cuda'):
        import torch
        torch.cuda.synchronize()


def command_line() -> str:
    """This benchmark's command as a user types it from the repository root (no interpreter or machine paths)."""
    import shlex
    import sys
    script = Path(sys.argv[0]).resolve()
    script = script.relative_to(REPO) if script.is_relative_to(REPO) else Path(script.name)
    return ' '.join(shlex.quote(a) for a in ['python', str(script), *sys.argv[1:]])


def machine_info(**extra) -> dict:
    """CPU model, cores, threads, library versions, load average and git commit (plus `extra`)."""
    import numpy as np
    import torch
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')), cpu)
    except OSError:
        pass
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    info = dict(cpu=cpu, logical_cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
                cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                python=platform.python_version(), torch=torch.__version__, numpy=np.__version__,
                platform=platform.platform(), git_commit=commit,
                load_average_1_5_15=[round(v, 2) for v in os.getloadavg()] if hasattr(os, 'getloadavg') else None)
    info.update(extra)
    return info

"""What every benchmark shares: median wall-clock timing, a description of the machine it ran on, and runs of one
script's child mode in two source trees, alternating."""
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


def alternate_trees(script: str, old_tree, old_name: str, rounds: int, child_args: list):
    """Run `python script --child TREE *child_args` for the old worktree (when given, named `old_name`) and this
    checkout ('new'), in turns, `rounds` times, each in its own process run from this checkout (so the data and
    config are this checkout's). Returns (trees {name: path}, runs: each run's last stdout line as a JSON record
    with its tree's `name`, machine info with the load average before and after)."""
    import json
    import sys
    trees = {old_name: str(Path(old_tree).resolve())} if old_tree else {}
    trees['new'] = str(REPO)
    info = machine_info(command=command_line())
    runs = []
    for _ in range(rounds):
        for name, tree in trees.items():
            out = subprocess.run([sys.executable, script, '--child', tree, *map(str, child_args)], cwd=REPO,
                                 check=True, capture_output=True, text=True, env=dict(os.environ)).stdout
            runs.append(dict(json.loads(out.strip().splitlines()[-1]), name=name))
    info['load_average_at_end'] = [round(v, 2) for v in os.getloadavg()]
    return trees, runs, info


def write_results(out: str, record: dict, page: str) -> None:
    """`out`.json (the record) and `out`.md (the page; also printed); `out` relative to the repository or absolute."""
    import json
    path = Path(out if os.path.isabs(out) else REPO / out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix('.json').write_text(json.dumps(record, indent=1))
    path.with_suffix('.md').write_text(page)
    print(page)


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

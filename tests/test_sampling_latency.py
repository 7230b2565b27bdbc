"""benchmarks/sampling_latency.py runs end to end at a tiny size: one row per model, batch and setting, a loop too long
for --full-limit extrapolated from its timed steps (recomputed here), and the page says how each number was made."""
import json

import pytest
from generation_model import untrained_checkpoint
from testing_utils import REPO, run_tool


@pytest.mark.slow
def test_latency_rows_and_extrapolation(mini_fbm_prepared, tmp_path):
    config = REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie.py'
    ckpt = untrained_checkpoint(str(config), mini_fbm_prepared, tmp_path / 'mini.pth')
    run_tool(['benchmarks/sampling_latency.py', '--mini-checkpoint', ckpt, '--settings', 'ddim1', 'ddpm6',
              '--batch', '2', '--repeats', '1', '--batch-repeats', '1', '--probe-steps', '3', '--full-limit', '0',
              '--out', tmp_path / 'latency'], cwd=REPO, env=dict(OMP_NUM_THREADS='1'), timeout=600)
    record = json.loads((tmp_path / 'latency.json').read_text())
    rows = {(r['model'], r['batch'], r['sampler'], r['steps']): r for r in record['rows']}
    assert set(rows) == {(m, b, s, n) for m in ('mini', 'fbm') for b in (1, 2) for s, n in (('ddim', 1), ('ddpm', 6))}
    for (model, batch, sampler, steps), row in rows.items():
        assert row['features_s'] > 0 and row['prepare_s'] > 0
        assert row['generation_s'] == pytest.approx(row['prepare_s'] + row['features_s'] + row['sampling_s'])
        if sampler == 'ddim':        # the first setting always runs in full
            assert not row['extrapolated'] and len(row['runs']) == 1
            continue
        times = row['probe_step_times_s']
        assert row['extrapolated'] and len(times) == 3
        median = sorted(times[1:])[0] + (sorted(times[1:])[1] - sorted(times[1:])[0]) / 2
        assert row['sampling_s'] == pytest.approx(times[0] + median * 5)
    page = (tmp_path / 'latency.md').read_text()
    table = [line for line in page.splitlines() if line.startswith('| mini |') or line.startswith('| fbm |')]
    assert len(table) == 8 and sum('extrapolated' in line for line in table) == 4
    assert 'initial random weights' in page and '--settings ddim1 ddpm6' in page
    assert '37.8 s for one sample' in page and 'ms / step' in page

"""benchmarks/generation.py's page: the issue's targets and the Markdown report of a run's JSON."""

#: Targets of issue 22 (2-core CPU, mini full model, default sampler).
TARGETS = dict(features_sampling_s=3.0, exports_s=2.0, video_s=15.0, batch_speedup=5.0, peak_rss_mb=2048.0)


def _where(s: dict) -> list:
    """Sentences on the stages that miss their targets, from the measurements."""
    out, b = [], s['batch']
    if 'video' in s['profiles']:
        prof = s['profiles']['video']
        render = next((e['cumulative_s'] for e in prof['imagin4d_by_cumulative']
                       if e['function'].endswith('(render)')), None)
        read = next((e['own_s'] for e in prof['by_own_time'] if '_read_main_framebuffer' in e['function']), None)
        out.append(f'Video: {render} of {prof["total_s"]} s is pyrender rendering on Mesa llvmpipe (two passes per '
                   f'frame, a segmentation and a 4x multisampled shaded one), {read} s of it waiting in '
                   '`_read_main_framebuffer` for the software rasteriser; the mesh preparation (normals, shadow) is a '
                   'few seconds. llvmpipe shares the two cores with the other jobs, so the runs vary '
                   f'({s["video_runs"]} s).')
    if 'batch' in s['profiles']:
        sp = b['speedup']
        chunks = s['profiles']['batch'].get('image_encoder_s_per_image_by_chunk', {})
        own = {e['function'].split('method ')[-1].rstrip('>)'): e['own_s']
               for e in s['profiles']['batch']['by_own_time']}
        elementwise = sum(v for k, v in own.items() if k.endswith(('batch_norm', 'relu6', '_nn.pad')))
        worse = chunks and chunks.get(16, 0) > 1.2 * chunks.get(1, 0)
        out.append(f'Batch: sampling is {sp.get("sampling")}x faster batched (with one thread on a busy core the '
                   'denoiser is compute bound already at one window of 120 frames, so batching only removes per-call '
                   f'overhead), and the features are {sp.get("features")}x: the EfficientNet-Lite0 image encoder '
                   + ('costs more per image when fed 16 images at once' if worse
                      else 'is not cheaper per image in a batch')
                   + ' (' + ', '.join(f'{k} at a time: {v:.3f} s' for k, v in chunks.items()) + ' per image); in the '
                   f'batch profile its batch_norm, relu6 and pad (element-wise passes over 448 px activations) take '
                   f'{elementwise:.1f} s beside {own.get("torch.conv2d", 0):.1f} s of convolutions.')
    return out


def _f(v, digits=1):
    return 'n/a' if v is None else f'{v:.{digits}f}'


def markdown(r: dict) -> str:
    m, q, s = r['machine'], r['quality'], r['speed']
    w, c, t = q['world']['summary'], q['canonical']['summary'], q['tools_test_metrics']
    det = q['determinism']
    lines = [
        '# Generation from user-style inputs: quality and CPU latency (issue 22)', '',
        f'Command: `{m["command"]}`  ',
        f'Config `{r["config"]}`, checkpoint `{r["checkpoint"]}` (the full mini model trained 500 iterations on the '
        f'demo-size mini-FBM `{r["data_root"]}`); sampler {q["sampling"]} (the config `test_cfg`: {r["test_cfg"]}).  ',
        f'Machine: {m["cpu"]}, {m["logical_cores"]} logical cores shared with other jobs, torch {m["torch"]} with '
        f'{m["torch_threads"]} thread(s); load average (1/5/15 min) {m["load_average_1_5_15"]} at the start, '
        f'{m["load_average_at_end"]} at the end ({m["started"]} to {m["finished"]}).  ',
        f'Commit {m["git_commit"]}' + (' with uncommitted changes by others in '
                                       + ', '.join(x.split()[-1] for x in m['dirty_files'])
                                       if m['dirty_files'] else '') + '.', '',
        '## 1. Quality from inputs the data set never held', '',
        f'Each of the {w["windows"]} test windows becomes a request written to files, as a user would give it: a new '
        'sentence from 8 paraphrase templates (checked not to be any train/test text of the data set), the object '
        'template as a `.ply` with its data-set scale as `object_scale` (odd windows written Y up, passed with '
        "`object_up='y'`), the window's test reference image (448 x 448 mesh render from "
        '`references/test_mesh.json`) padded with white to 4:3 landscape (even windows, PNG) or 3:4 portrait (odd '
        'windows, JPEG q95), the CHOIS waypoints from the ground truth (object centre + rotation at frame 0, xy at '
        '29/59/89, xyz at 119, from the window motion via its codec and `obj_rot[0]`) as a waypoints JSON, and the '
        'ground-truth frame-0 body as an AMASS SMPL-X `.npz` start body. All of it is expressed in a world frame '
        f'rotated about z by a random yaw (uniform in +-180 degrees) and shifted by a random xy offset (uniform in '
        f'+-{r["world_offset_m"]} m; seed {r["world_seed"]}), and generated in one '
        'batched `HOIInferencer` call. Waypoint errors: `waypoint_errors` (the function `tools/test.py` uses) of '
        "`result.meta['object_centre']` against the given waypoints in the same world frame, mean over windows. "
        'Floor: per frame the lowest vertex of the body-model mesh posed by the exported SMPL-X parameters. '
        'Consistency: `result.joints` against the joints24 of that body-model forward (the model predicts joint '
        'positions and rotations; the exported parameters are its rotations about its predicted pelvis, so this is '
        'the disagreement of the two predictions: the exporter itself reproduces forward kinematics of the '
        f'rotations within {w["export_fidelity_max_mm"]:.3f} mm at every joint of every frame).', '',
        '| | world frame (rotated + shifted) | canonical frame | tools/test.py (test split, data-set text and image) |',
        '|---|---|---|---|',
        f'| waypoint_start_err (mm) | {_f(w["waypoint_start_err"])} | {_f(c["waypoint_start_err"])} | '
        f'{_f(t.get("waypoint_start_err"))} |',
        f'| waypoint_xy_err (mm) | {_f(w["waypoint_xy_err"])} | {_f(c["waypoint_xy_err"])} | '
        f'{_f(t.get("waypoint_xy_err"))} |',
        f'| waypoint_end_err (mm) | {_f(w["waypoint_end_err"])} | {_f(c["waypoint_end_err"])} | '
        f'{_f(t.get("waypoint_end_err"))} |',
        f'| lowest body vertex, median [p5, p95] (mm) | {_f(w["lowest_vertex_median_mm"])} '
        f'[{_f(w["lowest_vertex_p5_mm"])}, {_f(w["lowest_vertex_p95_mm"])}] | {_f(c["lowest_vertex_median_mm"])} '
        f'[{_f(c["lowest_vertex_p5_mm"])}, {_f(c["lowest_vertex_p95_mm"])}] | |',
        f'| frames with the lowest vertex within 5 cm of z = 0 | {w["frames_within_5cm_of_floor"]:.1%} | '
        f'{c["frames_within_5cm_of_floor"]:.1%} | |',
        f'| frames below -5 cm / above +5 cm | {w["frames_below_minus_5cm"]:.1%} / {w["frames_above_5cm"]:.1%} | '
        f'{c["frames_below_minus_5cm"]:.1%} / {c["frames_above_5cm"]:.1%} | |',
        f'| predicted joints vs SMPL-X joints, mean / p95 / max (mm) | {_f(w["joint_consistency_mean_mm"])} / '
        f'{_f(w["joint_consistency_p95_mm"])} / {_f(w["joint_consistency_max_mm"])} | '
        f'{_f(c["joint_consistency_mean_mm"])} / {_f(c["joint_consistency_p95_mm"])} / '
        f'{_f(c["joint_consistency_max_mm"])} | |', '',
        f'World frame vs canonical frame: the canonical results moved into each world frame differ from the world '
        f'results by at most {q["world_minus_canonical_moved"]["joints_mm"]:.4f} mm (joints), '
        f'{q["world_minus_canonical_moved"]["object_centre_mm"]:.4f} mm (object centre) and '
        f'{q["world_minus_canonical_moved"]["body_pose_rad"]:.2e} rad (local body pose).  ',
        f'Determinism: the same request twice with the same seed: max abs difference '
        f'{det["same_request_twice"]["max"]:.3g} over every array of the result; the same request alone vs in the '
        f'batch of {w["windows"]}: max abs difference {det["alone_vs_in_batch"]["max"]:.3g} '
        f'(joints {1000 * det["alone_vs_in_batch"]["joints"]:.4f} mm, object translation '
        f'{1000 * det["alone_vs_in_batch"]["obj_trans"]:.4f} mm; float32 batched kernels round differently).  ',
        f'The object centre the request path generates (`prepare_object`: the mean of the mesh file\'s vertices) '
        f'lies {q["template_centre_shift_mm"]["mean"]:.1f} mm on average (max '
        f'{q["template_centre_shift_mm"]["max"]:.1f} mm) from the data-set template centroid the model was trained '
        'on.',
        f'Batched generation of the {w["windows"]} requests (s): world {q["batch_timings"]["world"]}, canonical '
        f'{q["batch_timings"]["canonical"]}.', '',
        '## 2. Latency and memory on this CPU', '',
        f'One request (window 0, world frame), medians of {len(s["single_runs"])} calls after a warm-up, in one run '
        'of this script; `inferencer.last_timings` and `export_result` stage seconds.', '',
        '| stage | seconds |', '|---|---|',
    ]
    sr = s['single_request_s']
    lines += [f'| prepare (mesh, image, waypoints, start body, BPS) | {sr["prepare"]:.3f} |',
              f'| features (text + image encoders) | {sr["features"]:.3f} |',
              f'| sampling (DDIM, {(q["sampling"] or {}).get("steps")} steps) | '
              f'{sr["sampling"]:.3f} |',
              f'| results (decode to world SMPL-X) | {sr["results"]:.3f} |',
              f'| inferencer call end to end | {sr["end_to_end"]:.3f} |',
              f'| exports npz + bvh + glb (`export_result`) | {s["exports_s"]:.3f} (npz '
              f'{s["exports_per_format_s"]["npz"]:.3f}, bvh {s["exports_per_format_s"]["bvh"]:.3f}, glb '
              f'{s["exports_per_format_s"]["glb"]:.3f}) |',
              f'| 120-frame mesh video (mp4, with the reference panel) | {s["video_s"]:.2f} (runs {s["video_runs"]}; '
              'the first, with renderer start-up, left out of the median) |', '']
    b = s['batch']
    lines += [f'Batch of {b["size"]} requests in one call (median of {len(b["batch_runs"])}) against {b["size"]} '
              'single calls (the same requests, one after the other):', '',
              '| stage | batch call (s) | sum of single calls (s) | speed-up |', '|---|---|---|---|']
    for k in ('prepare', 'features', 'sampling', 'results', 'end_to_end'):
        lines.append(f'| {k} | {b["batch_call_s"][k]:.2f} | {b["singles_total_s"][k]:.2f} | '
                     f'{b["speedup"].get(k, "n/a")} |')
    o = s.get('single_request_other_threads')
    if o:
        om = o['median']
        lines += ['', f'The same request with {o["threads"]} torch threads (this machine\'s default is '
                  f'{s["torch_default_threads"]}), medians of {len(o["runs"])} calls: features {om["features"]:.3f} s, '
                  f'sampling {om["sampling"]:.3f} s, end to end {om["end_to_end"]:.3f} s (against '
                  f'{sr["features"]:.3f}, {sr["sampling"]:.3f}, {sr["end_to_end"]:.3f} s with '
                  f'{m["torch_threads"]}). With other jobs '
                  'loading both cores, a second OpenMP thread mostly waits for a busy core.']
    p = s['peak_memory']
    lines += ['', f'Peak memory: a fresh process (`--peak-child`, {m["torch_threads"]} thread(s)) that loads the '
              'model, '
              f'generates one request and writes npz + bvh + glb + mp4: its peak resident set size (VmHWM of '
              f'/proc/self/status) = **{p["self_mb"]:.0f} MB** (after imports {p["imports_mb"]:.0f} MB, after loading '
              f'the model {p["after_model_mb"]:.0f} MB, after generation {p["after_generation_mb"]:.0f} MB). Not '
              '`getrusage` ru_maxrss: a process started by fork + exec carries its parent\'s high-water mark into it '
              f'(here {p["ru_maxrss_mb"]:.0f} MB, this script\'s own size when it started the child). The MP4 encoder '
              f'(imageio\'s ffmpeg, a separate process fed frame by frame) is not counted. The process took '
              f'{p["process_wall_s"]} s. This benchmark process itself (48 results, data sets, several videos) peaked '
              f'at {s["main_process_maxrss_mb"]:.0f} MB.', '',
              '### Targets of issue 22', '', '| target | measured | met |', '|---|---|---|']
    a, met = s['achieved'], s['met']
    names = dict(features_sampling_s='features + sampling of one request <= 3 s',
                 exports_s='npz + bvh + glb exports <= 2 s', video_s='120-frame mesh video <= 15 s',
                 batch_speedup='batch of 32: >= 5x the throughput of 32 single calls',
                 peak_rss_mb='peak memory < 2 GB')
    units = dict(features_sampling_s=' s', exports_s=' s', video_s=' s', batch_speedup='x', peak_rss_mb=' MB')
    for k in TARGETS:
        lines.append(f'| {names[k]} | {a[k]}{units[k]} | {"met" if met[k] else "**not met**"} |')
    lines += ['', 'The batch target against whole runs of the tool (start-up, model and encoders paid once per run): '
              '[generate_cli_cpu.md](generate_cli_cpu.md) (`benchmarks/generate_cli.py`: 32 requests in one '
              '`--requests` run against 32 runs of one request).']
    if s['profiles']:
        lines += ['', 'Where the time goes (profiles below): ' + ' '.join(_where(s))]
    for name, prof in s['profiles'].items():
        lines += ['', f'### Profile: {name} (cProfile, one call, {prof["total_s"]} s profiled)', '']
        if 'image_encoder_s_per_image_by_chunk' in prof:
            lines += ['Image encoder seconds per image by the number of images encoded together (16 request '
                      'images): ' + ', '.join(f'{k}: {v:.3f}' for k, v in
                                              prof['image_encoder_s_per_image_by_chunk'].items()) + '.', '']
        lines += ['| imagin4d function | calls | cumulative s |', '|---|---|---|']
        lines += [f'| `{e["function"]}` | {e["calls"]} | {e["cumulative_s"]} |' for e in prof['imagin4d_by_cumulative']]
        lines += ['', '| function (most own time) | calls | own s |', '|---|---|---|']
        lines += [f'| `{e["function"]}` | {e["calls"]} | {e["own_s"]} |' for e in prof['by_own_time']]
    return '\n'.join(lines) + '\n'

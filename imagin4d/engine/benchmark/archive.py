"""The benchmark's provenance archive: each finished run's metrics, commands, data build, resolved config, scoring
protocol, machine and evaluator kept as one JSON file, reused only on the same data and config, and the page's
provenance lines."""
import hashlib
import json
import os
import os.path as osp
import platform
import subprocess
from collections import Counter
from typing import Optional

from .runner import DATA_ROOT_VARS, REPO, Runner, config_file, run_dir

EQUIVALENT_BUILDS = 'equivalent_builds.json'  # in the archive: earlier builds declared the same data
EVALUATOR_FILE = 'evaluator/text_motion_evaluator.pth'  # in the archive: the evaluator every archived run uses
#: Metric settings that choose how a run is scored (CHOIS's protocol choices, issue 26), not what the run trains or
#: generates: left out of `config_identity` and recorded beside it as the run's `protocol` (`scoring_protocol`).
PROTOCOL_OPTIONS = {'HOIMotionMetric': ('floor_height', 'joints_from', 'object_rotation')}
#: The protocol of the runs archived before protocols were recorded: the metric's defaults until then.
LEGACY_PROTOCOL = {'HOIMotionMetric': dict(floor_height=0.0, joints_from='predicted', object_rotation='projected')}


def _resolved(config: str) -> dict:
    """The config with every `_base_` merged and the data roots at their defaults, as a dict."""
    from mmengine.config import Config
    saved = {k: os.environ.pop(k) for k in DATA_ROOT_VARS if k in os.environ}
    try:
        return Config.fromfile(osp.join(REPO, config)).to_dict()
    finally:
        os.environ.update(saved)


def _protocol_metrics(resolved: dict):
    """(metric dict, its protocol option names) of every test / val evaluator metric with protocol options."""
    for key in ('val_evaluator', 'test_evaluator'):
        metrics = resolved.get(key)
        for metric in metrics if isinstance(metrics, list) else [metrics]:
            if isinstance(metric, dict) and metric.get('type') in PROTOCOL_OPTIONS:
                yield metric, PROTOCOL_OPTIONS[metric['type']]


def config_identity(config: str) -> dict:
    """{file, digest}: sha256 (16 hex digits) of the resolved config (every `_base_` merged, data roots at their
    defaults, so that the digest does not depend on where the data lies). The body-model folder is left out: it is
    a location, not a setting of the run (the body models' content is part of the data set's cache key). So are the
    metrics' protocol options (`PROTOCOL_OPTIONS`): they change how a run is scored, not the run; the archive records
    them as the run's `protocol` and the page names it. So are the model's sampling-time parts, `test_cfg` and
    `reconstruction_guidance` (training never reads them): the configs' sampling defaults are what users get, and
    every benchmark test command pins its own (`runner.sampling_options`)."""
    resolved = _resolved(config)
    resolved.pop('body_model_root', None)
    for sampling_time in ('test_cfg', 'reconstruction_guidance'):
        resolved.get('model', {}).pop(sampling_time, None)
    for metric, options in _protocol_metrics(resolved):
        for option in options:
            metric.pop(option, None)
    text = json.dumps(resolved, sort_keys=True, default=repr)
    return dict(file=config, digest=hashlib.sha256(text.encode()).hexdigest()[:16])


def scoring_protocol(config: str) -> dict:
    """{metric type: {option: value}}: the protocol options (`PROTOCOL_OPTIONS`) the config's test evaluator scores
    with, each at the metric's default where the config does not set it."""
    import inspect

    import imagin4d.evaluation  # noqa: F401  (registers the metrics)
    from imagin4d.registry import METRICS
    metrics = _resolved(config).get('test_evaluator')
    protocol = {}
    for metric in metrics if isinstance(metrics, list) else [metrics]:
        if isinstance(metric, dict) and metric.get('type') in PROTOCOL_OPTIONS:
            defaults = inspect.signature(METRICS.get(metric['type'])).parameters
            protocol[metric['type']] = {option: metric.get(option, defaults[option].default)
                                        for option in PROTOCOL_OPTIONS[metric['type']]}
    return protocol


def describe_protocol(protocol: dict) -> str:
    """'HOIMotionMetric floor_height=0.0 (fixed floor), joints_from=predicted, object_rotation=projected'."""
    parts = []
    for metric, options in sorted(protocol.items()):
        shown = []
        for option, value in options.items():
            note = ''
            if option == 'floor_height':
                note = ' (CHOIS per-sequence floor)' if value == 'estimate' else ' (fixed floor)'
            shown.append(f'{option}={value}{note}')
        parts.append(f'{metric} ' + ', '.join(shown))
    return '; '.join(parts)


def archive_file(args, variant: str, seed: int) -> str:
    """`ARCHIVE/iters<N>_steps<S>[_bf16]/<variant>/seed<k>.json` (bf16-trained runs, `--amp`, in their own folder)."""
    precision = '_bf16' if getattr(args, 'amp', False) else ''
    return osp.join(args.archive, f'iters{args.iters}_steps{args.num_steps}{precision}', variant, f'seed{seed}.json')


def finished(args, variant: str, seed: int) -> bool:
    """Whether the run has its merged metrics, in the work dir or the archive."""
    return (osp.isfile(osp.join(run_dir(args, variant, seed), 'metrics.json'))
            or bool(args.archive) and osp.isfile(archive_file(args, variant, seed)))


def read_archived(args, variant: str, seed: int) -> Optional[dict]:
    """The archived entry of a run; None without an archive or an entry."""
    path = archive_file(args, variant, seed) if args.archive else None
    if path is None or not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def equivalent_builds(args) -> dict:
    """{references digest of an earlier mini-FBM build: the digest of the build it is declared the same as}, from
    ARCHIVE/equivalent_builds.json ({old: {"same_as": new, "evidence": "..."}}, written by hand with what was checked;
    the archived runs themselves are never rewritten). {} without an archive or a file."""
    path = osp.join(args.archive, EQUIVALENT_BUILDS) if args.archive else None
    if path is None or not osp.isfile(path):
        return {}
    try:
        with open(path) as f:
            declared = json.load(f)
    except json.JSONDecodeError as err:
        raise SystemExit(f'error: {path}: not valid JSON ({err}); expected {{old digest: {{"same_as": ..., '
                         '"evidence": ...}}}}') from None
    if not isinstance(declared, dict):
        raise SystemExit(f'error: {path}: expected an object {{old digest: {{"same_as": ..., "evidence": ...}}}}, '
                         f'got {type(declared).__name__}')
    for old, entry in declared.items():
        if not isinstance(entry, dict) or not isinstance(entry.get('same_as'), str) or not entry.get('evidence'):
            raise SystemExit(f'error: {path}: entry "{old}" needs "same_as" (a references digest) and "evidence" '
                             f'(what shows the two builds are the same), got {entry!r}')
    return {old: entry['same_as'] for old, entry in declared.items()}


def canonical_build(identity, equivalents: dict):
    """A build identity with its references digest replaced by the last of the chain of builds it is declared the
    same as (old -> same_as -> ...), so that builds declared the same one after another compare equal whichever of
    them a run was measured on and whichever is on the disk now. A chain that comes back to itself is an error."""
    if not isinstance(identity, dict) or identity.get('references') not in equivalents:
        return identity
    digest, seen = identity['references'], []
    while digest in equivalents:
        if digest in seen:
            raise SystemExit(f'error: {EQUIVALENT_BUILDS}: the declarations go round in a circle '
                             f'({" -> ".join(seen + [digest])}); each build must lead to one build it is the same as')
        seen.append(digest)
        digest = equivalents[digest]
    return dict(identity, references=digest)


def archived_protocol(entry: dict) -> dict:
    """The scoring protocol of an archived run (`LEGACY_PROTOCOL` for runs archived before it was recorded)."""
    return entry.get('protocol') or LEGACY_PROTOCOL


def protocol_groups(entries) -> dict:
    """Archived runs (entries as archived) grouped by their scoring protocol (`archived_protocol`): {the protocol as
    sorted JSON: [entry, ...]}, in the order first seen. One table or comparison must not mix two groups."""
    groups = {}
    for entry in entries:
        groups.setdefault(json.dumps(archived_protocol(entry), sort_keys=True), []).append(entry)
    return groups


def protocol_cfg_options(config: str, protocol: dict) -> list:
    """`--cfg-options` that make the config's test evaluator score with `protocol` ({metric type: {option: value}})."""
    evaluators = _resolved(config)['test_evaluator']
    options = []
    for index, metric in enumerate(evaluators if isinstance(evaluators, list) else [evaluators]):
        for option, value in protocol.get(metric.get('type'), {}).items():
            options.append(f'test_evaluator.{index}.{option}={value}' if isinstance(evaluators, list)
                           else f'test_evaluator.{option}={value}')
    return options


def protocol_lines(args, tasks, entries) -> list:
    """The page line naming the scoring protocol of the archived runs, and what the configs score with now when
    that differs; stops when the runs were scored with different protocols (one table must not mix them)."""
    groups = protocol_groups(entries)
    if len(groups) > 1:
        def named(runs):
            return ', '.join(f'{e["variant"]} seed {e["seed"]}' for e in runs)
        raise SystemExit('error: the archived runs were scored with different protocols: '
                         + '; '.join(f'{describe_protocol(json.loads(key))} ({named(runs)})'
                                     for key, runs in groups.items())
                         + '; score them again with one protocol (tools/test.py on their checkpoints) or move some '
                         'away')
    protocol = json.loads(next(iter(groups)))
    line = f'Scored with: {describe_protocol(protocol)} ({len(entries)} runs).'
    now = {json.dumps(scoring_protocol(config_file(variant)), sort_keys=True) for variant in {v for v, _ in tasks}}
    if now != {json.dumps(protocol, sort_keys=True)}:
        line += (' The configs now score with ' + '; '.join(describe_protocol(json.loads(n)) for n in sorted(now))
                 + ': the numbers these options change (foot sliding with the floor; the joint, vertex, contact and '
                 'penetration scores with joints_from; obj_rot_err with object_rotation) are not comparable with a '
                 'run scored now.')
    return [line]


def archive_provenance(args, tasks) -> list:
    """Page lines on the builds, machines and scoring protocol the archived runs of `tasks` were measured with;
    stops when they were measured on different builds (a page of one table must not mix data sets) or scored with
    different protocols."""
    entries = [entry for entry in (read_archived(args, *task) for task in tasks) if entry]
    if not entries:
        return []
    equivalents = equivalent_builds(args)
    builds = {}
    for entry in entries:
        key = json.dumps(canonical_build(entry.get('data'), equivalents), sort_keys=True)
        builds.setdefault(key, []).append(entry)
    if len(builds) > 1:
        raise SystemExit('error: the archived runs were measured on different mini-FBM builds: '
                         + '; '.join(f'{key} ({", ".join(e["variant"] + " seed " + str(e["seed"]) for e in runs)})'
                                     for key, runs in builds.items())
                         + f'; declare equal builds in {osp.join(args.archive, EQUIVALENT_BUILDS)} or measure again')
    build = json.loads(next(iter(builds)))
    earlier = Counter(e['data']['references'] for e in entries if e['data'] != build)
    line = (f'Data: mini-FBM generator v{build.get("version")}, seed {build.get("seed")}, {build.get("num_train")} '
            f'train / {build.get("num_test")} test sequences, references `{build.get("references")}` '
            f'({len(entries)} runs')
    line += ''.join(f'; {n} of them measured on the build `{old}`, declared the same in `{EQUIVALENT_BUILDS}`'
                    for old, n in sorted(earlier.items())) + ').'
    machines = Counter(describe_machine(e.get('machine')) for e in entries)
    return [line, 'Runs measured on: ' + '; '.join(f'{m} ({n} run{"s" * (n != 1)})'
                                                for m, n in sorted(machines.items())) + '.',
            *protocol_lines(args, tasks, entries)]


def file_identity(path: str) -> dict:
    """{file, digest}: the path as given and the sha256 (16 hex digits) of the file's bytes."""
    with open(osp.join(REPO, path) if not osp.isabs(path) else path, 'rb') as f:
        return dict(file=path, digest=hashlib.sha256(f.read()).hexdigest()[:16])


def evaluator_label(args, variant: str, seed: int) -> Optional[str]:
    """Which text-motion evaluator an archived run's FID / R-precision come from: its recorded digest, or for a run
    archived before digests were recorded the checkpoint path of its test command; None without an archive entry."""
    entry = read_archived(args, variant, seed)
    if entry is None:
        return None
    if entry.get('evaluator'):
        return f'`{entry["evaluator"]["digest"]}`'
    options = [token.split('=', 1)[1] for r in entry['commands'] for token in r['command'].split()
               if token.startswith('test_evaluator.2.evaluator_ckpt=')]
    return f'`{options[-1]}` (digest not recorded)' if options else 'not recorded'


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> dict:
    return dict(cpu=cpu_name(), cores=os.cpu_count(), platform=platform.platform())


def describe_machine(record) -> str:
    if not record:
        return 'machine not recorded (runs archived before 2026-12-03)'
    return f'{record["cpu"]}, {record["cores"]} logical cores, {record["platform"]}'


def git_commit() -> str:
    """The checked-out commit (with '+changes' when the tree differs from it), for the record; '' outside git."""
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=REPO,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ''
    return head.stdout.strip() + ('+changes' if dirty.stdout.strip() else '')


def restore_archived(run: Runner, args, variant: str, seed: int, metrics_file: str) -> bool:
    """Put an archived run's metrics into its work dir and its commands into the log; False when none is archived."""
    entry = read_archived(args, variant, seed)
    if entry is None:
        return False
    path = archive_file(args, variant, seed)
    from imagin4d.datasets.synthetic import build_identity
    expected = build_identity(args.data_root)
    # no data root (a fresh clone's --collect): the page as measured
    equivalents = equivalent_builds(args)
    if expected and canonical_build(entry.get('data'), equivalents) != canonical_build(expected, equivalents):
        raise SystemExit(f'error: {path}: field "data" is {entry.get("data")}, but {args.data_root} is mini-FBM '
                         f'{expected}; move the archived run away (or pass --archive none) to measure it again')
    config = config_identity(config_file(variant))
    if entry.get('config') != config:
        raise SystemExit(f'error: {path}: field "config" is {entry.get("config")}, but the config now resolves to '
                         f'{config}: the run measured another model or schedule; move the archived run away (or '
                         'pass --archive none) to measure it again')
    os.makedirs(osp.dirname(metrics_file), exist_ok=True)
    with open(metrics_file, 'w') as f:
        json.dump(entry['metrics'], f, indent=1)
    run.append(entry['commands'])
    return True


def archive_run(run: Runner, args, variant: str, seed: int, wd: str, merged: dict, config: dict,
                evaluator: Optional[str] = None) -> None:
    """Keep a finished run (merged metrics, the commands that made it, the data and the resolved config it was
    measured with: `config_identity` taken when its training started; the scoring protocol of its test) in the
    archive."""
    if not args.archive:
        return
    path = archive_file(args, variant, seed)
    commands = [r for r in run.records()
                if any(token == wd or token.startswith(wd + os.sep) for token in r['command'].split())]
    from imagin4d.datasets.synthetic import build_identity
    entry = dict(variant=variant, seed=seed, iters=args.iters, num_steps=args.num_steps,
                 data=build_identity(args.data_root), config=config, protocol=scoring_protocol(config_file(variant)),
                 commit=git_commit(), machine=machine(),
                 evaluator=file_identity(evaluator) if evaluator else None, metrics=merged, commands=commands)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(entry, f, indent=1)
        f.write('\n')

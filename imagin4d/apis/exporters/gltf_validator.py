"""Runs the Khronos glTF validator (npm `gltf-validator`, installed by scripts/setup_env.sh) on a .glb/.gltf.

Owns `validate_gltf` (the report: numErrors, numWarnings, numInfos, numHints, messages) and `find_validator`.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Union

__all__ = ['validate_gltf', 'find_validator', 'GLTF_VALIDATOR_VERSION', 'ValidatorNotFound']

#: The pinned npm version scripts/setup_env.sh installs into .venv/gltf_validator.
GLTF_VALIDATOR_VERSION = '2.0.0-dev.3.10'
_REPO = Path(__file__).resolve().parents[3]

# Node script (CommonJS, read from stdin): validateBytes on the last argument, the report as JSON on stdout.
_NODE_SCRIPT = r"""
const fs = require('fs');
const validator = require('gltf-validator');
const file = process.argv[process.argv.length - 1];
validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {uri: file, maxIssues: 0})
  .then((report) => { process.stdout.write(JSON.stringify(report)); })
  .catch((error) => { process.stderr.write('gltf-validator failed: ' + error + '\n'); process.exit(2); });
"""


class ValidatorNotFound(RuntimeError):
    """node or the npm package gltf-validator is missing."""


def find_validator() -> Path:
    """The node_modules folder holding gltf-validator: $IMAGIN4D_GLTF_VALIDATOR (a prefix folder), then
    <sys.prefix>/gltf_validator, then <repo>/.venv/gltf_validator. Raises ValidatorNotFound naming the fix."""
    candidates = [Path(os.environ['IMAGIN4D_GLTF_VALIDATOR'])] if os.environ.get('IMAGIN4D_GLTF_VALIDATOR') else []
    candidates += [Path(sys.prefix) / 'gltf_validator', _REPO / '.venv' / 'gltf_validator']
    for prefix in candidates:
        modules = prefix / 'node_modules'
        if (modules / 'gltf-validator' / 'package.json').is_file():
            return modules
    raise ValidatorNotFound(
        'npm package gltf-validator not found in ' + ', '.join(str(c) for c in candidates) + '; install it with '
        f'scripts/setup_env.sh (npm install --prefix .venv/gltf_validator gltf-validator@{GLTF_VALIDATOR_VERSION})')


def node_executable() -> Optional[str]:
    """Path of `node` (or `nodejs`), or None."""
    return shutil.which('node') or shutil.which('nodejs')


def validate_gltf(path: Union[str, Path], timeout: float = 120.0) -> dict:
    """Validate a .glb/.gltf with the Khronos validator; returns its report as a dict.

    Keys used by callers: report['issues']['numErrors'|'numWarnings'|'numInfos'|'numHints'] and
    report['issues']['messages'] (each: code, message, severity 0 error .. 3 hint, pointer/offset).
    Convenience copies at the top level: numErrors, numWarnings, messages, validatorVersion.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'glTF file to validate not found: {path}')
    node = node_executable()
    if node is None:
        raise ValidatorNotFound('node (Node.js) is not installed; scripts/setup_env.sh installs Debian nodejs+npm')
    modules = find_validator()
    env = dict(os.environ, NODE_PATH=str(modules))
    proc = subprocess.run([node, '-', str(path.resolve())], input=_NODE_SCRIPT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f'gltf-validator on {path} exited with {proc.returncode}: {proc.stderr.strip()[-500:]}')
    report = json.loads(proc.stdout)
    issues = report.get('issues', {})
    report.update(numErrors=int(issues.get('numErrors', 0)), numWarnings=int(issues.get('numWarnings', 0)),
                  messages=issues.get('messages', []), validatorVersion=report.get('validatorVersion'))
    return report


def main(argv=None) -> int:
    """CLI: validate files, print a summary line per file and every message; exit 1 when any has errors."""
    import argparse
    parser = argparse.ArgumentParser(description='Validate .glb/.gltf files with the Khronos glTF validator.')
    parser.add_argument('files', nargs='+')
    parser.add_argument('--json', action='store_true', help='print the full reports as JSON')
    args = parser.parse_args(argv)
    failed = False
    for file in args.files:
        report = validate_gltf(file)
        if args.json:
            print(json.dumps(report, indent=2))
        issues = report['issues']
        print(f"{file}: {report['numErrors']} errors, {report['numWarnings']} warnings, "
              f"{issues.get('numInfos', 0)} infos, {issues.get('numHints', 0)} hints "
              f"(validator {report['validatorVersion']})")
        for m in report['messages']:
            print(f"  [{('error', 'warning', 'info', 'hint')[m.get('severity', 0)]}] {m.get('code')}: "
                  f"{m.get('message')} {m.get('pointer', '')}")
        failed = failed or report['numErrors'] > 0
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

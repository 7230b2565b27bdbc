"""Installs the imagin4d package (`pip install -e .`); requirements live in requirements/*.txt."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.split('#')[0].strip() for ln in lines if ln.split('#')[0].strip()]


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
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt'),
                    'optional': read_requirements('optional.txt')},
)

"""Packaging: setup.py declares compatible ranges, requirements/*.txt pin the verified versions, and every pin lies
inside the range the package declares (so the set-up script's environment is one `pip install -e .` accepts)."""
import ast
import os.path as osp

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def setup_constants() -> dict:
    """INSTALL_REQUIRES and EXTRAS_REQUIRE as written in setup.py (read, not executed: running it calls setup())."""
    with open(osp.join(REPO, 'setup.py')) as f:
        tree = ast.parse(f.read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ('INSTALL_REQUIRES', 'EXTRAS_REQUIRE'):
                found[node.targets[0].id] = ast.literal_eval(node.value)
    assert set(found) == {'INSTALL_REQUIRES', 'EXTRAS_REQUIRE'}, 'setup.py must define both as literals'
    return found


def declared(requirements) -> dict:
    """{canonical name: Requirement} of a list of requirement strings; a name declared twice is an error."""
    parsed = [Requirement(line) for line in requirements]
    names = [canonicalize_name(r.name) for r in parsed]
    assert len(names) == len(set(names)), f'declared twice: {names}'
    return dict(zip(names, parsed))


def requirements_file(name: str) -> dict:
    with open(osp.join(REPO, 'requirements', name)) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return declared([line for line in lines if line])


def pinned_version(requirement: Requirement):
    """The version of an exact pin (`name==X`), else None."""
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator == '==' and '*' not in specs[0].version:
        return specs[0].version
    return None


@pytest.mark.parametrize('pins_file,extra', [('runtime.txt', None), ('torch.txt', None), ('tests.txt', 'tests')])
def test_every_pin_lies_inside_the_declared_range(pins_file, extra):
    constants = setup_constants()
    ranges = declared(constants['EXTRAS_REQUIRE'][extra] if extra else constants['INSTALL_REQUIRES'])
    pins = requirements_file(pins_file)
    for name, pin in pins.items():
        assert name in ranges, f'requirements/{pins_file} pins {pin}, which setup.py does not declare'
        version = pinned_version(pin)
        if version is None:    # a range in the pins file (setuptools<81): it must be the declared one
            assert pin.specifier == ranges[name].specifier, f'{pin} vs setup.py {ranges[name]}'
            continue
        assert ranges[name].specifier.contains(version, prereleases=True), (
            f'requirements/{pins_file} pins {pin}, outside the range setup.py declares: {ranges[name]}')


def test_runtime_pins_and_declared_requirements_name_the_same_packages():
    constants = setup_constants()
    assert set(declared(constants['INSTALL_REQUIRES'])) == set(requirements_file('runtime.txt'))
    assert set(declared(constants['EXTRAS_REQUIRE']['tests'])) == set(requirements_file('tests.txt'))
    assert set(declared(constants['EXTRAS_REQUIRE']['optional'])) == set(requirements_file('optional.txt'))


def test_the_package_forces_no_exact_version():
    constants = setup_constants()
    everything = constants['INSTALL_REQUIRES'] + [r for extra in constants['EXTRAS_REQUIRE'].values() for r in extra]
    exact = [r for r in everything if pinned_version(Requirement(r)) is not None]
    assert not exact, f'setup.py pins exact versions: {exact}'

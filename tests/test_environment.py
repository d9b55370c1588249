"""environment.yml (the conda environment of the README and of the workflow's ``conda:`` directive) and
pyproject.toml (what ``pip install`` checks) name the same packages, and every version environment.yml
allows satisfies pyproject.toml's specifier: runtime dependencies and the ``dev`` extra (pytest,
pytest-xdist, ruff) alike.

Reading environment.yml: conda entries ``name=version`` (conda's fuzzy match: ``numpy=2.4`` and
``numpy=2.4.*`` both mean every 2.4 release) or ``name==version`` (exact); pip entries are PEP 508
requirements (``-e .``, the package itself, must be there). Names are compared after
:func:`packaging.utils.canonicalize_name` and :data:`CONDA_TO_PIP` (conda-forge's names for packages pip
knows under another).

"Every version allowed" is decided without a solver: an exact pin must lie in the pyproject specifier; a
prefix ``X.Y.*`` must have its first release (``X.Y``) and a release above any it can hold (``X.Y.99999``)
in it, which covers every release in between because pyproject's specifiers are bounds (``>=``, ``<``,
``<=``, ``>``) or exact pins, the only operators this test accepts there; any other environment entry (a pip
range such as ``setuptools<81``) must be the same specifier as pyproject's.
"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

#: conda-forge package name -> the PyPI name pyproject.toml uses, where they differ
CONDA_TO_PIP = {"pytorch": "torch", "snakemake-minimal": "snakemake", "matplotlib-base": "matplotlib"}
#: environment.yml entries that are not Python packages of pyproject.toml (the interpreter, pip itself)
ENV_ONLY = {"python", "pip"}
#: operators whose clauses make a convex set of versions (module docstring)
BOUND_OPERATORS = {">=", "<", "<=", ">", "=="}
_CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<op>==|=)\s*(?P<version>[0-9][0-9A-Za-z.*]*)$")


def pyproject_requirements(text: str) -> dict[str, SpecifierSet]:
    """Canonical name -> specifier of ``[project] dependencies`` plus every optional-dependency extra."""
    project = tomllib.loads(text)["project"]
    entries = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        entries.extend(extra)
    requirements = [Requirement(e) for e in entries]
    return {canonicalize_name(r.name): r.specifier for r in requirements}


def environment_entries(text: str) -> tuple[dict[str, SpecifierSet], list[str]]:
    """Canonical pip name -> allowed versions of every package of environment.yml (conda and pip
    sections), and the pip section's lines that are not requirements (``-e .``)."""
    packages: dict[str, SpecifierSet] = {}
    others: list[str] = []

    def add(name: str, spec: SpecifierSet, line: str) -> None:
        name = canonicalize_name(CONDA_TO_PIP.get(name.lower(), name))
        if name in packages:
            raise ValueError(f"environment.yml names {name!r} twice (at {line!r}); keep one entry")
        packages[name] = spec

    for entry in yaml.safe_load(text)["dependencies"]:
        if isinstance(entry, dict):
            for line in entry.get("pip", []):
                if line.startswith("-"):
                    others.append(line)
                else:
                    req = Requirement(line)
                    add(req.name, req.specifier, line)
            continue
        match = _CONDA_SPEC.match(entry)
        if match is None:
            raise ValueError(
                f"environment.yml: conda entry {entry!r} is not 'name=version' or 'name==version'; "
                "pin it, e.g. 'numpy=2.4.*'"
            )
        version = match["version"]
        if match["op"] == "=" and not version.endswith(".*"):
            version += ".*"  # conda's "=": a prefix
        add(match["name"], SpecifierSet(f"=={version}"), entry)
    return packages, others


def disagreement(name: str, env: SpecifierSet, wanted: SpecifierSet) -> str | None:
    """Why ``env`` (environment.yml) allows a version outside ``wanted`` (pyproject.toml); None if not."""
    odd = sorted(s.operator for s in wanted if s.operator not in BOUND_OPERATORS)
    if odd:
        return f"{name}: pyproject's {wanted} uses {odd}; this test reads only {sorted(BOUND_OPERATORS)}"
    clauses = list(env)
    if len(clauses) == 1 and clauses[0].operator == "==":
        version = clauses[0].version
        if version.endswith(".*"):
            prefix = version[:-2]
            lowest, highest = Version(prefix), Version(f"{prefix}.99999")
            outside = [str(v) for v in (lowest, highest) if not wanted.contains(v, prereleases=True)]
            if outside:
                return (
                    f"{name}: environment.yml allows {version} (e.g. {', '.join(outside)}), outside "
                    f"pyproject's {wanted}; narrow the environment pin or widen pyproject's range"
                )
            return None
        if not wanted.contains(version, prereleases=True):
            return f"{name}: environment.yml pins {version}, outside pyproject's {wanted}; make them agree"
        return None
    if env != wanted:
        return (
            f"{name}: environment.yml's range {env} differs from pyproject's {wanted}; pin one version "
            "there or give the same range in both"
        )
    return None


def disagreements(pyproject_text: str, environment_text: str) -> list[str]:
    """Every disagreement between the two files (empty: they agree)."""
    wanted = pyproject_requirements(pyproject_text)
    env, others = environment_entries(environment_text)
    found = [
        f"{name}: in pyproject.toml ({spec or 'any version'}) but not in environment.yml; add it there"
        for name, spec in wanted.items()
        if name not in env
    ]
    found += [
        f"{name}: in environment.yml but not in pyproject.toml; add it there or remove it"
        for name in env
        if name not in wanted and name not in ENV_ONLY
    ]
    found += [why for name in wanted if name in env if (why := disagreement(name, env[name], wanted[name]))]
    python = tomllib.loads(pyproject_text)["project"]["requires-python"]
    if "python" not in env:
        found.append("python: environment.yml does not pin the interpreter; add e.g. 'python=3.11'")
    elif why := disagreement("python", env["python"], SpecifierSet(python)):
        found.append(why)
    if "-e ." not in others:
        found.append("environment.yml's pip section lacks '-e .' (the package itself); add it")
    return found


def test_environment_yml_agrees_with_pyproject():
    found = disagreements((REPO / "pyproject.toml").read_text(), (REPO / "environment.yml").read_text())
    assert not found, "\n".join(found)


PYPROJECT = """
[project]
requires-python = ">=3.11"
dependencies = ["numpy>=1.26,<2.6", "torch>=2.4,<2.15", "setuptools<81", "PyYAML>=6.0,<7"]
[project.optional-dependencies]
dev = ["pytest-xdist>=3.5,<4"]
"""
ENVIRONMENT = """
dependencies:
  - python=3.11
  - numpy=2.4.*
  - pyyaml=6.0.*
  - pytest-xdist=3.8.*
  - pip:
      - torch==2.14.1
      - setuptools<81
      - -e .
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("numpy=2.4.*", "numpy=2.6.*", r"numpy: environment.yml allows 2.6.\* \(e.g. 2.6, 2.6.99999\)"),
        ("numpy=2.4.*", "numpy=2.*", r"numpy: environment.yml allows 2.\* \(e.g. 2.99999\)"),
        ("torch==2.14.1", "torch==2.15.0", "torch: environment.yml pins 2.15.0, outside"),
        ("  - pytest-xdist=3.8.*\n", "", "pytest-xdist: in pyproject.toml .* but not in environment.yml"),
        ("  - pyyaml=6.0.*\n", "  - pyyaml=6.0.*\n  - tqdm=4.*\n", "tqdm: in environment.yml but not in"),
        ("setuptools<81", "setuptools<82", "setuptools: environment.yml's range <82 differs"),
        ("python=3.11", "python=3.10", "python: environment.yml allows 3.10"),
        ("      - -e .\n", "", "lacks '-e .'"),
        ("  - pip:", "  - pytorch=2.14.*\n  - pip:", "names 'torch' twice"),
    ],
)
def test_each_kind_of_disagreement_is_found(old, new, message):
    assert disagreements(PYPROJECT, ENVIRONMENT) == []  # the pair above agrees
    assert old in ENVIRONMENT
    try:
        found = disagreements(PYPROJECT, ENVIRONMENT.replace(old, new))
    except ValueError as err:
        found = [str(err)]
    assert any(re.search(message, line) for line in found), found

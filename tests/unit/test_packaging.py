"""The pinned requirement files are the lock of pyproject.toml's ranges, and they must agree.

pyproject.toml declares what the distribution (leadgen-scoring) needs as compatible ranges;
requirements*.txt pin exact versions for the image and `make install`. Each pin must be a
dependency of the right kind (the image's and the build's: the distribution's own dependencies;
the model export's: the `export` extra; the tests' and the CDK app's: the `dev` or `cdk` extra)
and satisfy its declared range, and every declared dependency must be pinned somewhere.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# requirement file -> the groups of pyproject.toml its pins may be declared in
KINDS: dict[str, tuple[str, ...]] = {
    "requirements.txt": ("dependencies",),
    "requirements-build.txt": ("dependencies",),
    "requirements-export.txt": ("export",),
    "requirements-dev.txt": ("dev", "cdk"),
}


def pins(name: str) -> dict[str, Requirement]:
    """The file's own pins (not those of the files it includes with -r), by canonical name."""
    out: dict[str, Requirement] = {}
    for line in (REPO / name).read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            req = Requirement(text)
            out[canonicalize_name(req.name)] = req
    return out


def declared() -> dict[str, dict[str, Requirement]]:
    """group ("dependencies" or an extra's name) -> its requirements by canonical name."""
    project = PYPROJECT["project"]
    groups = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    return {
        group: {canonicalize_name(Requirement(r).name): Requirement(r) for r in reqs}
        for group, reqs in groups.items()
    }


def pinned_version(req: Requirement) -> str:
    (spec,) = req.specifier
    assert spec.operator == "==", f"{req}: not an exact pin"
    return spec.version


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_pin_is_declared_where_it_belongs_and_satisfies_its_range(name: str) -> None:
    groups = declared()
    wrong = []
    for key, pin in pins(name).items():
        found = [groups[g][key] for g in KINDS[name] if key in groups[g]]
        if not found:
            wrong.append(f"{pin}: not declared in {' or '.join(KINDS[name])}")
        elif not found[0].specifier.contains(pinned_version(pin), prereleases=True):
            wrong.append(f"{pin}: outside the declared {found[0]}")
        elif pin.extras != found[0].extras:
            wrong.append(f"{pin}: extras differ from the declared {found[0]}")
    assert wrong == []


def test_every_declared_dependency_is_pinned() -> None:
    pinned = {key for name in KINDS for key in pins(name)}
    unpinned = sorted(
        f"{group}: {req}"
        for group, reqs in declared().items()
        for key, req in reqs.items()
        if key not in pinned
    )
    assert unpinned == []


def test_the_build_backend_is_the_pinned_setuptools() -> None:
    (backend,) = PYPROJECT["build-system"]["requires"]
    assert Requirement(backend) == pins("requirements-dev.txt")["setuptools"]
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"


def test_the_check_catches_a_pin_outside_its_range() -> None:
    declared_numpy = declared()["dependencies"]["numpy"]
    assert declared_numpy.specifier.contains("2.4.6")
    assert not declared_numpy.specifier.contains("3.0.0")
    assert not declared_numpy.specifier.contains("1.26.4")


def test_the_package_and_the_command() -> None:
    project = PYPROJECT["project"]
    assert project["name"] == "leadgen-scoring"  # `leadgen` on PyPI is someone else's
    assert project["scripts"] == {"leadgen": "leadgen.__main__:main"}
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == [
        "leadgen",
        "leadgen.*",
    ]

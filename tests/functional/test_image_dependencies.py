"""What the image's pip installs resolve to, read from the Dockerfile and the installed metadata.

The runtime stage installs requirements.txt into the task root and, separately, the build
extras (requirements-build.txt) into /opt/build-python, constrained by requirements.txt. Every
package both installs must be pinned in the constraints, or the second install resolves it on
its own: it took a python-dateutil that botocore's pins exclude. The model stage must take
torch from PyTorch's CPU index alone, on either architecture.
"""

from __future__ import annotations

import importlib.metadata as md
import shlex
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.functional.image_env import (
    DOCKERFILE,
    distribution_closure,
    parse,
    requirement_lines,
)

REPO = Path(__file__).resolve().parents[2]


def _installs(stage_index: int) -> list[list[str]]:
    """The words of each `pip install` of a stage, in order."""
    _, stages = parse(DOCKERFILE.read_text())
    out = []
    for run in stages[stage_index].args("RUN"):
        for part in run.split("&&") if "pip install" in run else []:
            words = shlex.split(part)
            if words[:2] == ["pip", "install"]:
                out.append(words)
    return out


def _files(words: list[str], flag: str) -> list[Path]:
    """The repository files a flag names (the Dockerfile copies them under their own names)."""
    return [REPO / Path(words[i + 1]).name for i, w in enumerate(words) if w == flag]


def _pins(files: list[Path]) -> dict[str, Version]:
    pins = {}
    for f in files:
        for line in requirement_lines(f):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def test_the_build_extras_resolve_to_the_task_roots_versions() -> None:
    (extras,) = [w for w in _installs(-1) if "/opt/build-python" in w]
    constraints = _pins(_files(extras, "-c"))
    build = distribution_closure([r for f in _files(extras, "-r") for r in requirement_lines(f)])
    runtime = distribution_closure(requirement_lines(REPO / "requirements.txt"))
    shared = build & runtime
    assert {"numpy", "python-dateutil"} <= shared
    assert sorted(shared - set(constraints)) == [], "installed twice, pinned in neither"
    # and every pin satisfies what each package of either install requires of it
    for dist in build | runtime:
        for spec in md.distribution(dist).requires or []:
            req = Requirement(spec)
            name = canonicalize_name(req.name)
            if name in shared and (req.marker is None or req.marker.evaluate({"extra": ""})):
                assert constraints[name] in req.specifier, f"{dist} needs {req}"


def test_torch_comes_from_the_cpu_index_alone_before_anything_else() -> None:
    """One index for torch, on both architectures (a second index would let pip pick PyPI's
    CUDA build), its pin taken from requirements-export.txt, installed before the rest."""
    installs = _installs(0)
    first, rest = installs[0], installs[1:]
    assert first[first.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert any("^torch==" in w and "requirements-export.txt" in w for w in first), first
    assert any(r.startswith("torch==") for r in requirement_lines(REPO / "requirements-export.txt"))
    assert all("--extra-index-url" not in w for words in installs for w in words)
    assert rest and all("download.pytorch.org" not in " ".join(w) for w in rest)

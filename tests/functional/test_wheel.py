"""The distribution as a user gets it: the wheel, installed into a fresh venv outside the clone,
gives a `leadgen` command that generates data, builds and scores from any folder.

The wheel is built from a copy of what it packages (pyproject.toml, README.md, leadgen/), so the
build writes nothing into the clone, with the pinned setuptools of this environment (no network).
Installing every third-party dependency into the fresh venv would download gigabytes: the venv
sees this environment's site-packages through a .pth line instead, read after its own, and
leadgen itself comes from the wheel alone (its location is checked).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    venv: Path
    work: Path  # an empty folder outside the clone, the commands' working directory
    env: dict[str, str]

    def leadgen(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "leadgen"), *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    shutil.copy2(REPO / "pyproject.toml", src)
    shutil.copy2(REPO / "README.md", src)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "leadgen", src / "leadgen", ignore=ignore)
    dist = tmp / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip_wheel, "--no-index", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = dist.glob("leadgen_scoring-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (purelib,) = (venv / "lib").glob("python3.*/site-packages")
    # This environment's third-party packages, after the venv's own (a plain path line: the .pth
    # files in that folder, such as this clone's editable install, are not processed).
    (purelib / "project_deps.pth").write_text(site.getsitepackages()[0] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("wheel")
    venv = _fresh_venv(tmp, _build_wheel(tmp))
    work = tmp / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"LEADGEN_EMBEDDER": "hashing", "HOME": str(tmp / "home")})
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield Installed(venv, work, env)


def test_the_installed_leadgen_is_the_wheel_not_the_clone(installed: Installed) -> None:
    out = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import leadgen; print(leadgen.__file__)"],
        cwd=installed.work,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    )
    where = Path(out.stdout.strip()).resolve()
    assert where.is_relative_to(installed.venv.resolve()), where
    assert not where.is_relative_to(REPO)


def test_the_command_generates_builds_and_scores_from_another_folder(
    installed: Installed,
) -> None:
    helped = installed.leadgen("--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: leadgen")
    for command in ("data", "inspect", "build", "report", "score", "score-file", "serve"):
        assert command in helped.stdout
    data = installed.leadgen("data", "--rows", "300", "--out", "crm.parquet")
    assert data.returncode == 0, data.stderr
    built = installed.leadgen(
        *("build", "--input", "crm.parquet", "--out", "artifacts", "--embedder", "hashing"),
        *("--min-auc", "0", "--min-lift", "0", "--quiet"),
    )
    assert built.returncode == 0, built.stderr
    assert (installed.work / "artifacts" / "LATEST").is_file()
    lead = {"email": "jane.doe@example.com", "job_title": "Portfolio Manager", "company_size": 50}
    (installed.work / "lead.json").write_text(json.dumps(lead))
    scored = installed.leadgen("score", "lead.json", "--embedder", "hashing")
    assert scored.returncode == 0, scored.stderr
    answer = json.loads(scored.stdout)
    assert answer["duplicate"] is False and answer["grade"] in ("A", "B", "C", "D")
    assert not (REPO / "artifacts").exists() and not (REPO / "crm.parquet").exists()

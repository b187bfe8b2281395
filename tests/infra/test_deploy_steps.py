"""The README's deploy steps, as a new user on a host with only Python, Node and make runs them.

No apt (a Mac): `make install-dev` goes on without the browser (a message, not a failure), and the
deploy steps use `make install-deploy`, which installs nothing test-only. What those steps then
run with Python (the CDK app that `cdk` starts, `leadgen data`, the client) must work with only
the packages install-deploy installs: they run here under the same import rules the image-shaped
environment uses (tests/functional/image_env.py), with only those packages importable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.functional.image_env import (
    distribution_closure,
    requirement_lines,
    restricted_site,
    top_level_modules,
)
from tests.synthesis import REPO_ROOT

MAKE = shutil.which("make")


def _deploy_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    return readme.split("## Deploy to your account", 1)[1].split("\n## ", 1)[0]


def _make(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    assert MAKE, "make is needed"
    command = [MAKE, "--no-print-directory", "-C", str(REPO_ROOT), *args]
    return subprocess.run(command, env={"PATH": path}, capture_output=True, text=True, timeout=60)


def test_without_apt_the_browser_is_a_message_not_a_failure(tmp_path: Path) -> None:
    """A PATH with neither apt-get nor chromium on it (make runs recipes with /bin/bash)."""
    proc = _make("browser", path=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert "no apt-get" in line and "test_report_page.py" in line


def test_with_apt_the_browser_is_installed_with_it(tmp_path: Path) -> None:
    calls = tmp_path / "apt-get.calls"
    apt = tmp_path / "apt-get"
    apt.write_text(f'#!/bin/bash\necho "$*" >> "{calls}"\n')
    apt.chmod(0o755)
    proc = _make("browser", path=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]


def test_the_deploy_steps_install_nothing_test_only() -> None:
    """Every `make` target the deploy steps run, whatever is already installed (-B), without
    apt: no browser, no emulator, no test or model-export requirements."""
    targets = re.findall(r"^make ([\w-]+)", _deploy_section(), re.MULTILINE)
    assert targets == ["install-deploy"]
    proc = _make("-n", "-B", *targets, path="/usr/bin:/bin")
    assert proc.returncode == 0, proc.stderr
    for needle in ("apt-get", "chromium", "fetch_rie", "requirements-dev", "requirements-export"):
        assert needle not in proc.stdout, needle
    assert "-r requirements.txt -r requirements-deploy.txt" in proc.stdout
    assert "npm ci" in proc.stdout


@pytest.fixture(scope="module")
def deploy_python(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a Python that has only what install-deploy installs."""
    files = ("requirements.txt", "requirements-deploy.txt")
    lines = [line for f in files for line in requirement_lines(REPO_ROOT / f)]
    names = top_level_modules(distribution_closure(lines))
    site = tmp_path_factory.mktemp("deploy-site")
    restricted_site(site, {str(REPO_ROOT): names}, site / "refused.log")
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{site}:{REPO_ROOT}",
        "HOME": str(site),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }


def test_the_deploy_steps_python_needs_only_the_deploy_packages(
    deploy_python: dict[str, str], tmp_path: Path
) -> None:
    """The CDK app `cdk synth`/`cdk deploy` start (cdk.json: python3 app.py, importing every
    stack module), and each `python ...` line of the deploy steps that needs no AWS."""
    import sys

    probe = subprocess.run(
        [sys.executable, "-c", "import app, stacks.leadgen_stack; import torch"],
        cwd=tmp_path, env=deploy_python, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "No module named 'torch'" in probe.stderr, probe.stderr  # the rules hold: app first
    # `leadgen X` is the console script install-deploy installs; here, the same module.
    as_python = {"python ": f"{sys.executable} ", "leadgen ": f"{sys.executable} -m leadgen "}
    commands = [
        as_python[line[: line.index(" ") + 1]] + line.split("#", 1)[0].strip().split(" ", 1)[1]
        for line in _deploy_section().splitlines()
        if line.startswith(tuple(as_python)) and "client score" not in line
    ]
    assert len(commands) == 2  # `leadgen data` and the example lead
    commands.append(f"{sys.executable} -m leadgen client score --help")
    for command in commands:
        proc = subprocess.run(command.replace("--out data/", "--rows 200 --out data/"),
                              shell=True, cwd=tmp_path, env=deploy_python, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-2000:]}"
    assert (tmp_path / "data" / "crm.parquet").stat().st_size > 0
    assert '"email"' in (tmp_path / "lead.json").read_text()

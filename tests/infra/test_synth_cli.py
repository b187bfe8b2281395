"""`npx cdk synth` as a user runs it: no AWS credentials, no Docker; then cfn-lint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import REPO_ROOT, Synth

# W3005: redundant DependsOn, which CDK generates (e.g. on the autoscaling target).
CFN_LINT_IGNORE = ["W3005"]


def offline_env() -> dict[str, str]:
    """The environment of a user without credentials: no AWS_* at all, no metadata service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",  # `python3 app.py` -> this venv
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        CDK_DISABLE_CLI_TELEMETRY="true",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
    )
    return env


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npx = shutil.which("npx")
    assert npx, "npx not found: install Node.js"
    assert (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists(), (
        "the pinned CDK CLI is not installed: run `npm ci` (make install-dev does)"
    )
    outdir = tmp_path_factory.mktemp("cli-cdk-out")
    proc = subprocess.run(
        [npx, "--no-install", "cdk", "synth", "--quiet", "--no-notices", "-o", str(outdir)],
        cwd=REPO_ROOT,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"cdk synth failed:\n{proc.stdout}\n{proc.stderr}"
    return outdir


def test_cdk_synth_offline_produces_the_dev_stack(cli_synth: Path) -> None:
    template = json.loads((cli_synth / "leadgen-dev.template.json").read_text())
    assert "ArtifactBucket" in template["Resources"]
    assert set(template["Outputs"]) >= {
        "ApiUrl",
        "ArtifactBucketName",
        "DuplicateTableName",
        "BuildProjectName",
        "AlarmTopicArn",
    }


def test_cdk_synth_stages_a_small_image_asset(cli_synth: Path) -> None:
    """The image asset is staged, not built, and excludes .venv, node_modules, data, tests..."""
    assets = json.loads((cli_synth / "leadgen-dev.assets.json").read_text())
    images = assets["dockerImages"]
    assert len(images) == 1, "one image for both the Lambda and the build job"
    (image,) = images.values()
    assert image["source"]["dockerFile"] == "lambda_src/Dockerfile"
    assert image["source"]["platform"] == "linux/arm64"
    staged = cli_synth / image["source"]["directory"]
    names = {p.name for p in staged.iterdir()}
    assert {"leadgen", "lambda_src"} <= names
    assert not names & {".venv", "node_modules", "cdk.out", ".git", "tests", "bench", "stacks"}
    size = sum(p.stat().st_size for p in staged.rglob("*") if p.is_file())
    assert size < 50 * 1024 * 1024, f"staged image context is {size / 1e6:.0f} MB"


def test_cdk_synth_writes_a_clean_nag_report(cli_synth: Path) -> None:
    from stacks.nag import unacknowledged_findings

    assert unacknowledged_findings(cli_synth) == []


def test_cfn_lint_clean(cli_synth: Path, synth: Synth) -> None:
    """cfn-lint on the CLI's template and on the in-process prod/JWT variant."""
    from cfnlint.api import ManualArgs, lint_file

    prod = synth.outdir / "leadgen-prod.template.json"
    problems: list[str] = []
    for path in (cli_synth / "leadgen-dev.template.json", prod):
        matches = lint_file(path, ManualArgs(ignore_checks=CFN_LINT_IGNORE))
        problems += [f"{path.name}: {m}" for m in matches]
    assert problems == []

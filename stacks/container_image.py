"""The one container image (arm64) used by the scoring Lambda AND the CodeBuild index build.

Built from `lambda_src/Dockerfile` with the repository root as the Docker context (the image
needs leadgen/, lambda_src/ and build_job/). `cdk synth` only stages the context into cdk.out
(no Docker needed); `cdk deploy` builds and pushes it to the bootstrap ECR repository.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = "lambda_src/Dockerfile"

# Never part of the image. Local data and environments: staging them would copy gigabytes into
# cdk.out on every synth.
ASSET_EXCLUDES: tuple[str, ...] = (
    ".venv",
    "node_modules",
    "cdk.out",
    ".git",
    ".demo",
    "data",
    "artifacts",
    ".cache",
    "caches",
    "tests",
    "bench",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "**/__pycache__",
    "**/*.pyc",
    "*.egg-info",
    # Not the runtime's: the synthetic CRM generator (tests, demo, benchmarks), dev and deploy pins
    # (pinning a test tool must not rebuild the image and re-warm provisioned concurrency).
    "leadgen/synthetic",
    "requirements-dev.txt",
    "requirements-deploy.txt",
    # Infrastructure-only files: changing the CDK code must not rebuild the image (a new image
    # means a new Lambda version and a provisioned-concurrency re-warm).
    "app.py",
    "stacks",
    "cdk.json",
    "cdk.context.json",
    "package.json",
    "package-lock.json",
    ".ci",
    ".github",
    "Makefile",
)


class LeadgenImage(Construct):
    """The Docker image asset shared by the Lambda function and the CodeBuild project."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.asset = ecr_assets.DockerImageAsset(
            self,
            "Asset",
            directory=str(REPO_ROOT),
            file=DOCKERFILE,
            platform=ecr_assets.Platform.LINUX_ARM64,
            exclude=list(ASSET_EXCLUDES),
            ignore_mode=IgnoreMode.DOCKER,
        )

    @property
    def repository(self) -> ecr.IRepository:
        return self.asset.repository

    @property
    def tag(self) -> str:
        return self.asset.image_tag

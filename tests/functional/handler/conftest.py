"""The handler's fixtures: moto's resources with one published version (once per session),
a private copy of it per test, and a cold start of the handler in the test's environment.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import moto_environment
from tests.deployed import Deployment, running_as
from tests.functional.handler.harness import BASE, BUCKET, IDENTITY, TABLE, Aws, Lambda, _provision
from tests.synthesis import Synth


@pytest.fixture(autouse=True)
def _aws_env(moto_env: str) -> str:
    """Every test here runs the function against moto: its variables, for the test only."""
    return moto_env


@pytest.fixture(scope="session")
def aws(moto_server: str, tiny_crm: Path) -> Aws:
    """Bucket, duplicate and identity tables and the hash key's secret in moto, one hashing build
    into S3 with that key, customers synced to both tables (what the CodeBuild job does)."""
    with moto_environment(moto_server):
        return _provision(moto_server, tiny_crm)


@pytest.fixture
def artifacts_uri(aws: Aws) -> str:
    """A private copy of the published artifacts (server-side S3 copies), so a test can move
    LATEST or corrupt a version without touching the others."""
    prefix = f"artifacts/t-{uuid.uuid4().hex[:8]}"
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{BASE}/")
    for page in pages:
        for obj in page.get("Contents", []):
            aws.s3.copy_object(
                Bucket=BUCKET,
                Key=prefix + obj["Key"][len(BASE) :],
                CopySource={"Bucket": BUCKET, "Key": obj["Key"]},
            )
    return f"s3://{BUCKET}/{prefix}"


@pytest.fixture(scope="module")
def deployment(synth: Synth, aws: Aws) -> Deployment:
    """The stack as deployed onto this session's moto resources."""
    names = {"ArtifactBucket": BUCKET, "DuplicateTable": TABLE, "IdentityTable": IDENTITY,
             "EmailHashKeySecret": aws.secret_arn}  # fmt: skip
    deployment = Deployment(synth.dev_json, names)
    deployment.names[deployment.function_id] = "leadgen-scoring"
    return deployment


# What the function here does differently from the deployed one: the fast hashing embedder, a
# /tmp of its own, LATEST re-checked on every call, no X-Ray daemon to send traces to.
TEST_SETTINGS = {
    "LEADGEN_EMBEDDER": "hashing",
    "REFRESH_SECONDS": "0",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@pytest.fixture
def start_lambda(
    deployment: Deployment,
    moto_env: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Callable[..., Lambda]]:
    """Set the function's environment (the synthesised template's, with TEST_SETTINGS and the
    test's own `env`; None removes a variable) and import the handler: a cold start, signing
    with the function role's credentials (its calls are checked against that role's policy)."""

    def start(**env: str | None) -> Lambda:
        changes = {**TEST_SETTINGS, "LEADGEN_CACHE_DIR": str(tmp_path / "lambda-tmp"), **env}
        variables = deployment.run_environment(deployment.function_id, moto_env, changes)
        stale = [k for k in os.environ if k.startswith("LEADGEN_") or k in changes]
        for key in stale:  # nothing of the developer's shell or an earlier cold start
            if key not in variables:
                monkeypatch.delenv(key, raising=False)
        for key, value in variables.items():
            if key not in _CREDENTIALS:
                monkeypatch.setenv(key, value)
        # pytest swaps sys.stdout per test; the Powertools log handler (created once per
        # process) must write to this test's stdout for the assertions on log content.
        # (Assigned, not setStream: that would flush the previous test's closed stream.)
        for h in logging.getLogger("leadgen").handlers:
            if isinstance(h, logging.StreamHandler):
                h.stream = sys.stdout
        with running_as({k: variables[k] for k in _CREDENTIALS}):
            if "lambda_src.handler" in sys.modules:
                # Powertools keeps one metric set per process: drop what earlier tests left,
                # but not what this init adds (published with the first invocation, as in Lambda).
                sys.modules["lambda_src.handler"].metrics.clear_metrics()
                module = importlib.reload(sys.modules["lambda_src.handler"])
            else:
                module = importlib.import_module("lambda_src.handler")
        # Powertools configures the "leadgen" logger once per process and skips it on later
        # inits, so a quieter level an earlier cold start set (another test's
        # POWERTOOLS_LOG_LEVEL) would stick: each cold start here logs at least what its
        # environment says, as in Lambda (a test's caplog may ask for more).
        wanted = logging.getLevelName(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())
        current = logging.getLogger("leadgen").level or wanted
        module.logger.setLevel(min(current, wanted))
        return Lambda(module, capsys)

    yield start
    # This test's stdout closes with it; later tests logging under "leadgen" must not hit it.
    for h in logging.getLogger("leadgen").handlers:
        if isinstance(h, logging.StreamHandler):
            h.stream = sys.__stdout__

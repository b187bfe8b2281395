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
from tests.functional.handler.harness import BUCKET, IDENTITY, TABLE, Aws, Lambda, _provision


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
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="artifacts/")
    for page in pages:
        for obj in page.get("Contents", []):
            aws.s3.copy_object(
                Bucket=BUCKET,
                Key=prefix + obj["Key"][len("artifacts") :],
                CopySource={"Bucket": BUCKET, "Key": obj["Key"]},
            )
    return f"s3://{BUCKET}/{prefix}"


@pytest.fixture
def start_lambda(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Lambda]]:
    """Set the function's environment and import the handler: a cold start."""

    def start(**env: str | None) -> Lambda:
        base: dict[str, str | None] = {
            "LEADGEN_EMBEDDER": "hashing",
            "LEADGEN_CACHE_DIR": str(tmp_path / "lambda-tmp"),
            "REFRESH_SECONDS": "0",
            "DUP_TABLE_NAME": TABLE,
            "IDENTITY_TABLE_NAME": IDENTITY,
            "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN": aws.secret_arn,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            "POWERTOOLS_METRICS_NAMESPACE": "Leadgen",
            "LEADGEN_MODEL_DIR": None,
            "MAX_BATCH_SIZE": None,
        }
        for key, value in {**base, **env}.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        # pytest swaps sys.stdout per test; the Powertools log handler (created once per
        # process) must write to this test's stdout for the assertions on log content.
        # (Assigned, not setStream: that would flush the previous test's closed stream.)
        for h in logging.getLogger("leadgen").handlers:
            if isinstance(h, logging.StreamHandler):
                h.stream = sys.stdout
        if "lambda_src.handler" in sys.modules:
            # Powertools keeps one metric set per process: drop what earlier tests left, but
            # not what this init adds (it is published with the first invocation, as in Lambda).
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

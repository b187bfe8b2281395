"""The scoring function follows each build (a function version pinned to it), and a version too
big for the deployed function is refused before LATEST moves.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pyarrow as pa
import pytest

from build_job.job import EXIT_CAPACITY
from tests.conftest import moto_client
from tests.functional.build_job_runs.harness import (
    ART,
    BUCKET,
    artifacts,
    assert_one_clear_line,
    latest,
    put_parquet,
    report,
    run_job,
    run_ok,
    version_dirs,
)


# ---- the scoring function follows, and a version it cannot hold is refused ---------------------
@pytest.fixture(scope="module")
def lambda_fn(moto_server: str) -> Any:
    """The scoring function as `cdk deploy` leaves it in moto: an image function whose template
    environment pins nothing, one version published by the stack, alias `live` on it."""
    iam = moto_client("iam", moto_server)
    lam = moto_client("lambda", moto_server)
    role = iam.create_role(RoleName="leadgen-scoring", AssumeRolePolicyDocument="{}")["Role"]
    name = f"leadgen-scoring-{uuid.uuid4().hex[:6]}"
    lam.create_function(
        FunctionName=name,
        Role=role["Arn"],
        PackageType="Image",
        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/leadgen:stack"},
        Environment={"Variables": {"ARTIFACTS_URI": "s3://x/artifacts", "REFRESH_SECONDS": "300"}},
        MemorySize=3008,
        EphemeralStorage={"Size": 2048},
    )
    stack_version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=stack_version)
    return lam, name, stack_version


def _alias_env(lam: Any, name: str) -> tuple[str, dict[str, str]]:
    version = lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
    config = lam.get_function_configuration(FunctionName=name, Qualifier=version)
    return version, config["Environment"]["Variables"]


def test_each_build_rolls_the_function_out_to_a_version_pinned_to_it(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, lambda_fn: Any
) -> None:
    lam, name, stack_version = lambda_fn
    uri = put_parquet(s3, "input/rollout.parquet", crm)
    pins = []
    for _ in range(2):
        version = run_ok(
            job_env, LEADGEN_INPUT_PATH=uri, ARTIFACTS_URI=artifacts("rollout"),
            LEADGEN_FUNCTION_NAME=name,
        )  # fmt: skip
        key = f"{ART}/rollout/LATEST"
        pointer = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        fn_version, env = _alias_env(lam, name)
        assert env["LEADGEN_ARTIFACT_PIN"] == f"{version}@{pointer['manifest_sha256']}"
        assert env["ARTIFACTS_URI"] == "s3://x/artifacts"  # the stack's variables are kept
        rollout = report(s3, "rollout", version)["rollout"]
        assert rollout["status"] == "ok" and rollout["function_version"] == fn_version
        assert rollout["previous_version"] == (pins[-1][0] if pins else stack_version)
        pins.append((fn_version, env["LEADGEN_ARTIFACT_PIN"]))
    assert len({v for v, _ in pins}) == 2 and stack_version not in {v for v, _ in pins}
    # the stack's own version is untouched: it still follows LATEST
    stack_env = lam.get_function_configuration(FunctionName=name, Qualifier=stack_version)
    assert "LEADGEN_ARTIFACT_PIN" not in stack_env["Environment"]["Variables"]


@pytest.mark.parametrize(
    ("memory", "tmp", "short"), [("256", "2048", "memory"), ("3008", "1", "/tmp")]
)
def test_a_version_too_big_for_the_function_is_refused_before_latest_moves(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, memory: str, tmp: str, short: str
) -> None:
    prefix = f"too-big-{short.strip('/')}"
    uri = put_parquet(s3, f"input/{prefix}.parquet", crm)
    previous = run_ok(job_env, LEADGEN_INPUT_PATH=uri, ARTIFACTS_URI=artifacts(prefix))
    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=uri,
        ARTIFACTS_URI=artifacts(prefix),
        LEADGEN_FUNCTION_MEMORY_MB=memory,
        LEADGEN_FUNCTION_TMP_MB=tmp,
    )
    assert result.code == EXIT_CAPACITY
    assert_one_clear_line(
        result, f"needs {short}", "not publishing", f"LATEST unchanged ({previous})"
    )
    assert latest(s3, prefix) == previous and version_dirs(s3, prefix) == [previous]
    # the report of a published build says what serving it needs
    needs = report(s3, prefix, previous)["serving_requirements"]
    assert needs["memory_mb"] > 256 and needs["tmp_mb"] >= 1 and needs["expected_cold_start_s"] > 0

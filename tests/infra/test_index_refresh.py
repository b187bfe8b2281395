"""CodeBuild index build (same image as the Lambda) and its EventBridge schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import REPO_ROOT, Synth

BUILDSPEC = REPO_ROOT / "build_job" / "buildspec.yml"


def _project(synth: Synth, which: str = "dev") -> tuple[str, dict[str, Any]]:
    """The index refresh project (the other is bulk scoring: tests/infra/test_bulk_scoring.py)."""
    projects = {
        k: v
        for k, v in synth.resources(which, "AWS::CodeBuild::Project").items()
        if k.startswith("IndexRefresh")
    }
    assert len(projects) == 1
    ((logical_id, project),) = projects.items()
    return logical_id, project


def _env(project: dict[str, Any]) -> dict[str, Any]:
    return {
        v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]
    }


def test_build_runs_in_the_same_image_as_the_lambda(synth: Synth) -> None:
    _, project = _project(synth)
    environment = project["Properties"]["Environment"]
    (fn,) = [
        f
        for f in synth.resources("dev", "AWS::Lambda::Function").values()
        if f["Properties"].get("PackageType") == "Image"
    ]
    assert environment["Image"] == fn["Properties"]["Code"]["ImageUri"]
    assert environment["Type"] == "ARM_CONTAINER"
    assert environment["ImagePullCredentialsType"] == "SERVICE_ROLE"
    assert environment["PrivilegedMode"] is False
    assert environment["ComputeType"] == "BUILD_GENERAL1_SMALL"
    _, prod = _project(synth, "prod")
    assert prod["Properties"]["Environment"]["ComputeType"] == "BUILD_GENERAL1_LARGE"


def test_build_runs_the_build_job(synth: Synth) -> None:
    _, project = _project(synth)
    source = project["Properties"]["Source"]
    assert source["Type"] == "NO_SOURCE"
    assert "python -m build_job" in source["BuildSpec"]
    assert project["Properties"]["Artifacts"] == {"Type": "NO_ARTIFACTS"}
    assert project["Properties"]["ConcurrentBuildLimit"] == 1
    assert project["Properties"]["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {
        "Ref": "BuildLogGroup"
    }


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_the_project_runs_build_job_buildspec_yml(synth: Synth, which: str) -> None:
    """The inlined buildspec is the file's, command for command (and nothing else)."""
    _, project = _project(synth, which)
    inlined = json.loads(project["Properties"]["Source"]["BuildSpec"])
    from_file = yaml.safe_load(BUILDSPEC.read_text())
    assert inlined["phases"]["build"]["commands"] == from_file["phases"]["build"]["commands"]
    assert inlined["phases"]["build"]["commands"][-1] == "python -m build_job"
    assert inlined == from_file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "not found"),
        ("", "empty"),
        ("  \n\n", "empty"),
        ("# only a comment\n", "empty"),
        ("version: [0.2\n", "not valid YAML"),
        ("- python -m build_job\n", "not a buildspec"),
        ("version: 0.2\n", "not a buildspec"),
    ],
)
def test_a_missing_or_empty_buildspec_fails_the_synth_naming_the_file(
    tmp_path: Path, text: str | None, message: str
) -> None:
    from stacks.index_refresh import BuildspecError, load_buildspec

    path = tmp_path / "buildspec.yml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(BuildspecError, match=message) as raised:
        load_buildspec(path)
    assert str(path) in str(raised.value)


def test_build_environment_from_config(synth: Synth) -> None:
    _, project = _project(synth)
    env = _env(project)
    assert env["LEADGEN_INPUT_PATH"] == {
        "Fn::Join": ["", ["s3://", {"Ref": "ArtifactBucket"}, "/input/crm.parquet"]]
    }
    assert env["LEADGEN_TEXT_COLS"] == "job_title,bio"
    assert env["LEADGEN_CAT_COLS"] == "industry,country"
    assert env["LEADGEN_NUM_COLS"] == "company_size,web_activity_score,email_engagement_score"
    assert env["LEADGEN_HIGH_VALUE_COL"] == "is_high_value"
    assert "LEADGEN_VALUE_COL" not in env  # exactly one high-value rule
    assert env["ARTIFACTS_URI"] == {
        "Fn::Join": ["", ["s3://", {"Ref": "ArtifactBucket"}, "/artifacts"]]
    }
    assert env["DUP_TABLE_NAME"] == {"Ref": "DuplicateTable"}
    assert env["IDENTITY_TABLE_NAME"] == {"Ref": "IdentityTable"}
    # the hash key's secret by ARN, never the key itself
    assert env["LEADGEN_EMAIL_HASH_KEY_SECRET_ARN"] == {"Ref": "EmailHashKeySecret"}
    assert "LEADGEN_EMAIL_HASH_KEY" not in env
    assert env["LEADGEN_KEEP_VERSIONS"] == "5"
    assert env["LEADGEN_EMBEDDER"] == "onnx"
    assert "LEADGEN_MAX_PSI" not in env  # no drift gate unless configured
    # prod reads the CRM export from the path given with -c input_path=..., and gates drift
    # with -c max_psi=1.0
    _, prod = _project(synth, "prod")
    assert _env(prod)["LEADGEN_INPUT_PATH"] == "s3://crm-exports-example/leadgen/crm.parquet"
    assert _env(prod)["LEADGEN_MAX_PSI"] == "1.0"


@pytest.mark.parametrize(("which", "memory"), [("dev", "2048"), ("prod", "3008")])
def test_the_build_job_knows_the_function_it_rolls_out_to_and_its_size(
    synth: Synth, which: str, memory: str
) -> None:
    """The job refuses a version the deployed function cannot hold (leadgen/builder/capacity.py),
    so it is told the function's memory and /tmp, from the same config the function is made of;
    and the function's own environment pins no artifact version (only the job does)."""
    _, project = _project(synth, which)
    env = _env(project)
    (function_id, function) = next(
        (k, v)
        for k, v in synth.resources(which, "AWS::Lambda::Function").items()
        if v["Properties"].get("PackageType") == "Image"
    )
    assert env["LEADGEN_FUNCTION_NAME"] == {"Ref": function_id}
    assert env["LEADGEN_FUNCTION_MEMORY_MB"] == memory == str(function["Properties"]["MemorySize"])
    storage = function["Properties"]["EphemeralStorage"]["Size"]
    assert env["LEADGEN_FUNCTION_TMP_MB"] == str(storage) == "2048"
    assert "LEADGEN_ARTIFACT_PIN" not in function["Properties"]["Environment"]["Variables"]


def test_schedule_starts_the_build_project(synth: Synth) -> None:
    project_id, _ = _project(synth)
    rules = {
        k: v for k, v in synth.resources("dev", "AWS::Events::Rule").items() if "Schedule" in k
    }
    assert len(rules) == 1
    (rule,) = rules.values()
    props = rule["Properties"]
    assert props["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert props["State"] == "ENABLED"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [project_id, "Arn"]}
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    # the rule's role may start this build and nothing else
    policies = [
        p
        for p in synth.resources("dev", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert statements == [
        {
            "Action": "codebuild:StartBuild",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [project_id, "Arn"]},
        }
    ]
    (prod_rule,) = [
        r for k, r in synth.resources("prod", "AWS::Events::Rule").items() if "Schedule" in k
    ]
    assert prod_rule["Properties"]["ScheduleExpression"] == "cron(0 2 * * ? *)"

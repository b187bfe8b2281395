"""Bulk scoring in the synthesised template: S3 events -> the rule -> the bulk CodeBuild project.

The rule's input transformer is applied to a real-shaped S3 "Object Created" event
(events/s3_object_created.json) to check the StartBuild payload the project receives; the job
itself runs on that same event against moto in tests/functional/test_bulk_job.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.infra.conftest import REPO_ROOT, Synth
from tests.infra.test_iam import IMAGE_PROJECT_ACTIONS

EVENT = json.loads((REPO_ROOT / "events" / "s3_object_created.json").read_text())


def _bulk(synth: Synth, which: str, type_: str) -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of the one bulk scoring resource of that type."""
    (found,) = [(k, v) for k, v in synth.resources(which, type_).items() if k.startswith("Bulk")]
    return found


def _bulk_project(synth: Synth, which: str = "dev") -> tuple[str, dict[str, Any]]:
    return _bulk(synth, which, "AWS::CodeBuild::Project")


def _rule(synth: Synth, which: str = "dev") -> tuple[str, dict[str, Any]]:
    return _bulk(synth, which, "AWS::Events::Rule")


def json_path(document: Any, path: str) -> Any:
    """EventBridge's simple '$.a.b' paths."""
    for part in path.removeprefix("$.").split("."):
        document = document[part]
    return document


def render_input(transformer: dict[str, Any], event: dict[str, Any]) -> Any:
    """What EventBridge sends the target: the template with each <name> replaced by the JSON
    value at its path (a string value is inserted quoted)."""
    values = {name: json_path(event, path) for name, path in transformer["InputPathsMap"].items()}
    rendered = re.sub(
        r"<([\w-]+)>", lambda m: json.dumps(values[m.group(1)]), transformer["InputTemplate"]
    )
    return json.loads(rendered)


def test_the_bucket_sends_its_events_to_eventbridge(synth: Synth) -> None:
    for which in ("dev", "prod"):
        bucket = synth.resources(which)["ArtifactBucket"]["Properties"]
        assert bucket["NotificationConfiguration"] == {
            "EventBridgeConfiguration": {"EventBridgeEnabled": True}
        }
    assert synth.resources("dev", "Custom::S3BucketNotifications") == {}  # no CDK Lambda for it


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_the_rule_matches_uploads_under_score_requests_only(synth: Synth, which: str) -> None:
    _, rule = _rule(synth, which)
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": "ArtifactBucket"}]},
            "object": {"key": [{"prefix": "score-requests/"}]},
        },
    }
    assert rule["Properties"]["State"] == "ENABLED"


def test_the_target_starts_the_bulk_project_with_the_uploaded_object(synth: Synth) -> None:
    project_id, _ = _bulk_project(synth)
    _, rule = _rule(synth)
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [project_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 2}
    start_build = render_input(target["InputTransformer"], EVENT)
    assert start_build == {
        "environmentVariablesOverride": [
            {
                "name": "LEADGEN_SCORE_REQUEST_BUCKET",
                "type": "PLAINTEXT",
                "value": EVENT["detail"]["bucket"]["name"],
            },
            {
                "name": "LEADGEN_SCORE_REQUEST_KEY",
                "type": "PLAINTEXT",
                "value": "score-requests/q3+leads.csv",
            },
        ]
    }
    # the rule's role may start this project and nothing else
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in synth.resources("dev", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {
            "Action": "codebuild:StartBuild",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [project_id, "Arn"]},
        }
    ]


def test_the_request_fields_are_the_ones_the_job_reads() -> None:
    """stacks.bulk_scoring.REQUEST_FIELDS feeds both the transformer above and the moto test."""
    from leadgen.names import Env
    from stacks.bulk_scoring import REQUEST_FIELDS

    assert set(REQUEST_FIELDS) == {Env.SCORE_REQUEST_BUCKET, Env.SCORE_REQUEST_KEY}
    assert json_path(EVENT, REQUEST_FIELDS[Env.SCORE_REQUEST_KEY]).startswith("score-requests/")


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_the_project_runs_the_bulk_job_in_the_serving_image(synth: Synth, which: str) -> None:
    _, project = _bulk_project(synth, which)
    props = project["Properties"]
    (index,) = [
        v
        for k, v in synth.resources(which, "AWS::CodeBuild::Project").items()
        if k.startswith("IndexRefresh")
    ]
    assert props["Environment"]["Image"] == index["Properties"]["Environment"]["Image"]
    assert props["Environment"]["Type"] == "ARM_CONTAINER"
    assert props["Environment"]["PrivilegedMode"] is False
    inlined = json.loads(props["Source"]["BuildSpec"])
    assert inlined == yaml.safe_load((REPO_ROOT / "bulk_job" / "buildspec.yml").read_text())
    assert inlined["phases"]["build"]["commands"][-1] == "python -m bulk_job"
    assert props["Artifacts"] == {"Type": "NO_ARTIFACTS"}
    assert "ConcurrentBuildLimit" not in props  # uploads are independent files
    assert props["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {"Ref": "BulkScoringLogGroup"}
    env = {v["Name"]: v["Value"] for v in props["Environment"]["EnvironmentVariables"]}
    assert env == {
        "ARTIFACTS_URI": {"Fn::Join": ["", ["s3://", {"Ref": "ArtifactBucket"}, "/artifacts"]]},
        "DUP_TABLE_NAME": {"Ref": "DuplicateTable"},
        "IDENTITY_TABLE_NAME": {"Ref": "IdentityTable"},
        "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN": {"Ref": "EmailHashKeySecret"},
        "LEADGEN_SHORT_CIRCUIT": "customers",
        "LEADGEN_EMBEDDER": "onnx",
        "LEADGEN_SCORE_LOG": {"Fn::Join": ["", ["s3://", {"Ref": "ArtifactBucket"}, "/score-log"]]},
    }


def _role_statements(synth: Synth, which: str, prefix: str) -> list[dict[str, Any]]:
    (role_id,) = [k for k in synth.resources(which, "AWS::IAM::Role") if k.startswith(prefix)]
    return [
        s
        for p in synth.resources(which, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action if isinstance(action, list) else [action])


def _prefixes(statement: dict[str, Any]) -> set[str]:
    """'bucket' for the artifact bucket itself, 'x/*' for its objects under x/."""
    resources = statement["Resource"]
    out = set()
    for r in resources if isinstance(resources, list) else [resources]:
        if r == {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}:
            out.add("bucket")
        else:
            bucket, suffix = r["Fn::Join"][1]
            assert bucket == {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}, r
            out.add(suffix.lstrip("/"))
    return out


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_the_bulk_role_reads_requests_and_artifacts_writes_scored_looks_up(
    synth: Synth, which: str
) -> None:
    statements = _role_statements(synth, which, "BulkScoringProjectRole")
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    by_action: dict[str, set[str]] = {}
    for statement in s3:
        for action in _actions(statement):
            by_action.setdefault(action, set()).update(_prefixes(statement))
    assert by_action == {
        "s3:GetObject": {"artifacts/*", "score-requests/*"},
        "s3:ListBucket": {"bucket"},  # with a prefix condition (below)
        "s3:PutObject": {"scored/*", "score-log/*"},  # the scored file, the score log's parts
        "s3:AbortMultipartUpload": {"scored/*"},
    }
    (listing,) = [s for s in s3 if "s3:ListBucket" in _actions(s)]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["artifacts", "artifacts/*"]}}
    ddb = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    # lookups in both tables (the identity table's only under the customer and lead families)
    assert sorted((sorted(_actions(s)), s["Resource"]["Fn::GetAtt"][0]) for s in ddb) == [
        (["dynamodb:BatchGetItem"], "DuplicateTable"),
        (["dynamodb:BatchGetItem"], "IdentityTable"),
    ]
    secrets = [s for s in statements if any(a.startswith("secretsmanager:") for a in _actions(s))]
    assert [(_actions(s), s["Resource"]) for s in secrets] == [
        ({"secretsmanager:GetSecretValue"}, {"Ref": "EmailHashKeySecret"})
    ]
    others = set().union(*(_actions(s) for s in statements)) - set(by_action)
    others -= {"dynamodb:BatchGetItem", "secretsmanager:GetSecretValue"}
    # the image, its logs, CodeBuild's defaults, and the score log's failures as a metric
    assert others == {*IMAGE_PROJECT_ACTIONS, "cloudwatch:PutMetricData"}


def test_no_other_role_touches_score_requests_or_scored(synth: Synth) -> None:
    """Only the bulk role names those prefixes, and no role holds the whole bucket's objects
    (which would reach them without naming them)."""
    touching = []
    for logical_id, policy in synth.resources("dev", "AWS::IAM::Policy").items():
        text = json.dumps(policy["Properties"]["PolicyDocument"])
        if "/score-requests/" in text or "/scored/" in text:
            touching.append(logical_id)
        assert '{"Fn::GetAtt": ["ArtifactBucket", "Arn"]}, "/*"]' not in text, logical_id
    assert touching and all(t.startswith("BulkScoringProjectRole") for t in touching), touching


def test_failed_and_unstarted_runs_alarm(synth: Synth) -> None:
    project_id, _ = _bulk_project(synth)
    rule_id, _ = _rule(synth)
    alarms = {
        k: v["Properties"]
        for k, v in synth.resources("dev", "AWS::CloudWatch::Alarm").items()
        if k.startswith("MonitoringBulkScoring")
    }
    by_metric = {f"{p['Namespace']}/{p['MetricName']}": p for p in alarms.values()}
    failed = by_metric["AWS/CodeBuild/FailedBuilds"]
    assert failed["Dimensions"] == [{"Name": "ProjectName", "Value": {"Ref": project_id}}]
    not_started = by_metric["AWS/Events/FailedInvocations"]
    assert not_started["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": rule_id}}]
    for props in alarms.values():
        assert props["Threshold"] == 1 and props["Statistic"] == "Sum"
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]

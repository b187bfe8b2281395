"""The score log in the synthesised template (stacks/score_log.py): the function's marked lines go
through a subscription to an encrypted Firehose stream that writes gzipped JSON lines under
score-log/firehose/; score-log/ expires; the runtimes are told where it is; each role may do its
one job; and the alarms read the metrics the runtimes publish."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadgen.names import FIREHOSE_LOG_FOLDER, SCORE_LOG_FILTER, SCORE_LOG_PREFIX
from tests.infra.conftest import Synth

LOG_URI = {"Fn::Join": ["", ["s3://", {"Ref": "ArtifactBucket"}, "/score-log"]]}


def _one(synth: Synth, which: str, type_: str) -> tuple[str, dict[str, Any]]:
    (found,) = synth.resources(which, type_).items()
    return found


def _statements(synth: Synth, which: str, role_prefix: str) -> list[dict[str, Any]]:
    (role,) = [k for k in synth.resources(which, "AWS::IAM::Role") if k.startswith(role_prefix)]
    return [
        s
        for p in synth.resources(which, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action if isinstance(action, list) else [action])


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_the_stream_decompresses_extracts_and_writes_gzipped_lines_under_the_prefix(
    synth: Synth, which: str
) -> None:
    stream_id, stream = _one(synth, which, "AWS::KinesisFirehose::DeliveryStream")
    props = stream["Properties"]
    assert props["DeliveryStreamType"] == "DirectPut"
    assert props["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
    dest = props["ExtendedS3DestinationConfiguration"]
    assert dest["BucketARN"] == {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}
    assert dest["Prefix"] == f"{SCORE_LOG_PREFIX}/{FIREHOSE_LOG_FOLDER}/"
    assert dest["ErrorOutputPrefix"].startswith(f"{SCORE_LOG_PREFIX}/")  # read and erased too
    assert dest["CompressionFormat"] == "GZIP"
    processors = dest["ProcessingConfiguration"]["Processors"]
    assert [p["Type"] for p in processors] == [
        "Decompression",
        "CloudWatchLogProcessing",
        "AppendDelimiterToRecord",
    ]
    assert processors[1]["Parameters"] == [
        {"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}
    ]
    _, subscription = _one(synth, which, "AWS::Logs::SubscriptionFilter")
    sub = subscription["Properties"]
    assert sub["LogGroupName"] == {"Ref": "ScoringFunctionLogGroup"}
    assert sub["FilterPattern"] == SCORE_LOG_FILTER == "{ $.score_log >= 1 }"
    assert sub["DestinationArn"] == {"Fn::GetAtt": [stream_id, "Arn"]}


def test_the_filter_selects_the_lines_the_lambda_prints() -> None:
    """The pattern's key is the marker the stdout sink writes first, with the schema version
    (>= 1) as its value."""
    import io
    from datetime import UTC, datetime

    from leadgen.names import SCORE_LOG_MARKER
    from leadgen.stores.score_log import ScoreRecord, StdoutSink

    out = io.StringIO()
    record = ScoreRecord(datetime.now(UTC), "api", "v", None, None, None, None, 1.0, "D", "x", 0.1)
    StdoutSink(out).write([record])
    line = json.loads(out.getvalue())
    assert f"$.{SCORE_LOG_MARKER} " in SCORE_LOG_FILTER and line[SCORE_LOG_MARKER] >= 1


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_each_score_log_role_does_its_one_job(synth: Synth, which: str) -> None:
    stream_id, _ = _one(synth, which, "AWS::KinesisFirehose::DeliveryStream")
    subscription = _statements(synth, which, "ScoreLogSubscriptionRole")
    assert subscription == [
        {
            "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [stream_id, "Arn"]},
        }
    ]
    delivery = _statements(synth, which, "ScoreLogDeliveryRole")
    objects = [s for s in delivery if "s3:PutObject" in _actions(s)]
    resources = [json.dumps(r) for s in objects for r in (s["Resource"] if isinstance(
        s["Resource"], list) else [s["Resource"]])]  # fmt: skip
    assert sorted(r.rsplit('"/', 1)[1] for r in resources) == [
        'score-log/firehose-errors/*"]]}',
        'score-log/firehose/*"]]}',
    ]
    actions = set().union(*(_actions(s) for s in delivery))
    assert actions == {
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:GetBucketLocation",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    roles = synth.resources(which, "AWS::IAM::Role")
    (trust,) = [v for k, v in roles.items() if k.startswith("ScoreLogSubscriptionRole")]
    principal = trust["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert principal["Principal"] == {"Service": "logs.amazonaws.com"}
    assert "aws:SourceArn" in principal["Condition"]["StringLike"]


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_the_log_expires_and_every_runtime_knows_where_it_is(synth: Synth, which: str) -> None:
    rules = synth.resources(which)["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]
    (expiry,) = [r for r in rules["Rules"] if r["Id"] == "expire-score-log"]
    assert expiry["Prefix"] == "score-log/" and expiry["ExpirationInDays"] == 400
    (fn,) = [
        v["Properties"]
        for v in synth.resources(which, "AWS::Lambda::Function").values()
        if v["Properties"].get("PackageType") == "Image"
    ]
    assert fn["Environment"]["Variables"]["LEADGEN_SCORE_LOG"] == "stdout"
    projects = synth.resources(which, "AWS::CodeBuild::Project")
    env = {
        k.split("Project")[0]: {
            v["Name"]: v["Value"] for v in p["Properties"]["Environment"]["EnvironmentVariables"]
        }
        for k, p in projects.items()
    }
    assert env["IndexRefresh"]["LEADGEN_SCORE_LOG"] == LOG_URI
    assert env["IndexRefresh"]["LEADGEN_MATURITY_DAYS"] == "90"
    assert env["IndexRefresh"]["LEADGEN_MAX_REALIZED_AUC_DROP"] == "0.02"
    assert env["BulkScoring"]["LEADGEN_SCORE_LOG"] == LOG_URI


def test_the_outcome_alarms_read_what_the_runtimes_publish(synth: Synth) -> None:
    from leadgen.names import Metric

    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in synth.resources("dev", "AWS::CloudWatch::Alarm").values()
    }
    failures = alarms[Metric.SCORE_LOG_FAILURES]
    assert (failures["Statistic"], failures["Threshold"]) == ("Sum", 1)
    floor = alarms[Metric.REALIZED_AUC]
    assert floor["ComparisonOperator"] == "LessThanThreshold" and floor["Threshold"] == 0.6
    gap = alarms[Metric.REALIZED_AUC_GAP]
    assert gap["ComparisonOperator"] == "GreaterThanThreshold" and gap["Threshold"] == 0.15
    for props in (failures, floor, gap):
        assert props["Namespace"] == "Leadgen"
        assert props["TreatMissingData"] == "notBreaching"  # no build, no lead: no alarm
    delivery = alarms["DeliveryToS3.Success"]
    assert delivery["Namespace"] == "AWS/Firehose" and delivery["Threshold"] == 1

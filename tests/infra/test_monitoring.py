"""Alarms (to the encrypted SNS topic), the dashboard, and the stack outputs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import Synth


def _alarms(synth: Synth, which: str = "dev") -> dict[str, dict[str, Any]]:
    """Alarms keyed by namespace/metric name; bulk scoring's as 'bulk:' namespace/metric."""
    out: dict[str, dict[str, Any]] = {}
    for logical_id, alarm in synth.resources(which, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        prefix = "bulk:" if "BulkScoring" in logical_id else ""
        out[f"{prefix}{props['Namespace']}/{props['MetricName']}"] = props
    return out


def _index_project(synth: Synth, which: str = "dev") -> str:
    projects = synth.resources(which, "AWS::CodeBuild::Project")
    (project_id,) = [k for k in projects if k.startswith("IndexRefresh")]
    return project_id


def _dims(props: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}


EXPECTED_ALARMS = {
    "AWS/ApiGateway/5xx",
    "AWS/ApiGateway/Latency",
    "AWS/Lambda/Errors",
    "AWS/Lambda/Throttles",
    "AWS/Lambda/ProvisionedConcurrencySpilloverInvocations",
    "AWS/CodeBuild/FailedBuilds",
    "AWS/CodeBuild/SucceededBuilds",
    "Leadgen/ArtifactAgeSeconds",
    "Leadgen/ArtifactRefreshFailures",
    "Leadgen/ArtifactFallback",
    "bulk:AWS/CodeBuild/FailedBuilds",
    "bulk:AWS/Events/FailedInvocations",
    "Leadgen/DriftMaxColumnPsi",
    "Leadgen/ScoreLogFailures",
    "AWS/Firehose/DeliveryToS3.Success",
    "Leadgen/RealizedAuc",
    "Leadgen/RealizedAucBelowHoldout",
}


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_every_alarm_exists_and_notifies_the_topic(synth: Synth, which: str) -> None:
    alarms = _alarms(synth, which)
    assert set(alarms) == EXPECTED_ALARMS
    for name, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], name


def test_lambda_alarms_watch_the_live_alias(synth: Synth) -> None:
    alarms = _alarms(synth)
    for metric in ("Errors", "Throttles", "ProvisionedConcurrencySpilloverInvocations"):
        dims = _dims(alarms[f"AWS/Lambda/{metric}"])
        assert set(dims) == {"FunctionName", "Resource"}
        assert dims["Resource"]["Fn::Join"][1][-1] == ":live"


def test_api_alarms(synth: Synth) -> None:
    alarms = _alarms(synth)
    five_xx = alarms["AWS/ApiGateway/5xx"]
    assert five_xx["Statistic"] == "Sum" and five_xx["Threshold"] == 5
    assert "ApiId" in _dims(five_xx)
    latency = alarms["AWS/ApiGateway/Latency"]
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == 1500
    assert latency["ComparisonOperator"] == "GreaterThanThreshold"


def test_build_alarms_failed_and_missing(synth: Synth) -> None:
    project_id = _index_project(synth)
    alarms = _alarms(synth)
    failed = alarms["AWS/CodeBuild/FailedBuilds"]
    assert _dims(failed) == {"ProjectName": {"Ref": project_id}}
    assert failed["Threshold"] == 1
    assert failed["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    missing = alarms["AWS/CodeBuild/SucceededBuilds"]
    assert _dims(missing) == {"ProjectName": {"Ref": project_id}}
    assert missing["ComparisonOperator"] == "LessThanThreshold"
    assert missing["TreatMissingData"] == "breaching"  # no build at all is what we look for
    assert missing["Period"] == 86400
    assert missing["EvaluationPeriods"] == 2
    assert _alarms(synth, "prod")["AWS/CodeBuild/SucceededBuilds"]["EvaluationPeriods"] == 1


def test_artifact_age_alarm_uses_the_powertools_metric(synth: Synth) -> None:
    age = _alarms(synth)["Leadgen/ArtifactAgeSeconds"]
    assert _dims(age) == {"service": "leadgen"}
    assert age["Statistic"] == "Maximum"
    assert age["Threshold"] == 50 * 3600
    assert _alarms(synth, "prod")["Leadgen/ArtifactAgeSeconds"]["Threshold"] == 26 * 3600


def test_alarm_topic_is_encrypted_and_tls_only(synth: Synth) -> None:
    topic = synth.resources("dev")["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlarmTopicKey", "Arn"]}
    (policy,) = synth.resources("dev", "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        for s in statements
    )
    synth.dev.resource_count_is("AWS::SNS::Subscription", 0)
    synth.prod.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_dashboard_shows_the_custom_metrics(synth: Synth) -> None:
    (dashboard,) = synth.resources("dev", "AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ScoreLatencyMs",
        "Duplicates",
        "ArtifactAgeSeconds",
        "ArtifactRefreshFailures",
        "ColdStart",
        "LeadsScored",
        "ProvisionedConcurrencyUtilization",
        "FailedBuilds",
        "DriftMaxColumnPsi",
    ):
        assert metric in body, metric


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_outputs(synth: Synth, which: str) -> None:
    template = synth.dev_json if which == "dev" else synth.prod_json
    outputs = template["Outputs"]
    assert set(outputs) == {
        "ApiUrl",
        "ArtifactBucketName",
        "DuplicateTableName",
        "IdentityTableName",
        "BuildProjectName",
        "BulkScoringProjectName",
        "AlarmTopicArn",
    }
    assert outputs["ArtifactBucketName"]["Value"] == {"Ref": "ArtifactBucket"}
    assert outputs["DuplicateTableName"]["Value"] == {"Ref": "DuplicateTable"}
    assert outputs["IdentityTableName"]["Value"] == {"Ref": "IdentityTable"}
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    assert outputs["BuildProjectName"]["Value"] == {"Ref": _index_project(synth, which)}


def test_a_start_up_fallback_alarms(synth: Synth) -> None:
    """The Lambda publishes ArtifactFallback on every invocation answered by an older version
    because LATEST's was refused (lambda_src/handler.py): one is enough to alarm."""
    fallback = _alarms(synth)["Leadgen/ArtifactFallback"]
    assert fallback["Statistic"] == "Sum" and fallback["Threshold"] == 1
    assert fallback["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert _dims(fallback) == {"service": "leadgen"}


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_drift_alarms_above_the_configured_psi(synth: Synth, which: str) -> None:
    """The build job puts DriftMaxColumnPsi once per build (build_job/metrics.py): one value
    above the environment's drift_psi_threshold alarms; no build, or a first version, does not."""
    from leadgen.names import Metric
    from stacks.config import ENVIRONMENTS

    drift = _alarms(synth, which)[f"Leadgen/{Metric.DRIFT_MAX_PSI}"]
    # per environment (prod is stricter), so a threshold typed into the alarm fails here
    assert ENVIRONMENTS["dev"].drift_psi_threshold != ENVIRONMENTS["prod"].drift_psi_threshold
    assert drift["Threshold"] == ENVIRONMENTS[which].drift_psi_threshold
    assert drift["ComparisonOperator"] == "GreaterThanThreshold"
    assert drift["Statistic"] == "Maximum" and drift["Period"] == 3600
    assert drift["EvaluationPeriods"] == 1 and drift["TreatMissingData"] == "notBreaching"
    assert _dims(drift) == {"service": "leadgen"}

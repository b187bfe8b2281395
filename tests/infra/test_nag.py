"""cdk-nag AwsSolutions is wired as a validation plugin and nothing is left unacknowledged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synth, cdk_json_context

# Every exception this repository makes, and nothing else: a new acknowledgement needs a review
# (and an update here). Values: how many constructs carry it across the dev and prod stacks.
EXPECTED_ACKNOWLEDGED = {
    # no CodeBuild artifacts/caches to encrypt; custom build image on purpose (the serving image):
    # index refresh + bulk scoring, dev + prod
    "AwsSolutions-CB4": 4,
    "AwsSolutions-CB5": 4,
    "AwsSolutions-SMG4": 2,  # the email hash key is not rotated: it would orphan every hash
}


def _report(outdir: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((outdir / "validation-report.json").read_text())
    return report


def test_no_unacknowledged_findings(synth: Synth) -> None:
    from stacks.nag import assert_nag_clean, unacknowledged_findings

    assert unacknowledged_findings(synth.outdir) == []
    assert_nag_clean(synth.outdir)


def test_every_acknowledgement_is_known_and_has_a_reason(synth: Synth) -> None:
    report = _report(synth.outdir)
    (nag,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    counts: dict[str, int] = {}
    for v in nag["suppressedViolations"]:
        assert len(v["reason"].split()) >= 6, v
        rule = v["ruleName"].split("[", 1)[0]
        if rule != "AwsSolutions-IAM5":
            counts[rule] = counts.get(rule, 0) + len(v["violatingConstructs"])
    assert counts == EXPECTED_ACKNOWLEDGED


def test_iam5_acknowledgements_are_only_scoped_wildcards(synth: Synth) -> None:
    """IAM5 is acknowledged only for: X-Ray / ECR auth ('*', AWS requires it), object prefixes
    of the artifact bucket / configured input, and CDK's CodeBuild log/report defaults; never
    for a wildcard action."""
    report = _report(synth.outdir)
    (nag,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    iam5 = [
        v["ruleName"][len("AwsSolutions-IAM5[") : -1]
        for v in nag["suppressedViolations"]
        if v["ruleName"].startswith("AwsSolutions-IAM5[")
    ]
    assert iam5, "expected the documented IAM5 acknowledgements"
    allowed = (
        "<ArtifactBucket.Arn>/artifacts/*",
        "<ArtifactBucket.Arn>/input/*",
        "<ArtifactBucket.Arn>/score-requests/*",
        "<ArtifactBucket.Arn>/scored/*",
        "<ArtifactBucket.Arn>/score-log/*",
        "<ArtifactBucket.Arn>/score-log/firehose/*",
        "<ArtifactBucket.Arn>/score-log/firehose-errors/*",
        "arn:<AWS::Partition>:s3:::crm-exports-example/leadgen/crm.parquet*",
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/<",
        "arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/<",
    )
    for finding in iam5:
        kind, _, resource = finding.partition("::")
        assert kind == "Resource", finding
        assert resource == "*" or resource.startswith(allowed), finding


def _throwaway_app(tmp_path: Path, *, with_nag: bool = True) -> Any:
    from aws_cdk import App, Stack

    from stacks.nag import add_nag_checks

    app = App(outdir=str(tmp_path), context=cdk_json_context())
    stack = Stack(app, "Throwaway")
    if with_nag:
        add_nag_checks(app)
    return app, stack


def test_nag_fails_the_synth_on_an_insecure_bucket(tmp_path: Path) -> None:
    """Proves the plugin is wired: a bucket without SSL enforcement and logs fails the synth."""
    from aws_cdk import aws_s3 as s3

    app, stack = _throwaway_app(tmp_path)
    s3.Bucket(stack, "Insecure")
    with pytest.raises(RuntimeError, match="ValidationFailed|Validation failed"):
        app.synth()
    report = json.dumps(_report(tmp_path))
    assert "AwsSolutions-S1" in report and "AwsSolutions-S10" in report


def test_nag_warnings_are_fatal_too(tmp_path: Path) -> None:
    """A warning can pass cdk-nag's own verdict (here: once another finding is acknowledged);
    assert_nag_clean, which app.py runs after every synth, refuses it regardless."""
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_s3 as s3

    from stacks.nag import NagFindingsError, acknowledge, assert_nag_clean

    app, stack = _throwaway_app(tmp_path)
    dynamodb.Table(
        stack,
        "NoPitr",
        partition_key=dynamodb.Attribute(name="k", type=dynamodb.AttributeType.STRING),
    )
    bucket = s3.Bucket(stack, "Logged", enforce_ssl=True)
    acknowledge(bucket, "AwsSolutions-S1", "a throwaway bucket in a test of the nag wiring")
    try:
        assembly_dir = app.synth().directory
    except RuntimeError:  # cdk-nag's own verdict already refused the warning
        assembly_dir = str(tmp_path)
    with pytest.raises(NagFindingsError, match="AwsSolutions-DDB3"):
        assert_nag_clean(assembly_dir)


def test_missing_plugin_is_detected(tmp_path: Path) -> None:
    from aws_cdk import aws_sns as sns

    from stacks.nag import NagFindingsError, assert_nag_clean

    app, stack = _throwaway_app(tmp_path, with_nag=False)
    sns.Topic(stack, "Topic")
    assembly = app.synth()
    with pytest.raises(NagFindingsError, match="did not run|no AwsSolutions"):
        assert_nag_clean(assembly.directory)


def test_acknowledge_requires_a_real_reason(tmp_path: Path) -> None:
    from stacks.nag import acknowledge

    _, stack = _throwaway_app(tmp_path)
    with pytest.raises(ValueError, match="real reason"):
        acknowledge(stack, "AwsSolutions-S1", "because")

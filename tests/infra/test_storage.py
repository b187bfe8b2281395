"""Artifact bucket, access-log bucket and duplicate table, and their frozen logical ids."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import Synth

# Stateful resources: a changed logical id REPLACES the resource (data loss, lost log history,
# lost subscriptions). These ids are frozen: renaming one must fail this test.
FROZEN_LOGICAL_IDS: dict[str, str] = {
    "ArtifactBucket": "AWS::S3::Bucket",
    "AccessLogBucket": "AWS::S3::Bucket",
    "DuplicateTable": "AWS::DynamoDB::Table",
    "ScoringFunctionLogGroup": "AWS::Logs::LogGroup",
    "ApiAccessLogGroup": "AWS::Logs::LogGroup",
    "BuildLogGroup": "AWS::Logs::LogGroup",
    "BulkScoringLogGroup": "AWS::Logs::LogGroup",
    "ScoreLogDeliveryLogGroup": "AWS::Logs::LogGroup",
    "AlarmTopic": "AWS::SNS::Topic",
    "AlarmTopicKey": "AWS::KMS::Key",
    "IdentityTable": "AWS::DynamoDB::Table",
    "EmailHashKeySecret": "AWS::SecretsManager::Secret",
}
STATEFUL_TYPES = set(FROZEN_LOGICAL_IDS.values())


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_stateful_logical_ids_are_frozen(synth: Synth, which: str) -> None:
    resources = synth.resources(which)
    for logical_id, type_ in FROZEN_LOGICAL_IDS.items():
        assert logical_id in resources, f"{logical_id} renamed or removed"
        assert resources[logical_id]["Type"] == type_
    # A new stateful resource must get a frozen id (and be listed above) too.
    stateful = {k for k, v in resources.items() if v["Type"] in STATEFUL_TYPES}
    assert stateful == set(FROZEN_LOGICAL_IDS)


def test_dev_destroys_and_prod_retains_stateful_resources(synth: Synth) -> None:
    dev, prod = synth.resources("dev"), synth.resources("prod")
    # The alarm topic holds no data (frozen only to keep its subscriptions): it goes with the
    # stack in every environment.
    assert "DeletionPolicy" not in prod["AlarmTopic"]
    for logical_id in set(FROZEN_LOGICAL_IDS) - {"AlarmTopic"}:
        assert dev[logical_id].get("DeletionPolicy") == "Delete", logical_id
        assert prod[logical_id].get("DeletionPolicy") == "Retain", logical_id
    assert prod["DuplicateTable"]["Properties"]["DeletionProtectionEnabled"] is True
    assert prod["IdentityTable"]["Properties"]["DeletionProtectionEnabled"] is True
    # dev empties its buckets on `cdk destroy`; prod never does
    assert len(synth.resources("dev", "Custom::S3AutoDeleteObjects")) == 2
    assert synth.resources("prod", "Custom::S3AutoDeleteObjects") == {}


def test_artifact_bucket(synth: Synth) -> None:
    synth.dev.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "LoggingConfiguration": {
                        "DestinationBucketName": {"Ref": "AccessLogBucket"},
                        "LogFilePrefix": "artifact-bucket/",
                    },
                    "LifecycleConfiguration": {
                        "Rules": Match.array_with(
                            [
                                Match.object_like(
                                    {
                                        "Status": "Enabled",
                                        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                                        "AbortIncompleteMultipartUpload": {
                                            "DaysAfterInitiation": 1
                                        },
                                    }
                                )
                            ]
                        )
                    },
                }
            ),
        },
    )
    bucket = synth.resources("prod")["ArtifactBucket"]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert rules[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def _ssl_denied(policy: dict[str, Any]) -> bool:
    for st in policy["Properties"]["PolicyDocument"]["Statement"]:
        cond = st.get("Condition", {}).get("Bool", {})
        if st["Effect"] == "Deny" and cond.get("aws:SecureTransport") == "false":
            return True
    return False


@pytest.mark.parametrize("bucket", ["ArtifactBucket", "AccessLogBucket"])
def test_buckets_are_ssl_only(synth: Synth, bucket: str) -> None:
    policies = [
        p
        for p in synth.resources("dev", "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1 and _ssl_denied(policies[0])


def test_access_log_bucket_expires_logs(synth: Synth) -> None:
    props = synth.resources("dev")["AccessLogBucket"]["Properties"]
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


def test_duplicate_table(synth: Synth) -> None:
    synth.dev.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "email_hash", "KeyType": "HASH"}],  # no sort key
            "AttributeDefinitions": [{"AttributeName": "email_hash", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )
    assert "GlobalSecondaryIndexes" not in synth.resources("dev")["DuplicateTable"]["Properties"]


def test_identity_table(synth: Synth) -> None:
    """docs/duplicates.md: one key, no sort key, no index; lead blocks expire through TTL."""
    props = synth.resources("dev")["IdentityTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert "GlobalSecondaryIndexes" not in props
    synth.dev.resource_count_is("AWS::DynamoDB::Table", 2)


@pytest.mark.parametrize(("which", "days"), [("dev", 30), ("prod", 365)])
def test_log_groups_have_retention(synth: Synth, which: str, days: int) -> None:
    """The function's group holds the printed score records too, which erasure cannot reach:
    30 days in every environment (docs/outcomes.md); the others keep the environment's."""
    groups = synth.resources(which, "AWS::Logs::LogGroup")
    assert set(groups) == {
        "ScoringFunctionLogGroup",
        "ApiAccessLogGroup",
        "BuildLogGroup",
        "BulkScoringLogGroup",
        "ScoreLogDeliveryLogGroup",
    }
    for name, group in groups.items():
        want = 30 if name == "ScoringFunctionLogGroup" else days
        assert group["Properties"]["RetentionInDays"] == want, name

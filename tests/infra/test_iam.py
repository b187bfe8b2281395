"""Least privilege: identity policies are scoped to the bucket prefixes and the table.

Resource "*" is allowed only for actions that support no resource-level permissions:
X-Ray trace upload, ECR's GetAuthorizationToken and CloudWatch's PutMetricData (the build job's
drift metrics, held to the project's namespace by a condition). KMS key policies always use "*"
(the key itself) and are checked separately.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synth

STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(synth: Synth, which: str) -> list[tuple[str, dict[str, Any]]]:
    """(owner logical id, statement) of every identity policy in the template."""
    out: list[tuple[str, dict[str, Any]]] = []
    for logical_id, res in synth.resources(which).items():
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            out += [(logical_id, s) for s in props["PolicyDocument"]["Statement"]]
        elif res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                out += [(logical_id, s) for s in policy["PolicyDocument"]["Statement"]]
    return out


def _role_statements(synth: Synth, which: str, role_prefix: str) -> list[dict[str, Any]]:
    roles = [
        k for k, v in synth.resources(which, "AWS::IAM::Role").items() if k.startswith(role_prefix)
    ]
    assert len(roles) == 1, roles
    return [
        s
        for p in synth.resources(which, "AWS::IAM::Policy").values()
        if {"Ref": roles[0]} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    return set(_as_list(statement["Action"]))


def _all_actions(statements: list[dict[str, Any]]) -> set[str]:
    return set().union(*(_actions(s) for s in statements))


# Exactly what the code calls (leadgen/duplicates/dynamo_store.py), per table. Literal sets on
# purpose: adding an action to stacks/duplicate_table.py or identity_table.py must fail here and be
# argued for in review. A lookup is one BatchGetItem over both tables; a record one PutItem, or
# one TransactWriteItems authorised as its PutItem (email) and UpdateItem (lead blocks).
DUP_TABLE = {"Fn::GetAtt": ["DuplicateTable", "Arn"]}
IDENTITY_TABLE = {"Fn::GetAtt": ["IdentityTable", "Arn"]}
SCORING_DYNAMODB_ACTIONS = {
    "DuplicateTable": {"dynamodb:BatchGetItem", "dynamodb:PutItem"},
    "IdentityTable": {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"},
}
SYNC_DYNAMODB_ACTIONS = {  # stale scans, puts + deletes
    "DuplicateTable": {"dynamodb:Scan", "dynamodb:BatchWriteItem"},
    "IdentityTable": {"dynamodb:Scan", "dynamodb:BatchWriteItem"},
}
BULK_DYNAMODB_ACTIONS = {  # lookups only: bulk rows are never recorded
    "DuplicateTable": {"dynamodb:BatchGetItem"},
    "IdentityTable": {"dynamodb:BatchGetItem"},
}
SECRET = {"Ref": "EmailHashKeySecret"}


def _union(by_table: dict[str, set[str]]) -> set[str]:
    return set().union(*by_table.values())


# Every CodeBuild project on the serving image: pull the image (GetAuthorizationToken: Resource
# "*", see above), write its logs, and CodeBuild's default grants for its own log group and
# report groups.
IMAGE_PROJECT_ACTIONS = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "codebuild:BatchPutCodeCoverages",
    "codebuild:BatchPutTestCases",
    "codebuild:CreateReport",
    "codebuild:CreateReportGroup",
    "codebuild:UpdateReport",
}
# The artifact bucket's prefixes a role may hold object permissions on (stacks/artifact_storage.py).
OBJECT_PREFIXES = (
    "artifacts",
    "input",
    "score-requests",
    "scored",
    "score-log",
    "score-log/firehose",
    "score-log/firehose-errors",
)
# Bucket-level actions beside ListBucket (which must carry a prefix condition): Firehose's.
BUCKET_ACTIONS = {"s3:GetBucketLocation"}


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_no_star_resource_except_where_aws_requires_it(synth: Synth, which: str) -> None:
    for owner, statement in _statements(synth, which):
        if "*" in _as_list(statement.get("Resource", [])):
            assert _actions(statement) <= STAR_RESOURCE_ACTIONS, (owner, statement)


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_no_wildcard_actions(synth: Synth, which: str) -> None:
    for owner, statement in _statements(synth, which):
        for action in _actions(statement):
            assert action != "*" and not action.endswith(":*"), (owner, action)
            assert statement["Effect"] == "Allow"


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_s3_and_dynamodb_grants_name_the_bucket_and_table(synth: Synth, which: str) -> None:
    for owner, statement in _statements(synth, which):
        if owner.startswith("CustomS3AutoDeleteObjects"):
            continue  # CDK's dev-only bucket-emptying provider (scoped by CDK to the buckets)
        services = {a.split(":", 1)[0] for a in _actions(statement)}
        resources = json.dumps(statement["Resource"])
        if "dynamodb" in services:
            assert statement["Resource"] in (DUP_TABLE, IDENTITY_TABLE)
        if "secretsmanager" in services:
            assert statement["Resource"] == SECRET
        if "s3" in services and "crm-exports-example" not in resources:
            assert "ArtifactBucket" in resources, (owner, statement)
            if "s3:ListBucket" in _actions(statement):
                assert statement["Resource"] == {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}
                assert "s3:prefix" in statement["Condition"]["StringLike"]
            elif _actions(statement) <= BUCKET_ACTIONS:
                assert statement["Resource"] == {"Fn::GetAtt": ["ArtifactBucket", "Arn"]}
            else:  # object actions: only below a prefix (CDK may merge grants into a list)
                listed = statement["Resource"]
                for resource in listed if isinstance(listed, list) else [listed]:
                    assert json.dumps(resource).endswith(
                        tuple(f'"/{p}/*"]]}}' for p in OBJECT_PREFIXES)
                    ), resources


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_lambda_reads_artifacts_and_reads_writes_the_table_only(synth: Synth, which: str) -> None:
    statements = _role_statements(synth, which, "ScoringApiFunctionRole")
    assert _all_actions(statements) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "s3:GetObject",
        "s3:ListBucket",
        *_union(SCORING_DYNAMODB_ACTIONS),
        "secretsmanager:GetSecretValue",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    s3_objects = [s for s in statements if _actions(s) == {"s3:GetObject"}]
    assert [json.dumps(s["Resource"]).endswith('"/artifacts/*"]]}') for s in s3_objects] == [True]
    logs = [s for s in statements if "logs:PutLogEvents" in _actions(s)]
    assert [s["Resource"] for s in logs] == [{"Fn::GetAtt": ["ScoringFunctionLogGroup", "Arn"]}]


def test_build_job_reads_input_writes_artifacts_and_syncs_the_table(synth: Synth) -> None:
    statements = _role_statements(synth, "dev", "IndexRefreshProjectRole")
    by_prefix: dict[str, set[str]] = {}
    for s in statements:
        if "s3:GetObject" in _actions(s):
            for resource in _as_list(s["Resource"]):  # CDK merges same-action grants
                by_prefix.setdefault(json.dumps(resource)[-20:], set()).update(_actions(s))
    assert {k.split("/")[-2] for k in by_prefix} == {"input", "artifacts", "score-log"}
    for key, actions in by_prefix.items():
        if "/input/" in key or "/score-log/" in key:
            assert actions == {"s3:GetObject"}  # read-only input and score log
        else:
            assert actions == {
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            }


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_build_job_role_has_exactly_these_actions(synth: Synth, which: str) -> None:
    statements = _role_statements(synth, which, "IndexRefreshProjectRole")
    assert _all_actions(statements) == {
        *IMAGE_PROJECT_ACTIONS,
        # read the input, publish and prune artifact versions
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        *_union(SYNC_DYNAMODB_ACTIONS),
        # the email hash key (one secret)
        "secretsmanager:GetSecretValue",
        # roll the scoring function out to the new version (leadgen/rollout.py)
        *ROLLOUT_ACTIONS,
        # the drift metrics (build_job/metrics.py), in the project's namespace only
        "cloudwatch:PutMetricData",
    }


# Exactly what leadgen/rollout.py calls: no code change, no version deletion, no policy.
ROLLOUT_ACTIONS = {
    "lambda:GetFunctionConfiguration",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:GetAlias",
    "lambda:UpdateAlias",
}


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_the_build_job_rolls_out_to_the_scoring_function_and_its_alias_only(
    synth: Synth, which: str
) -> None:
    statements = _role_statements(synth, which, "IndexRefreshProjectRole")
    lam = [s for s in statements if any(a.startswith("lambda:") for a in _actions(s))]
    assert len(lam) == 1 and _actions(lam[0]) == ROLLOUT_ACTIONS
    (function_id,) = [
        k
        for k, v in synth.resources(which, "AWS::Lambda::Function").items()
        if v["Properties"].get("PackageType") == "Image"
    ]
    function_arn = {"Fn::GetAtt": [function_id, "Arn"]}
    assert lam[0]["Resource"] == [
        function_arn,
        {"Fn::Join": ["", [function_arn, ":live"]]},
    ]
    # and no other role may touch a Lambda function's configuration, versions or aliases
    others = [
        owner
        for owner, s in _statements(synth, which)
        if _actions(s) & ROLLOUT_ACTIONS and not owner.startswith("IndexRefreshProjectRole")
    ]
    assert others == []


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_drift_metrics_are_put_in_the_project_namespace_only(synth: Synth, which: str) -> None:
    """PutMetricData has no resources: the cloudwatch:namespace condition is its only limit, and
    only the two jobs may put (the build: drift and backtest; the bulk job: score-log failures;
    the Lambda publishes through EMF log lines)."""
    from leadgen.names import METRICS_NAMESPACE

    puts = [
        (owner, s)
        for owner, s in _statements(synth, which)
        if "cloudwatch:PutMetricData" in _actions(s)
    ]
    owners = sorted(owner.split("DefaultPolicy")[0] for owner, _ in puts)
    assert owners == ["BulkScoringProjectRole", "IndexRefreshProjectRole"], owners
    for _, statement in puts:
        assert _actions(statement) == {"cloudwatch:PutMetricData"}
        want = {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}}
        assert statement["Condition"] == want


@pytest.mark.parametrize(
    ("which", "role_prefix", "expected"),
    [
        (which, role, actions)
        for which in ("dev", "prod")
        for role, actions in (
            ("ScoringApiFunctionRole", SCORING_DYNAMODB_ACTIONS),
            ("IndexRefreshProjectRole", SYNC_DYNAMODB_ACTIONS),
            ("BulkScoringProjectRole", BULK_DYNAMODB_ACTIONS),
        )
    ],
)
def test_dynamodb_actions_are_exactly_the_calls_made(
    synth: Synth, which: str, role_prefix: str, expected: dict[str, set[str]]
) -> None:
    statements = _role_statements(synth, which, role_prefix)
    ddb = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    got: dict[str, set[str]] = {}
    for statement in ddb:  # DynamoDB actions only on the two tables, each its own set
        table = statement["Resource"]["Fn::GetAtt"][0]
        got.setdefault(table, set()).update(_actions(statement))
    assert got == expected
    # and no other role in the stack touches the tables
    other = [
        s
        for owner, s in _statements(synth, which)
        if any(a.startswith("dynamodb:") for a in _actions(s))
        and not owner.startswith(
            ("ScoringApiFunctionRole", "IndexRefreshProjectRole", "BulkScoringProjectRole")
        )
    ]
    assert other == []


@pytest.mark.parametrize(
    ("role_prefix", "actions", "keys"),
    [
        ("ScoringApiFunctionRole", {"dynamodb:BatchGetItem"}, ["c#*", "l#*"]),
        ("ScoringApiFunctionRole", {"dynamodb:UpdateItem"}, ["l#*"]),  # never a customer block
        ("IndexRefreshProjectRole", {"dynamodb:BatchWriteItem"}, ["c#*"]),  # never a lead block
        ("BulkScoringProjectRole", {"dynamodb:BatchGetItem"}, ["c#*", "l#*"]),  # reads only
    ],
)
def test_identity_table_writes_are_confined_to_their_item_family(
    synth: Synth, role_prefix: str, actions: set[str], keys: list[str]
) -> None:
    statements = [
        s
        for s in _role_statements(synth, "dev", role_prefix)
        if s["Resource"] == IDENTITY_TABLE and _actions(s) == actions
    ]
    assert len(statements) == 1
    condition = statements[0]["Condition"]["ForAllValues:StringLike"]
    assert condition == {"dynamodb:LeadingKeys": keys}


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_the_hash_key_is_a_secret_only_the_runtimes_that_hash_read(
    synth: Synth, which: str
) -> None:
    secret = synth.resources(which)["EmailHashKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32 and generated["ExcludePunctuation"] is True
    assert secret["DeletionPolicy"] == ("Retain" if which == "prod" else "Delete")
    assert not synth.resources(which, "AWS::SecretsManager::RotationSchedule")
    readers = {
        owner.split("DefaultPolicy")[0]
        for owner, s in _statements(synth, which)
        if any(a.startswith("secretsmanager:") for a in _actions(s))
    }
    assert readers == {
        "ScoringApiFunctionRole",
        "IndexRefreshProjectRole",
        "BulkScoringProjectRole",
    }
    for owner, statement in _statements(synth, which):
        if any(a.startswith("secretsmanager:") for a in _actions(statement)):
            assert _actions(statement) == {"secretsmanager:GetSecretValue"}, owner
            assert statement["Resource"] == SECRET


def test_external_input_path_is_read_only_and_scoped(synth: Synth) -> None:
    statements = _role_statements(synth, "prod", "IndexRefreshProjectRole")
    external = [s for s in statements if "crm-exports-example" in json.dumps(s["Resource"])]
    assert {frozenset(_actions(s)) for s in external} == {
        frozenset({"s3:GetObject"}),
        frozenset({"s3:ListBucket"}),
    }
    objects = next(s for s in external if _actions(s) == {"s3:GetObject"})
    listed = objects["Resource"]
    resources = listed if isinstance(listed, list) else [listed]
    assert any(
        json.dumps(r).endswith(':s3:::crm-exports-example/leadgen/crm.parquet*"]]}')
        for r in resources
    )
    # and prod does not read the artifact bucket's input/ prefix
    assert not any("/input/*" in json.dumps(s["Resource"]) for s in statements)


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_no_managed_policies_on_service_roles(synth: Synth, which: str) -> None:
    for logical_id, role in synth.resources(which, "AWS::IAM::Role").items():
        if logical_id.startswith("CustomS3AutoDeleteObjects"):
            continue  # CDK's provider (dev only)
        assert "ManagedPolicyArns" not in role["Properties"], logical_id


def test_kms_key_policy_lets_cloudwatch_use_the_topic_key(synth: Synth) -> None:
    key = synth.resources("dev")["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    cw = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cw) == 1 and _actions(cw[0]) == {"kms:Decrypt", "kms:GenerateDataKey*"}

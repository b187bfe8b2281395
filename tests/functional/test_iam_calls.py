"""The recorded-calls IAM check itself: calls a role's policies do not grant are reported, granted
ones are not, whoever makes them (boto3 or pyarrow's own S3 client).

The functional tests run the handler and the jobs with a role's credentials and fail on any call
the synthesised policies do not grant (tests/functional/conftest.py). These tests make calls
with the build job's and the bulk job's credentials on purpose, some outside their grants, and
check what the recorder and the evaluator make of them; they drain their own requests, so the
after-test check sees none of the denials provoked here.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.aws_calls import Check, allowed, denials, take_requests
from tests.conftest import create_table, moto_client, moto_variables
from tests.deployed import Deployment, Unresolved
from tests.synthesis import Synth

BUCKET = "leadgen-iam-calls"


@pytest.fixture(scope="module")
def deployment(synth: Synth, moto_server: str) -> Deployment:
    s3 = moto_client("s3", moto_server)
    s3.create_bucket(Bucket=BUCKET)
    ddb = moto_client("dynamodb", moto_server)
    sm = moto_client("secretsmanager", moto_server)
    arn = sm.create_secret(Name=f"iam-calls-{uuid.uuid4().hex[:6]}", SecretString="k" * 40)["ARN"]
    deployment = Deployment(synth.dev_json)
    deployment.names.update(
        ArtifactBucket=BUCKET,
        DuplicateTable=create_table(ddb),
        IdentityTable=create_table(ddb, "pk", "ident"),
        EmailHashKeySecret=arn,
    )
    deployment.names[deployment.function_id] = "leadgen-scoring-iam"
    return deployment


def _client(service: str, endpoint: str, credentials: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def _denied(requests: list[Any]) -> set[tuple[str, str]]:
    found, _ = denials(requests)
    return {(d.check.action, d.check.resource.split(":::")[-1].split("/")[-1]) for d in found}


def test_calls_outside_the_build_jobs_grants_are_reported(
    deployment: Deployment, moto_server: str
) -> None:
    project = deployment.logical_id("AWS::CodeBuild::Project", "IndexRefreshProject")
    creds = deployment.principal(project)
    s3 = _client("s3", moto_server, creds)
    ddb = _client("dynamodb", moto_server, creds)
    cw = _client("cloudwatch", moto_server, creds)
    take_requests()

    s3.put_object(Bucket=BUCKET, Key="artifacts/v1/granted.json", Body=b"{}")
    s3.list_objects_v2(Bucket=BUCKET, Prefix="artifacts/")
    s3.put_object(Bucket=BUCKET, Key="scored/not-the-build-jobs.parquet", Body=b"x")
    s3.list_objects_v2(Bucket=BUCKET)  # no prefix: the s3:prefix condition cannot hold
    identity = deployment.names["IdentityTable"]
    ddb.batch_write_item(RequestItems={identity: [{"PutRequest": {"Item": {"pk": {"S": "c#1"}}}}]})
    ddb.batch_write_item(RequestItems={identity: [{"PutRequest": {"Item": {"pk": {"S": "l#1"}}}}]})
    metric = [{"MetricName": "DriftScorePsi", "Value": 0.1}]
    cw.put_metric_data(Namespace="Leadgen", MetricData=metric)
    cw.put_metric_data(Namespace="SomeoneElse", MetricData=metric)
    with pytest.raises(Exception, match="BucketNotEmpty"):
        s3.delete_bucket(Bucket=BUCKET)

    requests = take_requests()
    found, checked = denials(requests)
    assert checked == len(requests) == 9
    assert {(d.check.action, d.check.resource) for d in found} == {
        ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/scored/not-the-build-jobs.parquet"),
        ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
        ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:us-east-1:123456789012:table/{identity}"),
        ("cloudwatch:PutMetricData", "*"),
        ("s3:DeleteBucket", f"arn:aws:s3:::{BUCKET}"),
    }
    leading = next(d for d in found if d.check.action == "dynamodb:BatchWriteItem")
    assert leading.check.context == {"dynamodb:LeadingKeys": ("l#1",)}  # a lead block
    assert all(d.role.startswith("IndexRefreshProjectRole") for d in found)


def test_pyarrows_own_s3_requests_are_recorded_and_checked(
    deployment: Deployment, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow signs with the credentials in the environment, as the bulk job's reads and
    writes do: granted under score-requests/ and scored/ (a multipart upload is PutObject),
    denied under input/."""
    from pyarrow import fs

    project = deployment.logical_id("AWS::CodeBuild::Project", "BulkScoringProject")
    for name, value in {**moto_variables(moto_server), **deployment.principal(project)}.items():
        monkeypatch.setenv(name, value)
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2, 3]}), buf)
    moto_client("s3", moto_server).put_object(
        Bucket=BUCKET, Key="score-requests/leads.parquet", Body=buf.getvalue()
    )
    take_requests()

    s3fs = fs.S3FileSystem(endpoint_override=moto_server.split("://")[1], scheme="http",
                           region="us-east-1")  # fmt: skip
    assert pq.read_table(f"{BUCKET}/score-requests/leads.parquet", filesystem=s3fs).num_rows == 3
    pq.write_table(pa.table({"x": [1]}), f"{BUCKET}/scored/leads.parquet", filesystem=s3fs)
    # moto grants everything: the write lands, and only the check can say AWS would refuse it
    pq.write_table(pa.table({"x": [1]}), f"{BUCKET}/input/crm.parquet", filesystem=s3fs)

    requests = take_requests()
    assert requests and all(r.headers.get("user-agent", "").startswith("aws-sdk-cpp")
                            for r in requests)  # fmt: skip
    denied = _denied(requests)
    assert ("s3:PutObject", "crm.parquet") in denied
    assert not {d for d in denied if d[1] in ("leads.parquet",)}


def test_the_evaluator_reads_conditions_as_iam_does() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::b",
        "Condition": {"StringLike": {"s3:prefix": ["artifacts", "artifacts/*"]}},
    }
    listing = Check("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ("artifacts/v1/",)})
    assert allowed([statement], listing)
    assert not allowed([statement], Check("s3:ListBucket", "arn:aws:s3:::b"))  # key absent
    assert not allowed([statement], Check("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ("x",)}))
    assert allowed([{**statement, "Action": "S3:list*"}], listing)  # actions: any case, wildcards
    for_all = {
        "Effect": "Allow",
        "Action": "dynamodb:BatchGetItem",
        "Resource": "arn:t",
        "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["c#*", "l#*"]}},
    }
    assert allowed(
        [for_all], Check("dynamodb:BatchGetItem", "arn:t", {"dynamodb:LeadingKeys": ("c#1", "l#2")})
    )
    assert not allowed(
        [for_all], Check("dynamodb:BatchGetItem", "arn:t", {"dynamodb:LeadingKeys": ("c#1", "x")})
    )
    with pytest.raises(NotImplementedError):
        allowed([{**statement, "Condition": {"NumericLessThan": {"k": "1"}}}], listing)


def test_an_environment_refers_only_to_resources_the_test_named(synth: Synth) -> None:
    """The template's environment is resolved strictly: a Ref to a resource no moto name was
    given for is an error, never a logical id passed on as a name."""
    deployment = Deployment(synth.dev_json, {"ArtifactBucket": "b", "DuplicateTable": "t"})
    project = deployment.logical_id("AWS::CodeBuild::Project", "IndexRefreshProject")
    with pytest.raises(Unresolved, match="IdentityTable"):
        deployment.environment(project)

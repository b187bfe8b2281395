"""The stack as `cdk deploy` leaves it, run the way AWS runs it, against moto's server.

Everything here comes from the synthesised template, nothing from a hand-written dict: the
index build and the bulk scoring run as CodeBuild builds of the image (the project's inline
buildspec, the project's environment, the EventBridge rule's overrides for a bulk build); the
scoring function runs under the Runtime Interface Emulator with the environment the build job's
roll-out left on its `live` alias. All three run in the image-shaped environment
(tests/functional/image_env.py: the image's code, packages, ENV and baked ONNX model), with
their role's credentials, so every AWS call they make is checked against that role's
synthesised policy after each test (tests/functional/conftest.py).

The story: a CRM export under input/, a build, the function answering and finding a customer
re-entered under a new email, and a lead file under score-requests/ whose re-entered customers
the bulk job finds the same way.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from leadgen.serve.server import http_v2_event
from tests.conftest import SAMPLE_LEAD, create_table, known_people, moto_client, nickname_lead
from tests.deployed import Deployment
from tests.functional.image_env import Image, invoke
from tests.synthesis import Synth

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = 800
HASH_KEY = "deployed-stack-email-hash-key-0123456789"
EVENT = json.loads((REPO / "events" / "s3_object_created.json").read_text())


@dataclass
class Stack:
    deployment: Deployment
    endpoint: str
    crm: Path  # the export uploaded to input/ (a local copy, to pick customers from)
    s3: Any
    dynamodb: Any
    lam: Any

    @property
    def bucket(self) -> str:
        return self.deployment.names["ArtifactBucket"]

    @property
    def function(self) -> str:
        return self.deployment.names[self.deployment.function_id]

    def project(self, prefix: str) -> str:
        return self.deployment.logical_id("AWS::CodeBuild::Project", prefix)


@pytest.fixture(scope="module")
def stack(synth: Synth, moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The stack's resources in moto, named for the template's logical ids; the scoring
    function created as the stack creates it (its template environment, a version, `live`)."""
    from leadgen.synthetic.crm import generate_crm, write_crm

    deployment = Deployment(synth.dev_json)
    s3, ddb = moto_client("s3", moto_server), moto_client("dynamodb", moto_server)
    sm, lam = moto_client("secretsmanager", moto_server), moto_client("lambda", moto_server)
    bucket = f"leadgen-deployed-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    secret = sm.create_secret(Name=f"hash-key-{uuid.uuid4().hex[:6]}", SecretString=HASH_KEY)
    deployment.names.update(
        ArtifactBucket=bucket,
        DuplicateTable=create_table(ddb),
        IdentityTable=create_table(ddb, "pk", "ident"),
        EmailHashKeySecret=secret["ARN"],
    )
    deployment.names[deployment.function_id] = f"leadgen-scoring-{uuid.uuid4().hex[:6]}"
    _create_function(deployment, moto_server)

    crm = tmp_path_factory.mktemp("deployed") / "crm.parquet"
    write_crm(generate_crm(rows=CUSTOMERS, seed=31), crm)
    project = deployment.logical_id("AWS::CodeBuild::Project", "IndexRefreshProject")
    input_path = deployment.environment(project)["LEADGEN_INPUT_PATH"]
    s3.upload_file(str(crm), bucket, input_path.split(f"s3://{bucket}/", 1)[1])
    return Stack(deployment, moto_server, crm, s3, ddb, lam)


def _create_function(deployment: Deployment, endpoint: str) -> None:
    props = deployment.template["Resources"][deployment.function_id]["Properties"]
    iam, lam = moto_client("iam", endpoint), moto_client("lambda", endpoint)
    role = iam.create_role(
        RoleName=f"scoring-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument="{}"
    )
    name = deployment.names[deployment.function_id]
    lam.create_function(
        FunctionName=name,
        Role=role["Role"]["Arn"],
        PackageType="Image",
        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/leadgen:stack"},
        Environment={"Variables": deployment.environment(deployment.function_id)},
        MemorySize=props["MemorySize"],
        EphemeralStorage=props.get("EphemeralStorage", {"Size": 512}),
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)


@pytest.fixture(scope="module")
def built(stack: Stack, image: Image) -> dict[str, Any]:
    """One run of the index build project, as CodeBuild runs it on the schedule."""
    project = stack.project("IndexRefreshProject")
    variables = {
        **stack.deployment.environment(project),
        **stack.deployment.provided(project, stack.endpoint),
    }
    proc = image.codebuild(stack.deployment.buildspec(project), variables)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    (finished,) = [e for e in events if e["event"] == "build_finished"]
    return finished


def test_the_build_project_publishes_syncs_and_rolls_the_function_out(
    stack: Stack, built: dict[str, Any]
) -> None:
    latest = stack.s3.get_object(Bucket=stack.bucket, Key="artifacts/LATEST")["Body"].read()
    assert json.loads(latest)["version"] == built["version"]
    keys = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"artifacts/{built['version']}/")
    names = {o["Key"].rsplit("/", 1)[1] for o in keys["Contents"]}
    assert {"manifest.json", "report.html", "build_report.json"} <= names
    report = json.loads(
        stack.s3.get_object(
            Bucket=stack.bucket, Key=f"artifacts/{built['version']}/build_report.json"
        )["Body"].read()
    )
    assert report["embedder"]["kind"] == "onnx"  # the image's baked model, as the stack says
    assert report["duplicate_sync"]["status"] == "ok"
    assert report["identity_sync"]["status"] == "ok" and report["identity_sync"]["written"] > 0
    live = stack.lam.get_function_configuration(FunctionName=stack.function, Qualifier="live")
    assert live["Environment"]["Variables"]["LEADGEN_ARTIFACT_PIN"].startswith(built["version"])


@pytest.fixture(scope="module")
def function_url(
    stack: Stack, built: dict[str, Any], image: Image, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """The function version the roll-out put behind `live`, under the emulator."""
    live = stack.lam.get_function_configuration(FunctionName=stack.function, Qualifier="live")
    function_id = stack.deployment.function_id
    variables = {
        **live["Environment"]["Variables"],
        **stack.deployment.provided(function_id, stack.endpoint),
    }
    log = tmp_path_factory.mktemp("function") / "function.log"
    with image.function(variables, log) as url:
        yield url


def _call(url: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    raw = None if body is None else json.dumps(body).encode()
    answer = invoke(url, http_v2_event(method, path, {"content-type": "application/json"}, raw))
    return int(answer["statusCode"]), json.loads(answer["body"])


def test_the_function_serves_the_pinned_version_and_finds_customers_under_new_emails(
    stack: Stack, built: dict[str, Any], function_url: str
) -> None:
    status, health = _call(function_url, "GET", "/health")
    assert status == 200, health
    assert health["artifact_version"] == built["version"]
    assert health["embedder"]["kind"] == "onnx"
    status, scored = _call(function_url, "POST", "/score_lead", {**SAMPLE_LEAD, "email": _new()})
    assert status == 200 and scored["grade"] in {"A", "B", "C", "D"}, scored
    for person in known_people(stack.crm, 5):
        status, hit = _call(function_url, "POST", "/score_lead", nickname_lead(person))
        assert status == 200, hit
        assert hit["duplicate"] is True and hit["duplicate_match"]["kind"] == "fuzzy", hit
        assert hit["customer_id"] == str(person["customer_id"])


def _new() -> str:
    return f"new.lead.{uuid.uuid4().hex[:8]}@{uuid.uuid4().hex[:8]}.example"


def test_the_bulk_project_finds_customers_re_entered_under_new_emails(
    stack: Stack, built: dict[str, Any], image: Image
) -> None:
    """A lead file uploaded under score-requests/: the rule starts a bulk build with the
    object's bucket and key; customers in it under new emails are flagged as the function
    flags them (the fuzzy check), the others are scored."""
    from leadgen.synthetic.crm import generate_crm

    people = known_people(stack.crm, 5)
    again = [{**nickname_lead(p), "lead_id": f"again-{i}"} for i, p in enumerate(people)]
    fresh = generate_crm(rows=20, seed=32).to_pylist()[:20]
    new = [{**SAMPLE_LEAD, **_lead_of(r), "lead_id": f"new-{i}"} for i, r in enumerate(fresh)]
    rows = again + new
    columns = sorted({k for r in rows for k in r})
    table = pa.table({c: [None if r.get(c) is None else str(r[c]) for r in rows] for c in columns})
    buf = io.BytesIO()
    pcsv.write_csv(table, buf)
    key = "score-requests/re-entered leads.csv"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=buf.getvalue())

    project = stack.project("BulkScoringProject")
    event = json.loads(json.dumps(EVENT))
    event["detail"]["bucket"]["name"] = stack.bucket
    event["detail"]["object"]["key"] = key.replace(" ", "+")  # as S3 puts it in the event
    variables = {
        **stack.deployment.environment(project),
        **stack.deployment.provided(project, stack.endpoint),
        **stack.deployment.rule_environment("BulkScoringOnUpload", event),
    }
    proc = image.codebuild(stack.deployment.buildspec(project), variables)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    scored = stack.s3.get_object(Bucket=stack.bucket, Key="scored/re-entered leads.parquet")
    assert scored["Metadata"] == {"artifact-version": built["version"]}
    out = pq.read_table(io.BytesIO(scored["Body"].read())).to_pylist()
    flagged = {r["lead_id"]: r["duplicate_ref"] for r in out if r["duplicate"]}
    assert flagged == {f"again-{i}": str(p["customer_id"]) for i, p in enumerate(people)}
    assert all(r["grade"] in {"A", "B", "C", "D"} for r in out if r["lead_id"].startswith("new-"))


def _lead_of(row: dict[str, Any]) -> dict[str, Any]:
    """A generated CRM row as a lead file's row: its columns, a mailbox nobody has."""
    keep = ("first_name", "last_name", "company", "phone", "country", "industry", "job_title",
            "bio", "company_size", "web_activity_score", "email_engagement_score")  # fmt: skip
    return {**{k: row.get(k) for k in keep}, "email": _new()}

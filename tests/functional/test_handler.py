"""The Lambda handler in-process, against moto's server over real HTTP (S3 + DynamoDB).

Each test imports lambda_src.handler afresh (a cold start: the module-level init reads env, loads
the model from S3) and invokes `handler(event, context)` with real API Gateway HTTP API v2 events
built by leadgen.serve.server.http_v2_event, the same builder the local server uses. Nothing of the
handler, the service, the artifact store or the duplicate table is mocked: moto plays AWS.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
import pytest

from leadgen.builder.pipeline import BuildResult
from leadgen.duplicates.dynamo_store import DynamoDuplicateStore, dynamodb_client
from leadgen.duplicates.normalise import normalise_email
from leadgen.serve.server import http_v2_event
from leadgen.stores.artifacts import LATEST, read_pointer, set_latest, upload_version, verify_remote
from leadgen.stores.blob import LocalStore, open_store
from tests.conftest import (
    SAMPLE_LEAD,
    build_config,
    known_person,
    moto_client,
    moto_environment,
    nickname_lead,
    quiet_build,
    refused_endpoint,
)
from tests.deployed import Deployment, running_as
from tests.faults import FailingWrites, flip_byte
from tests.synthesis import Synth

BUCKET = "leadgen-handler-test"
TABLE = "leadgen-handler-dups"
IDENTITY = "leadgen-handler-identity"
HASH_KEY = "handler-test-email-hash-key"  # in moto's Secrets Manager, as the stack generates it
REPO = Path(__file__).resolve().parents[2]
# Under the stack's artifacts/ prefix (what the function may read): the first build, and a
# private copy of it per test beside it.
BASE = "artifacts/base"

LEAD = SAMPLE_LEAD


# ---- fixtures ------------------------------------------------------------------------------


@dataclass
class Aws:
    s3: Any
    dynamodb: Any
    build: BuildResult  # the first version, built straight into s3://BUCKET/artifacts/base
    secret_arn: str  # the email hash key, as the stack hands it to the function


@pytest.fixture(autouse=True)
def _aws_env(moto_env: str) -> str:
    """Every test here runs the function against moto: its variables, for the test only."""
    return moto_env


@pytest.fixture(scope="module")
def aws(moto_server: str, tiny_crm: Path) -> Aws:
    """Bucket, duplicate and identity tables and the hash key's secret in moto, one hashing build
    into S3 with that key, customers synced to both tables (what the CodeBuild job does)."""
    with moto_environment(moto_server):
        return _provision(moto_server, tiny_crm)


def _provision(moto_server: str, tiny_crm: Path) -> Aws:
    s3 = moto_client("s3", moto_server)
    ddb = moto_client("dynamodb", moto_server)
    s3.create_bucket(Bucket=BUCKET)
    for name, key in ((TABLE, "email_hash"), (IDENTITY, "pk")):
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    sm = moto_client("secretsmanager", moto_server)
    arn = sm.create_secret(Name="leadgen-hash-key", SecretString=HASH_KEY)["ARN"]
    cfg = build_config(tiny_crm, f"s3://{BUCKET}/{BASE}", email_hash_key=HASH_KEY)
    result = quiet_build(cfg)
    store = DynamoDuplicateStore(TABLE, IDENTITY)
    keep = _kept_customers(tiny_crm)
    store.sync_customers([(h, ref) for h, ref in result.customer_pairs if ref in keep])
    blocks = result.customer_blocks.blocks
    store.sync_identities({h: es for h, es in blocks.items() if any(e.ref in keep for e in es)})
    return Aws(s3=s3, dynamodb=ddb, build=result, secret_arn=arn)


def _kept_customers(crm: Path) -> set[str]:
    """The customers synced to the tables: the test person and the first 500 ids. moto copies
    every table of a TransactWriteItems (to roll it back on failure), so with all of them a
    record on a loaded machine outlasts the request profile's 1 s read timeout; real DynamoDB
    does not care (test_build_job syncs them all)."""
    return {str(known_person(crm)["customer_id"]), *map(str, range(100_001, 100_501))}


@pytest.fixture
def artifacts_uri(aws: Aws) -> str:
    """A private copy of the published artifacts (server-side S3 copies), so a test can move
    LATEST or corrupt a version without touching the others."""
    prefix = f"artifacts/t-{uuid.uuid4().hex[:8]}"
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{BASE}/")
    for page in pages:
        for obj in page.get("Contents", []):
            aws.s3.copy_object(
                Bucket=BUCKET,
                Key=prefix + obj["Key"][len(BASE) :],
                CopySource={"Bucket": BUCKET, "Key": obj["Key"]},
            )
    return f"s3://{BUCKET}/{prefix}"


class Context:
    """What the Lambda runtime passes as `context` (the attributes Powertools reads)."""

    function_name = "leadgen-scoring"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadgen-scoring:live"
    memory_limit_in_mb = 2048
    log_group_name = "/aws/lambda/leadgen-scoring"
    log_stream_name = "2026/01/01/[$LATEST]test"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    request_id: str


class Lambda:
    """A freshly imported handler module (one cold start) and a way to call it."""

    def __init__(self, module: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
        self.module = module
        self._capsys = capsys
        self.output = ""

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = "application/json",
    ) -> Answer:
        raw = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": content_type} if content_type else {}
        event = http_v2_event(method, path, headers, raw)
        resp = self.module.handler(event, Context())
        assert "traceback" not in (resp.get("body") or "").lower()
        return Answer(
            int(resp["statusCode"]),
            json.loads(resp["body"]) if resp.get("body") else {},
            event["requestContext"]["requestId"],
        )

    def read_output(self) -> str:
        """Everything the function wrote since the last call (logs + EMF metrics): stdout, then
        stderr (Lambda ships both to CloudWatch Logs)."""
        captured = self._capsys.readouterr()
        self.output = captured.out + captured.err
        return self.output

    def metrics(self) -> dict[str, list[float]]:
        """Metric name -> values, from the EMF blobs printed since the last read."""
        return _metrics_of(self.read_output())


def _metrics_of(output: str) -> dict[str, list[float]]:
    """Metric name -> values, from the CloudWatch EMF blobs Powertools printed."""
    out: dict[str, list[float]] = {}
    for blob in _json_lines(output):
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                out.setdefault(metric["Name"], []).extend(
                    value if isinstance(value, list) else [value]
                )
    return out


def _json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


@pytest.fixture(scope="module")
def deployment(synth: Synth, aws: Aws) -> Deployment:
    """The stack as deployed onto this module's moto resources."""
    names = {"ArtifactBucket": BUCKET, "DuplicateTable": TABLE, "IdentityTable": IDENTITY,
             "EmailHashKeySecret": aws.secret_arn}  # fmt: skip
    deployment = Deployment(synth.dev_json, names)
    deployment.names[deployment.function_id] = "leadgen-scoring"
    return deployment


# What the function here does differently from the deployed one: the fast hashing embedder, a
# /tmp of its own, LATEST re-checked on every call, no X-Ray daemon to send traces to.
TEST_SETTINGS = {
    "LEADGEN_EMBEDDER": "hashing",
    "REFRESH_SECONDS": "0",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@pytest.fixture
def start_lambda(
    deployment: Deployment,
    moto_env: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Callable[..., Lambda]]:
    """Set the function's environment (the synthesised template's, with TEST_SETTINGS and the
    test's own `env`; None removes a variable) and import the handler: a cold start, signing
    with the function role's credentials (its calls are checked against that role's policy)."""

    def start(**env: str | None) -> Lambda:
        changes = {**TEST_SETTINGS, "LEADGEN_CACHE_DIR": str(tmp_path / "lambda-tmp"), **env}
        variables = deployment.run_environment(deployment.function_id, moto_env, changes)
        stale = [k for k in os.environ if k.startswith("LEADGEN_") or k in changes]
        for key in stale:  # nothing of the developer's shell or an earlier cold start
            if key not in variables:
                monkeypatch.delenv(key, raising=False)
        for key, value in variables.items():
            if key not in _CREDENTIALS:
                monkeypatch.setenv(key, value)
        # pytest swaps sys.stdout per test; the Powertools log handler (created once per
        # process) must write to this test's stdout for the assertions on log content.
        # (Assigned, not setStream: that would flush the previous test's closed stream.)
        for h in logging.getLogger("leadgen").handlers:
            if isinstance(h, logging.StreamHandler):
                h.stream = sys.stdout
        with running_as({k: variables[k] for k in _CREDENTIALS}):
            if "lambda_src.handler" in sys.modules:
                # Powertools keeps one metric set per process: drop what earlier tests left,
                # but not what this init adds (published with the first invocation, as in Lambda).
                sys.modules["lambda_src.handler"].metrics.clear_metrics()
                module = importlib.reload(sys.modules["lambda_src.handler"])
            else:
                module = importlib.import_module("lambda_src.handler")
        # Powertools configures the "leadgen" logger once per process and skips it on later
        # inits, so a quieter level an earlier cold start set (another test's
        # POWERTOOLS_LOG_LEVEL) would stick: each cold start here logs at least what its
        # environment says, as in Lambda (a test's caplog may ask for more).
        wanted = logging.getLevelName(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())
        current = logging.getLogger("leadgen").level or wanted
        module.logger.setLevel(min(current, wanted))
        return Lambda(module, capsys)

    yield start
    # This test's stdout closes with it; later tests logging under "leadgen" must not hit it.
    for h in logging.getLogger("leadgen").handlers:
        if isinstance(h, logging.StreamHandler):
            h.stream = sys.__stdout__


def _publish_local_version(local_root: Path, uri: str) -> str:
    """Publish a version built by a real build (the session's local hashing build) into `uri`
    with the same primitives as `leadgen.builder.pipeline`: upload, verify remotely, then move
    LATEST.
    Saves a second ~10 s build per test; the version is new to `uri` all the same."""
    version = read_pointer(LocalStore(local_root)).version
    store = open_store(uri)
    upload_version(store, local_root / version, version)
    sha = verify_remote(store, version, local_root.parent / f"verify-{uuid.uuid4().hex[:6]}")
    set_latest(store, version, sha)
    return version


def _current_customer_with_gmail(crm: Path) -> tuple[str, int]:
    """A current customer whose gmail address belongs to nobody else (so the expected id is
    unambiguous)."""
    rows = [r for r in pq.read_table(crm).to_pylist() if r["is_current"] and r["email"]]
    counts: dict[str | None, int] = {}
    for r in rows:
        counts[normalise_email(r["email"])] = counts.get(normalise_email(r["email"]), 0) + 1
    kept = _kept_customers(crm)  # the customers synced to the table
    for r in (r for r in rows if str(r["customer_id"]) in kept):
        email = str(r["email"])
        local = email.split("@")[0]
        if email.endswith("@gmail.com") and "." in local and counts[normalise_email(email)] == 1:
            return email, int(r["customer_id"])
    raise AssertionError("the tiny CRM has no suitable gmail customer")


def _getter(service: Any) -> Callable[[], Any]:
    return lambda: service


def _new_email() -> str:
    """A new address at a domain of its own: the same name at one company domain is one person
    for the fuzzy check, and every test posts the same sample person."""
    h = uuid.uuid4().hex[:10]
    return f"new.lead.{h}@{h}.example"


# ---- the routes ----------------------------------------------------------------------------


def test_health_reports_version_age_and_embedder(
    aws: Aws, artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    ans = fn("GET", "/health")
    assert ans.status == 200, ans.body
    assert ans.body["status"] == "ok"
    assert ans.body["artifact_version"] == aws.build.version
    assert 0 <= ans.body["artifact_age_seconds"] < 3600
    assert ans.body["embedder"]["kind"] == "hashing"
    assert ans.body["customers"] == aws.build.report["rows"]["current_customers"]
    m = fn.metrics()
    assert m["ArtifactAgeSeconds"] and 0 <= m["ArtifactAgeSeconds"][0] < 3600


def test_score_lead_gives_scores_grade_neighbours_explanation(
    aws: Aws, artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email(), "lead_id": "web-1"})
    assert ans.status == 200, ans.body
    r = ans.body
    assert r["duplicate"] is False and r["duplicate_check"] == "done"
    assert r["artifact_version"] == aws.build.version
    for key in ("s_look", "s_all", "s_novel", "contrast"):
        assert isinstance(r[key], float)
    assert abs(r["s_novel"] - (1 - r["s_all"])) < 1e-5
    assert 0 <= r["percentile"] <= 100 and r["grade"] in {"A", "B", "C", "D"}
    assert len(r["neighbors"]["high"]) == 5 and len(r["neighbors"]["all"]) == 5
    assert all(isinstance(n["customer_id"], int) for n in r["neighbors"]["all"])
    assert set(r["explanation"]) >= {"text_similarity", "tabular_similarity", "summary"}
    assert r["lead_ref"] == "web-1"

    output = fn.read_output()
    metrics = _metrics_of(output)
    assert metrics["LeadsScored"] == [1.0] and metrics["Duplicates"] == [0.0]
    assert metrics[f"Grade{r['grade']}"] == [1.0]
    assert len(metrics["ScoreLatencyMs"]) == 1 and metrics["ScoreLatencyMs"][0] > 0
    # The request's API Gateway id is the correlation id of every log line of the request.
    scored = [b for b in _json_lines(output) if b.get("message") == "scored"]
    assert scored and scored[0]["correlation_id"] == ans.request_id
    # Grades are metric names, not dimensions (no high-cardinality dimension on any metric).
    for blob in _json_lines(output):
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            assert all(set(d) <= {"service", "function_name"} for d in directive["Dimensions"])


def test_score_leads_batch_and_its_configured_limit(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, MAX_BATCH_SIZE="3")
    leads = [
        {**LEAD, "email": _new_email()},
        {**LEAD, "industry": "Retail", "bio": "Owns a chain of bakeries."},  # no email
        {**LEAD, "email": _new_email(), "job_title": "CTO", "first_name": "Bo", "last_name": "Ek"},
    ]
    ans = fn("POST", "/score_leads", {"leads": leads, "options": {"neighbors": 2}})
    assert ans.status == 200, ans.body
    results = ans.body["results"]
    assert len(results) == 3
    assert [r["duplicate_check"] for r in results] == ["done", "no_email", "done"]
    assert all(r["grade"] in {"A", "B", "C", "D"} for r in results)
    assert all(len(r["neighbors"]["high"]) == 2 for r in results)
    assert fn.metrics()["LeadsScored"] == [3.0]

    too_many = fn("POST", "/score_leads", {"leads": [LEAD] * 4})
    assert too_many.status == 422
    assert too_many.body["field"] == "leads" and "at most 3" in too_many.body["reason"]


# ---- duplicates ----------------------------------------------------------------------------


def test_known_customer_short_circuits_whatever_the_case_and_gmail_dots(
    aws: Aws, artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    email, customer_id = _current_customer_with_gmail(tiny_crm)
    local = email.split("@")[0]
    disguised = f"  {local.replace('.', '').upper()[:3]}.{local.replace('.', '')[3:]}@GMail.com "
    assert disguised.strip().lower() != email  # really a different spelling
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    fn.read_output()
    ans = fn("POST", "/score_lead", {**LEAD, "email": disguised})
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is True
    assert ans.body["duplicate_of"] == "customer"
    assert ans.body["customer_id"] == str(customer_id)
    assert ans.body.get("s_look") is None  # short-circuited: not embedded, not scored
    m = fn.metrics()
    assert m["Duplicates"] == [1.0] and m["LeadsScored"] == [0.0]


def test_the_same_new_lead_twice_is_a_duplicate_the_second_time(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    email = _new_email()
    first = fn("POST", "/score_lead", {**LEAD, "email": email, "lead_id": "first"})
    second = fn("POST", "/score_lead", {**LEAD, "email": email.upper(), "lead_id": "second"})
    assert first.status == second.status == 200
    assert first.body["duplicate"] is False and first.body["lead_ref"] == "first"
    assert second.body["duplicate"] is True
    assert second.body["duplicate_of"] == "lead" and second.body["lead_ref"] == "first"


def test_twenty_concurrent_submissions_of_one_email_give_one_non_duplicate(
    aws: Aws, hashing_artifacts: Path, tmp_path: Path
) -> None:
    """20 'Lambda instances' (own resolver, own service, own DynamoDB client) race on one new
    email: the conditional write in DynamoDB lets exactly one through."""
    from leadgen.config import ServiceConfig
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.api import create_app
    from leadgen.serve.service import ScoringService

    n = 20
    apps = []
    for i in range(n):
        cfg = ServiceConfig(artifacts_uri=str(hashing_artifacts), cache_dir=tmp_path / str(i))
        # The client the Lambda builds (lambda_src.handler.build_service): short timeouts, one
        # retry. The batch profile's patient retries would hide a race lost to a timeout.
        dups = DynamoDuplicateStore(TABLE, client=dynamodb_client("request"))
        svc = ScoringService(cfg, HashingEmbedder(), dups)
        assert svc.lifecycle.start()
        apps.append(create_app(_getter(svc)))
    email = _new_email()
    barrier = threading.Barrier(n)
    answers: list[dict[str, Any]] = [{} for _ in range(n)]

    def submit(i: int) -> None:
        body = json.dumps({**LEAD, "email": email, "lead_id": f"racer-{i}"}).encode()
        event = http_v2_event("POST", "/score_lead", {"content-type": "application/json"}, body)
        barrier.wait()
        resp = apps[i].resolve(event, Context())  # type: ignore[arg-type]
        answers[i] = {"status": resp["statusCode"], **json.loads(resp["body"])}

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a["status"] == 200 for a in answers), answers
    winners = [a for a in answers if a["duplicate"] is False]
    assert len(winners) == 1, [a.get("lead_ref") for a in answers]
    winner_ref = winners[0]["lead_ref"]
    losers = [a for a in answers if a["duplicate"] is True]
    assert len(losers) == n - 1
    assert all(a["duplicate_of"] == "lead" and a["lead_ref"] == winner_ref for a in losers)


# ---- fuzzy duplicates (identity table, keyed hashes from the secret) ----------------------


def test_a_customer_under_another_email_with_a_nickname_is_a_fuzzy_duplicate(
    aws: Aws, artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    person = known_person(tiny_crm)
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    fn.read_output()
    ans = fn("POST", "/score_lead", nickname_lead(person))
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is True and ans.body.get("s_look") is None  # not scored
    assert ans.body["duplicate_of"] == "customer"
    assert ans.body["customer_id"] == str(person["customer_id"])
    match = ans.body["duplicate_match"]
    assert match["kind"] == "fuzzy" and match["customer_id"] == str(person["customer_id"])
    assert "name:nickname" in match["matched_on"] and "company" in match["matched_on"]
    assert 0.95 <= match["confidence"] < 1.0
    m = fn.metrics()
    assert m["Duplicates"] == [1.0] and m["FuzzyDuplicates"] == [1.0]


def test_a_colleague_at_the_same_company_is_scored_as_new(
    artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    person = known_person(tiny_crm)
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    colleague = {**nickname_lead(person), "first_name": "Xiomara", "last_name": "Quellwater"}
    ans = fn("POST", "/score_lead", colleague)
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is False and ans.body["grade"] in {"A", "B", "C", "D"}
    assert ans.body["duplicate_match"] is None and ans.body["possible_duplicate"] is None


def test_the_same_name_and_company_in_another_country_is_a_possible_duplicate(
    artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    person = known_person(tiny_crm)
    elsewhere = "Japan" if person["country"] != "Japan" else "Mexico"
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    lead = {**nickname_lead(person), "first_name": person["first_name"], "country": elsewhere}
    ans = fn("POST", "/score_lead", lead)
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is False and isinstance(ans.body["s_look"], float)  # scored
    possible = ans.body["possible_duplicate"]
    assert possible["kind"] == "fuzzy" and possible["customer_id"] == str(person["customer_id"])
    assert 0.6 <= possible["confidence"] < 0.95
    assert fn.metrics()["PossibleDuplicates"] == [1.0]


def test_a_new_person_again_under_another_email_is_a_fuzzy_duplicate_of_the_first_lead(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    company = f"Quillfeather {uuid.uuid4().hex[:6]} Analytics"
    first = {
        **LEAD, "first_name": "Rebecca", "last_name": "Thistlewood", "company": company,
        "email": _new_email(), "phone": "+44 20 7946 0958", "lead_id": "fuzzy-first",
    }  # fmt: skip
    again = {
        **first, "first_name": "Becky", "last_name": "Thistlewod", "email": _new_email(),
        "company": company.upper() + " LTD", "phone": "020 7946 0958", "lead_id": "again",
    }  # fmt: skip
    one, two = fn("POST", "/score_lead", first), fn("POST", "/score_lead", again)
    assert one.status == two.status == 200
    assert one.body["duplicate"] is False and one.body["lead_ref"] == "fuzzy-first"
    assert two.body["duplicate"] is True and two.body["duplicate_of"] == "lead"
    assert two.body["lead_ref"] == "fuzzy-first"
    assert two.body["duplicate_match"]["kind"] == "fuzzy"
    assert "phone" in two.body["duplicate_match"]["matched_on"]


def test_a_batch_with_the_same_new_person_twice_scores_it_once(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    """Both are looked up before either is recorded; the second's conditional write finds the
    first in its blocks and it becomes that lead's duplicate."""
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    company = f"Brambleworth {uuid.uuid4().hex[:6]} Logistics"
    a = {**LEAD, "first_name": "William", "last_name": "Okonjo", "company": company,
         "email": _new_email(), "lead_id": "batch-a"}  # fmt: skip
    b = {**a, "first_name": "Bill", "email": _new_email(), "lead_id": "batch-b"}
    ans = fn("POST", "/score_leads", {"leads": [a, b]})
    assert ans.status == 200, ans.body
    first, second = ans.body["results"]
    assert first["duplicate"] is False and first["lead_ref"] == "batch-a"
    assert second["duplicate"] is True and second["lead_ref"] == "batch-a"
    assert second["duplicate_match"]["kind"] == "fuzzy"


def test_a_version_built_with_another_hash_key_is_flagged_and_not_trusted(
    artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda]
) -> None:
    """No secret here: the function hashes unkeyed, the version was built with the key. Known
    customers would silently come back as new; instead the check is skipped and flagged."""
    email, _ = _current_customer_with_gmail(tiny_crm)
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_EMAIL_HASH_KEY_SECRET_ARN=None)
    health = fn("GET", "/health")
    assert health.status == 200 and health.body["duplicate_store"] == "hash_key_mismatch"
    output = fn.read_output()
    assert "built with email hash key hmac-sha256:" in output and HASH_KEY not in output
    ans = fn("POST", "/score_lead", {**LEAD, "email": email})
    assert ans.body["duplicate"] is False and ans.body["duplicate_check"] == "skipped"
    keyed = start_lambda(ARTIFACTS_URI=artifacts_uri)
    assert keyed("GET", "/health").body["duplicate_store"] == "ok"
    assert keyed("POST", "/score_lead", {**LEAD, "email": email}).body["duplicate"] is True


def test_the_hash_key_must_be_the_one_the_build_used(
    artifacts_uri: str, tiny_crm: Path, start_lambda: Callable[..., Lambda], moto_env: str
) -> None:
    """The build hashed customers with the stack's key: the function reading the same secret
    finds a known customer (by email and fuzzily); one reading another key's secret must not
    trust the table (every customer would come back new) and says so on /health."""
    email, customer_id = _current_customer_with_gmail(tiny_crm)
    person = known_person(tiny_crm)
    same = start_lambda(ARTIFACTS_URI=artifacts_uri)
    assert same("GET", "/health").body["duplicate_store"] == "ok"
    hit = same("POST", "/score_lead", {**LEAD, "email": email}).body
    assert hit["duplicate"] is True and hit["customer_id"] == str(customer_id)
    fuzzy = same("POST", "/score_lead", nickname_lead(person)).body
    assert fuzzy["duplicate"] is True and fuzzy["duplicate_match"]["kind"] == "fuzzy"

    sm = moto_client("secretsmanager", moto_env)
    other = sm.create_secret(Name=f"other-key-{uuid.uuid4().hex[:6]}", SecretString="another")
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_EMAIL_HASH_KEY_SECRET_ARN=other["ARN"])
    assert fn("GET", "/health").body["duplicate_store"] == "hash_key_mismatch"
    ans = fn("POST", "/score_lead", {**LEAD, "email": email}).body
    assert ans["duplicate"] is False and ans["duplicate_check"] == "skipped"
    assert fn("POST", "/score_lead", nickname_lead(person)).body["duplicate_check"] == "skipped"


def test_an_unreadable_hash_key_secret_answers_503_and_names_the_variable(
    aws: Aws, start_lambda: Callable[..., Lambda]
) -> None:
    missing = aws.secret_arn.rsplit(":", 1)[0] + ":no-such-secret-AbCdEf"
    fn = start_lambda(
        ARTIFACTS_URI="s3://nowhere/artifacts", LEADGEN_EMAIL_HASH_KEY_SECRET_ARN=missing
    )
    ans = fn("GET", "/health")
    assert ans.status == 503 and ans.body["error"] == "unavailable"
    assert "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN: cannot read" in fn.read_output()


def test_dynamodb_unavailable_still_scores_and_says_skipped(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, DUP_TABLE_NAME="no-such-table")
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is False
    assert ans.body["duplicate_check"] == "skipped"
    assert ans.body["grade"] in {"A", "B", "C", "D"}
    assert fn.metrics()["DuplicateCheckSkipped"] == [1.0]


def test_a_failed_record_answers_not_a_duplicate_and_says_skipped(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    """The lookup answered but the conditional write failed: the lead is scored, the answer
    says the check was skipped (it was not recorded, so it cannot claim "done"), and the same
    lead later is not found as its own duplicate."""
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    dups = fn.module.runtime.service.duplicates
    healthy = dups.client
    dups._client = failing = FailingWrites(healthy)
    fn.read_output()
    email = _new_email()
    ans = fn("POST", "/score_lead", {**LEAD, "email": email, "lead_id": "unrecorded"})
    assert ans.status == 200, ans.body
    assert ans.body["duplicate"] is False and ans.body["duplicate_check"] == "skipped"
    assert ans.body["grade"] in {"A", "B", "C", "D"} and failing.failed == 1
    output = fn.read_output()
    assert _metrics_of(output)["DuplicateCheckSkipped"] == [1.0]
    assert "duplicate record skipped: ClientError" in output
    dups._client = healthy
    again = fn("POST", "/score_lead", {**LEAD, "email": email, "lead_id": "second"})
    assert again.body["duplicate"] is False and again.body["duplicate_check"] == "done"


def test_dynamodb_unreachable_costs_one_failed_call_per_batch(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    with refused_endpoint() as dead:
        fn = start_lambda(ARTIFACTS_URI=artifacts_uri, AWS_ENDPOINT_URL_DYNAMODB=dead)
        fn.read_output()
        leads = [{**LEAD, "email": _new_email()} for _ in range(5)]
        t0 = time.perf_counter()
        ans = fn("POST", "/score_leads", {"leads": leads})
        elapsed = time.perf_counter() - t0
    assert ans.status == 200, ans.body
    assert [r["duplicate_check"] for r in ans.body["results"]] == ["skipped"] * 5
    assert all(r["grade"] in {"A", "B", "C", "D"} for r in ans.body["results"])
    output = fn.read_output()
    skips = [b for b in _json_lines(output) if b.get("message", "").startswith("duplicate")]
    assert len(skips) == 1, skips  # the store is not retried lead after lead
    assert _metrics_of(output)["DuplicateCheckSkipped"] == [5.0]
    assert elapsed < 10, elapsed


# ---- artifact refresh ----------------------------------------------------------------------


def test_a_new_version_is_loaded_off_the_request_path_then_served(
    aws: Aws,
    artifacts_uri: str,
    hashing_artifacts: Path,
    start_lambda: Callable[..., Lambda],
    tmp_path: Path,
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    assert fn("GET", "/health").body["artifact_version"] == aws.build.version
    cache = tmp_path / "lambda-tmp"
    assert not (cache / aws.build.version).exists()  # loaded: its files left /tmp at once
    new_version = _publish_local_version(hashing_artifacts, artifacts_uri)
    assert new_version != aws.build.version
    # The request that notices the new LATEST is answered by the version already loaded ...
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
    assert ans.status == 200 and ans.body["artifact_version"] == aws.build.version
    # ... while the new one loads in the background; the requests after the swap get it.
    assert _lifecycle(fn).wait_refresh(60)
    assert fn("GET", "/health").body["artifact_version"] == new_version
    assert not cache.exists() or not any(cache.iterdir())  # neither version left files behind


def test_a_pinned_function_version_serves_its_artifact_version_only(
    aws: Aws, artifacts_uri: str, hashing_artifacts: Path, start_lambda: Callable[..., Lambda]
) -> None:
    """What the build job's roll-out publishes: a function version pinned to one artifact
    version never reads LATEST, so it never loads a second version in the same environment."""
    pointer = read_pointer(open_store(artifacts_uri))
    pin = f"{pointer.version}@{pointer.manifest_sha256}"
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_ARTIFACT_PIN=pin)
    assert fn("GET", "/health").body["artifact_version"] == aws.build.version
    _publish_local_version(hashing_artifacts, artifacts_uri)
    for _ in range(2):
        ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
        assert ans.status == 200 and ans.body["artifact_version"] == aws.build.version
        assert _lifecycle(fn).wait_refresh(60)
    assert fn("GET", "/health").body["artifact_version"] == aws.build.version


def test_a_malformed_pin_answers_503_naming_the_variable(
    artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, LEADGEN_ARTIFACT_PIN="not-a-pin")
    ans = fn("GET", "/health")
    assert ans.status == 503
    assert "LEADGEN_ARTIFACT_PIN must be VERSION@MANIFEST_SHA256" in fn.read_output()


def _lifecycle(fn: Lambda) -> Any:
    return fn.module.runtime.service.lifecycle


def test_refresh_waits_for_refresh_seconds(
    aws: Aws, artifacts_uri: str, hashing_artifacts: Path, start_lambda: Callable[..., Lambda]
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri, REFRESH_SECONDS="3600")
    _publish_local_version(hashing_artifacts, artifacts_uri)
    assert fn("GET", "/health").body["artifact_version"] == aws.build.version


@pytest.mark.parametrize("damage", ["file_overwritten", "pointer_checksum_wrong"])
def test_a_corrupted_version_is_refused_and_the_old_one_keeps_serving(
    damage: str,
    aws: Aws,
    artifacts_uri: str,
    hashing_artifacts: Path,
    start_lambda: Callable[..., Lambda],
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    assert fn("GET", "/health").body["artifact_version"] == aws.build.version
    fn.read_output()
    bad = _publish_local_version(hashing_artifacts, artifacts_uri)
    prefix = artifacts_uri.split("/", 3)[3]
    if damage == "file_overwritten":
        aws.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{bad}/ids_all.npy", Body=b"garbage")
    else:
        pointer = {"version": bad, "manifest_sha256": "0" * 64}
        aws.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{LATEST}", Body=json.dumps(pointer))

    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
    assert ans.status == 200, ans.body
    assert ans.body["artifact_version"] == aws.build.version
    assert _lifecycle(fn).wait_refresh(60)  # the refresh ran, and failed, in the background
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
    assert ans.status == 200 and ans.body["artifact_version"] == aws.build.version
    output = fn.read_output()
    assert _metrics_of(output)["ArtifactRefreshFailures"] == [1.0]
    logs = _json_lines(output)
    refusals = [b for b in logs if "refused artifact version" in b.get("message", "")]
    assert refusals and refusals[0]["level"] == "ERROR" and bad in refusals[0]["message"]
    # Refused once, not re-downloaded on every request.
    assert fn("GET", "/health").body["artifact_version"] == aws.build.version
    assert "ArtifactRefreshFailures" not in fn.metrics()


# ---- start-up failures ---------------------------------------------------------------------


def test_no_artifacts_at_cold_start_answers_503_then_recovers(
    aws: Aws, hashing_artifacts: Path, start_lambda: Callable[..., Lambda]
) -> None:
    empty = f"s3://{BUCKET}/artifacts/empty-{uuid.uuid4().hex[:8]}"
    fn = start_lambda(ARTIFACTS_URI=empty)
    ans = fn("GET", "/health")
    assert ans.status == 503 and ans.body["error"] == "unavailable"
    assert "LATEST" not in ans.body["reason"]  # the detail goes to the log only
    output = fn.read_output()
    assert "no LATEST pointer" in output
    # The failed load at init, and the failed retry of this request, are both counted.
    assert _metrics_of(output)["ArtifactRefreshFailures"] == [1.0, 1.0]
    version = _publish_local_version(hashing_artifacts, empty)
    ans = fn("GET", "/health")
    assert ans.status == 200 and ans.body["artifact_version"] == version


def test_a_corrupted_latest_at_cold_start_falls_back_to_an_older_verified_version(
    aws: Aws, artifacts_uri: str, hashing_artifacts: Path, start_lambda: Callable[..., Lambda]
) -> None:
    """It used to answer 503 on every route although an intact older version was there."""
    store = open_store(artifacts_uri)
    local = _publish_local_version(hashing_artifacts, artifacts_uri)
    store.upload_file(hashing_artifacts / local / "build_report.json", f"{local}/build_report.json")
    old, new = sorted([aws.build.version, local])
    sha = hashlib.sha256(store.read_bytes(f"{new}/manifest.json")).hexdigest()
    set_latest(store, new, sha)
    victim = f"{new}/index_all.faiss"
    store.write_bytes(victim, flip_byte(store.read_bytes(victim)))

    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    health = fn("GET", "/health")
    assert health.status == 200, health.body
    assert health.body["artifact_version"] == old and health.body["fallback_from"] == new
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
    assert ans.status == 200 and ans.body["artifact_version"] == old
    output = fn.read_output()
    assert _metrics_of(output)["ArtifactFallback"] == [1.0, 1.0]
    assert any("refused artifact version" in b.get("message", "") for b in _json_lines(output))


def test_misconfiguration_answers_503_instead_of_crash_looping(
    start_lambda: Callable[..., Lambda],
) -> None:
    fn = start_lambda(ARTIFACTS_URI=None)
    ans = fn("POST", "/score_lead", LEAD)
    assert ans.status == 503 and ans.body["error"] == "unavailable"
    output = fn.read_output()
    assert "ARTIFACTS_URI is not set" in output
    assert _metrics_of(output)["ArtifactUnavailable"] == [1.0]


# ---- errors --------------------------------------------------------------------------------

BIG_BIO = "x" * (300 * 1024)


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "reason"),
    [
        ("/score_lead", b'{"industry": "Finance",', 400, "body", "not valid JSON"),
        ("/score_lead", b'["a", "list"]', 400, "body", "JSON object"),
        ("/score_lead", {**LEAD, "company_size": "big"}, 422, "company_size", "number"),
        ("/score_lead", {**LEAD, "email": 42}, 422, "email", "string"),
        (
            "/score_lead",
            {**LEAD, "options": {"grade_bands": {"A": 90, "E": 10}}},
            422,
            "options.grade_bands.E",
            "Extra inputs",
        ),
        ("/score_leads", {"leads": []}, 422, "leads", "at least 1 item"),
        ("/score_leads", {"leads": [LEAD] * 101}, 422, "leads", "at most 100"),
        (
            "/score_leads",
            {"leads": [LEAD, {**LEAD, "bio": ["not", "text"]}]},
            422,
            "leads[1].bio",
            "expected a string",
        ),
        ("/score_lead", {**LEAD, "bio": BIG_BIO}, 413, "body", "at most 262144"),
        ("/score_lead", b'{"bio": "caf\xe9"}', 400, "body", "not UTF-8"),
        ("/score_lead", b"[" * 1000 + b"]" * 1000, 400, "body", "nested deeper than 32"),
        ("/score_lead", b'{"company_size": ' + b"9" * 400 + b"}", 422, "company_size", "finite"),
        ("/score_lead", b'{"bio": "\ud83d"}', 422, "bio", "Unicode"),
        (
            "/score_leads",
            {"leads": [LEAD], "options": {"neighbors": "5"}},
            422,
            "options.neighbors",
            "integer",
        ),
    ],
    ids=[
        "invalid-json",
        "not-an-object",
        "wrong-type",
        "email-not-a-string",
        "unknown-grade",
        "empty-batch",
        "oversized-batch",
        "wrong-type-in-batch",
        "oversized-body",
        "non-utf8",
        "deep-nesting",
        "400-digit-int",
        "lone-surrogate",
        "neighbors-as-text",
    ],
)
def test_bad_requests_get_4xx_with_field_and_reason(
    path: str,
    body: Any,
    status: int,
    field: str,
    reason: str,
    artifacts_uri: str,
    start_lambda: Callable[..., Lambda],
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    ans = fn("POST", path, body)
    assert ans.status == status, ans.body
    assert ans.body["field"] == field
    assert reason in ans.body["reason"]


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        ("application/xml", 415),
        ("multipart/form-data; boundary=x", 415),
        ("application/x-www-form-urlencoded", 415),
        ("APPLICATION/JSON", 200),
        ("Application/JSON; charset=UTF-8", 200),
    ],
)
def test_media_types_through_the_handler(
    artifacts_uri: str, start_lambda: Callable[..., Lambda], content_type: str, status: int
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    ans = fn("POST", "/score_lead", LEAD, content_type=content_type)
    assert ans.status == status, ans.body
    if status == 415:
        assert ans.body["error"] == "unsupported_media_type"
        assert content_type.split(";")[0] in ans.body["reason"]
    assert "ArtifactRefreshFailures" not in fn.metrics()


def test_an_email_in_the_query_string_reaches_no_log_even_in_debug(
    artifacts_uri: str,
    start_lambda: Callable[..., Lambda],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("POWERTOOLS_EVENT_HANDLER_DEBUG", "POWERTOOLS_DEV", "POWERTOOLS_DEBUG"):
        monkeypatch.setenv(name, "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    assert fn("GET", "/health?email=Query.Person@Example.org").status == 200
    assert fn("POST", "/score_lead?email=Query.Person@Example.org", LEAD).status == 200
    everything = fn.read_output() + "\n".join(r.getMessage() for r in caplog.records)
    assert '"scored"' in everything  # this request's own log line is there to look at
    assert "query.person" not in everything.lower()


def test_an_unexpected_failure_is_an_opaque_500_with_the_detail_only_in_the_log(
    artifacts_uri: str, start_lambda: Callable[..., Lambda], monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    model = fn.module.runtime.service.scorer()

    def broken_score(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("faiss exploded: secret-internal-detail")

    monkeypatch.setattr(model, "score", broken_score)
    fn.read_output()
    ans = fn("POST", "/score_lead", {**LEAD, "email": _new_email()})
    assert ans.status == 500
    assert ans.body["error"] == "internal_error"
    text = json.dumps(ans.body)
    assert "secret-internal-detail" not in text and "RuntimeError" not in text
    incident = ans.body["reason"].split("incident ")[1].rstrip(")")
    errors = [b for b in _json_lines(fn.read_output()) if b.get("level") == "ERROR"]
    assert errors and incident in errors[0]["message"]
    assert "secret-internal-detail" in errors[0]["exception"]
    assert errors[0]["correlation_id"] == ans.request_id


@pytest.mark.parametrize("path", ["scored", "store_down", "internal_error"])
def test_logs_never_contain_the_raw_email_or_bio(
    path: str,
    artifacts_uri: str,
    start_lambda: Callable[..., Lambda],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not on stdout, not on stderr (Lambda ships both), not in any record's structured extras,
    whether the lead is scored, the duplicate store is down, or the request fails with a 500."""
    # Even with event logging asked for by env, and every logger (boto's too) at DEBUG.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="leadgen")
    email = f"Zelda.Q.Marker-{uuid.uuid4().hex[:6]}@Example.org"
    bio = "Collects antique zeppelin-telemetry-harmonicas and breeds axolotls."
    lead = {**LEAD, "email": email, "bio": bio, "first_name": "Zelda", "last_name": "Quorndike",
            "company": "Marmalade Dirigible Works GmbH", "phone": "+49 30 86753091"}  # fmt: skip
    with refused_endpoint() as dead:
        env = {"AWS_ENDPOINT_URL_DYNAMODB": dead} if path == "store_down" else {}
        fn = start_lambda(ARTIFACTS_URI=artifacts_uri, DUP_TABLE_NAME=TABLE, **env)
        marker = _drive_for_logs(fn, path, lead, monkeypatch)
    everything = fn.read_output() + "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records
    )
    assert marker in everything  # there are logs to look at
    for needle in (email, email.lower(), "zelda.q.marker", "zeppelin-telemetry", "axolotls",
                   "zq@gmail", "quorndike", "marmalade", "dirigible", "86753091"):  # fmt: skip
        assert needle.lower() not in everything.lower(), needle


def _drive_for_logs(
    fn: Lambda, path: str, lead: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> str:
    """Send `lead` down one path; returns a log marker the path must have written."""
    if path == "internal_error":

        def broken_score(*_a: Any, **_k: Any) -> Any:
            raise RuntimeError("faiss exploded")

        monkeypatch.setattr(fn.module.runtime.service.scorer(), "score", broken_score)
        assert fn("POST", "/score_lead", lead).status == 500
        return "faiss exploded"
    assert fn("POST", "/score_lead", lead).status == 200
    assert fn("POST", "/score_leads", {"leads": [lead, {**lead, "email": 5}]}).status == 422
    if path == "store_down":
        assert fn("POST", "/score_lead", lead).body["duplicate_check"] == "skipped"
        return "duplicate lookup skipped"
    assert fn("POST", "/score_lead", lead).body["duplicate"] is True
    again = {**lead, "email": "zq@gmail.com", "first_name": "ZELDA"}  # a fuzzy duplicate
    assert fn("POST", "/score_lead", again).body["duplicate_match"]["kind"] == "fuzzy"
    return "duplicate check"


# ---- the real ONNX embedder ------------------------------------------------------------------

_ONNX_PROBE = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from leadgen.serve.server import http_v2_event
from lambda_src import handler as h
t_import = time.perf_counter() - t0

class Ctx:
    function_name = "leadgen-scoring"; memory_limit_in_mb = 2048; aws_request_id = "probe"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadgen-scoring"
    @staticmethod
    def get_remaining_time_in_millis(): return 29000

lead = json.loads(sys.argv[2])
def call(i):
    body = json.dumps({**lead, "lead_id": f"p{i}"}).encode()
    ev = http_v2_event("POST", "/score_lead", {"content-type": "application/json"}, body)
    return h.handler(ev, Ctx())
first = call(0)
t_first = time.perf_counter() - t0
first_epoch = time.time()
lat = []
for i in range(1, 201):
    t = time.perf_counter(); r = call(i); lat.append((time.perf_counter() - t) * 1000)
    assert r["statusCode"] == 200, r
health = h.handler(http_v2_event("GET", "/health", {}, None), Ctx())
lat.sort()
print("PROBE " + json.dumps({
    "first": json.loads(first["body"]), "first_status": first["statusCode"],
    "first_answer_epoch": first_epoch, "service_init_s": h.runtime.init_seconds,
    "health": json.loads(health["body"]), "import_s": t_import, "first_answer_s": t_first,
    "p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99) - 1],
}))
"""


def test_the_real_onnx_embedder_scores_through_the_handler(
    onnx_artifacts: Path, onnx_model_dir: Path, tmp_path: Path
) -> None:
    """In a fresh process (so the cold start is real): import the handler with the baked-model
    layout of the image (LEADGEN_MODEL_DIR), score a lead, then 200 warm requests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DUP_", "LEADGEN_"))}
    env.update(
        ARTIFACTS_URI=str(onnx_artifacts),
        LEADGEN_EMBEDDER="onnx",
        LEADGEN_MODEL_DIR=str(onnx_model_dir),
        LEADGEN_CACHE_DIR=str(tmp_path / "cache"),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        HF_HUB_OFFLINE="1",
    )
    launched = time.time()  # wall clock: compared with the child's, same machine
    proc = subprocess.run(
        [sys.executable, "-c", _ONNX_PROBE, str(REPO), json.dumps(LEAD)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    probe = json.loads(line[len("PROBE ") :])
    assert probe["first_status"] == 200
    assert probe["health"]["embedder"]["kind"] == "onnx"
    assert probe["first"]["grade"] in {"A", "B", "C", "D"}
    assert probe["first"]["explanation"]["text_similarity"] is not None
    assert probe["first"]["duplicate_check"] == "no_email"
    cold = probe["first_answer_epoch"] - launched
    print(
        f"\n[onnx handler] process start -> first scored lead {cold:.2f}s "
        f"(imports+init {probe['import_s']:.2f}s of which service+model load "
        f"{probe['service_init_s']:.2f}s; in-process first answer "
        f"{probe['first_answer_s']:.2f}s); warm p50 {probe['p50_ms']:.1f} ms, "
        f"p99 {probe['p99_ms']:.1f} ms"
    )


# ---- the sample events shipped for `sam local invoke -e` ----------------------------------------


@pytest.mark.parametrize("name", ["health", "score_lead", "score_leads"])
def test_the_sample_events_are_answered(
    name: str, artifacts_uri: str, start_lambda: Callable[..., Lambda]
) -> None:
    event = json.loads((REPO / "events" / f"{name}.json").read_text())
    assert event["version"] == "2.0" and event["routeKey"] == (
        f"{event['requestContext']['http']['method']} {event['rawPath']}"
    )
    fn = start_lambda(ARTIFACTS_URI=artifacts_uri)
    resp = fn.module.handler(event, Context())
    assert resp["statusCode"] == 200, resp
    body = json.loads(resp["body"])
    if name == "score_leads":
        assert len(body["results"]) == len(json.loads(event["body"])["leads"])
    elif name == "score_lead":
        assert "duplicate" in body
    else:
        assert body["status"] == "ok"

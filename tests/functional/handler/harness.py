"""The Lambda handler in-process, against moto's server over real HTTP (S3 + DynamoDB).

Each test imports lambda_src.handler afresh (a cold start: the module-level init reads env, loads
the model from S3) and invokes `handler(event, context)` with real API Gateway HTTP API v2 events
built by leadgen.serve.server.http_v2_event, the same builder the local server uses. Nothing of the
handler, the service, the artifact store or the duplicate table is mocked: moto plays AWS.

This module: the AWS resources, the context Lambda passes, a handler called like Lambda calls
it, and what its output says (log lines, EMF metrics).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
import pytest

from leadgen.builder.pipeline import BuildResult
from leadgen.duplicates.dynamo_store import DynamoDuplicateStore
from leadgen.duplicates.normalise import normalise_email
from leadgen.serve.server import http_v2_event
from leadgen.stores.artifacts import read_pointer, set_latest, upload_version, verify_remote
from leadgen.stores.blob import LocalStore, open_store
from tests.conftest import SAMPLE_LEAD, build_config, known_person, moto_client, quiet_build

BUCKET = "leadgen-handler-test"
TABLE = "leadgen-handler-dups"
IDENTITY = "leadgen-handler-identity"
HASH_KEY = "handler-test-email-hash-key"  # in moto's Secrets Manager, as the stack generates it
REPO = Path(__file__).resolve().parents[3]
# Under the stack's artifacts/ prefix (what the function may read): the first build, and a
# private copy of it per test beside it.
BASE = "artifacts/base"
LEAD = SAMPLE_LEAD


@dataclass
class Aws:
    s3: Any
    dynamodb: Any
    build: BuildResult  # the first version, built straight into s3://BUCKET/artifacts/base
    secret_arn: str  # the email hash key, as the stack hands it to the function


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
    does not care (tests/functional/build_job_runs sync them all)."""
    return {str(known_person(crm)["customer_id"]), *map(str, range(100_001, 100_501))}


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

"""The CodeBuild job end to end against moto's server over real HTTP (S3 + DynamoDB).

What these prove: a refresh from an S3 export (one file, or a prefix of parts) publishes a new
LATEST that the scoring service picks up without a restart, and syncs the duplicate table
(customers added and removed, lead entries never touched); a failure injected at upload, checksum
verification or the quality gate leaves LATEST, the table and the running service untouched, exits
non-zero with one clear line, and a rerun succeeds; retention keeps N versions and never LATEST's;
bad exports fail by name (exit 2) or are counted in the report; SIGTERM mid-build cleans up.
Builds use the hashing embedder and ~1000-row CRMs so each file runs in well under a minute.

This module: running the job in-process, reading what it left in S3 and DynamoDB, and the
scoring service that follows it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from build_job.job import EXIT_OK, run
from tests.conftest import Driver
from tests.deployed import Deployment, running_as
from tests.faults import FaultyStore

REPO = Path(__file__).resolve().parents[3]


ROWS = 1000


BUCKET = "leadgen-build-job-test"
# The stack's layout of the bucket: exports under input/, versions under artifacts/ (each test
# in a folder of its own), so every build runs inside the build project's grants.
ART = "artifacts"


# Variables a developer's shell may carry that would change what these builds do.
_JOB_VARS = (
    "LEADGEN_INPUT_PATH",
    "ARTIFACTS_URI",
    "DUP_TABLE_NAME",
    "LEADGEN_KEEP_VERSIONS",
    "LEADGEN_EMBEDDER",
    "LEADGEN_MODEL",
    "LEADGEN_TEXT_COLS",
    "LEADGEN_CAT_COLS",
    "LEADGEN_NUM_COLS",
    "LEADGEN_HIGH_VALUE_COL",
    "LEADGEN_VALUE_COL",
    "LEADGEN_VALUE_QUANTILE",
    "LEADGEN_MIN_AUC",
    "LEADGEN_MIN_LIFT",
    "LEADGEN_GRADE_BANDS",
    "LEADGEN_EMAIL_HASH_KEY",
    "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN",
    "IDENTITY_TABLE_NAME",
    "LEADGEN_FUNCTION_NAME",
    "LEADGEN_FUNCTION_MEMORY_MB",
    "LEADGEN_FUNCTION_TMP_MB",
    "LEADGEN_INDEX_COMPRESSION",
)


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def put_parquet(s3: Any, key: str, table: pa.Table) -> str:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
    return f"s3://{BUCKET}/{key}"


def new_table(dynamodb: Any, key: str = "email_hash", prefix: str = "dups") -> str:
    from tests.conftest import create_table

    return create_table(dynamodb, key, prefix)


def scan(dynamodb: Any, table: str) -> dict[str, dict[str, str]]:
    items: dict[str, dict[str, str]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            items[item["email_hash"]["S"]] = {k: next(iter(v.values())) for k, v in item.items()}
    return items


def expected_pairs(table: pa.Table) -> list[tuple[str, str]]:
    """(hash, customer id) the way the build derives them: current rows, export order."""
    from leadgen.duplicates.normalise import customer_hash_pairs

    cur = table.filter(pc.field("is_current"))
    ids: list[int] = cur["customer_id"].to_numpy().tolist()
    return customer_hash_pairs(cur["email"].to_pylist(), ids)


# The stack these builds run in, set once per module by conftest.py's `_deployed`.
_STACK: dict[str, Deployment] = {}


def build_role(environ: Any) -> dict[str, str]:
    """Credentials of the build project's role, for a run configured by `environ`: every call
    the run makes is checked against that role's policies after the test
    (tests/functional/conftest.py)."""
    deployment = _STACK["build"]
    project = deployment.logical_id("AWS::CodeBuild::Project", "IndexRefreshProject")
    return deployment.as_configured(project, environ).principal(project)


def artifacts(prefix: str) -> str:
    return f"s3://{BUCKET}/{ART}/{prefix}"


def latest(s3: Any, prefix: str) -> str | None:
    try:
        body = s3.get_object(Bucket=BUCKET, Key=f"{ART}/{prefix}/LATEST")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return str(json.loads(body)["version"])


def version_dirs(s3: Any, prefix: str) -> list[str]:
    resp = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{ART}/{prefix}/", Delimiter="/")
    found = resp.get("CommonPrefixes", [])
    return sorted(p["Prefix"][len(ART) + len(prefix) + 2 :].rstrip("/") for p in found)


def report(s3: Any, prefix: str, version: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=BUCKET, Key=f"{ART}/{prefix}/{version}/build_report.json")["Body"]
    return dict(json.loads(body.read()))


class JobRun:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        # Every stdout line is one JSON event (CloudWatch-friendly): parsing fails otherwise.
        self.events = [json.loads(line) for line in stdout.splitlines()]

    def one(self, event: str) -> dict[str, Any]:
        found = [e for e in self.events if e["event"] == event]
        assert len(found) == 1, (event, self.events)
        return found[0]

    def steps(self) -> list[str]:
        return [e["step"] for e in self.events if e["event"] == "build_step"]


def run_job(env: pytest.MonkeyPatch, fail_at: str | None = None, **variables: str) -> JobRun:
    """`python -m build_job` in-process (the same `run` that `main` calls), output captured.
    `fail_at` breaks the publish protocol: "upload" and "verify" through a FaultyStore around the
    real S3 store, "gate" by a quality floor no build reaches."""
    from leadgen.stores.blob import open_store

    for name, value in variables.items():
        env.setenv(name, value)
    store = None
    if fail_at == "gate":
        env.setenv("LEADGEN_MIN_AUC", "0.999")
    elif fail_at is not None:
        store = FaultyStore(open_store(variables["ARTIFACTS_URI"]), fail_at)
    out, err = io.StringIO(), io.StringIO()
    with running_as(build_role(os.environ)):
        code = run(stdout=out, stderr=err, store=store)
    return JobRun(code, out.getvalue(), err.getvalue())


def run_ok(env: pytest.MonkeyPatch, **variables: str) -> str:
    """A successful run; its version (names have millisecond resolution: no sleeping between
    builds to keep them in order)."""
    result = run_job(env, **variables)
    assert result.code == EXIT_OK, result.stderr
    return str(result.one("build_finished")["version"])


def assert_one_clear_line(result: JobRun, *needles: str) -> None:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def service(
    uri: str, cache: Path, table: str | None = None, identity: str | None = None, key: str = ""
) -> Driver:
    """The Lambda's core (the handler is a thin adapter over it), re-checking LATEST every call."""
    from leadgen.config import ServiceConfig
    from leadgen.duplicates.dynamo_store import DynamoDuplicateStore
    from leadgen.model.embedders import HashingEmbedder
    from leadgen.serve.service import ScoringService

    cfg = ServiceConfig(artifacts_uri=uri, cache_dir=cache, refresh_seconds=0, email_hash_key=key)
    dups = DynamoDuplicateStore(table, identity) if table else None
    svc = ScoringService(cfg, HashingEmbedder(), dups)
    assert svc.lifecycle.start()
    return Driver(svc)


def lead_with_email(email: str) -> dict[str, Any]:
    from leadgen.synthetic.crm import example_lead

    return {**example_lead(3), "email": email}

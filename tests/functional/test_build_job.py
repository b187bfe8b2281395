"""The CodeBuild job end to end against moto's server over real HTTP (S3 + DynamoDB).

What these prove: a refresh from an S3 export (one file, or a prefix of parts) publishes a new
LATEST that the scoring service picks up without a restart, and syncs the duplicate table
(customers added and removed, lead entries never touched); a failure injected at upload, checksum
verification or the quality gate leaves LATEST, the table and the running service untouched, exits
non-zero with one clear line, and a rerun succeeds; retention keeps N versions and never LATEST's;
bad exports fail by name (exit 2) or are counted in the report; SIGTERM mid-build cleans up.
Builds use the hashing embedder and ~1000-row CRMs so the whole file runs in well under a minute.
"""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from build_job.job import EXIT_CAPACITY, EXIT_GATE, EXIT_INPUT, EXIT_OK, EXIT_UNEXPECTED, run
from tests.conftest import Driver, moto_client, moto_environment
from tests.deployed import Deployment, running_as
from tests.faults import FaultyStore
from tests.synthesis import Synth

REPO = Path(__file__).resolve().parents[2]
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


# ---- fixtures and helpers ----------------------------------------------------------------------
_STACK: dict[str, Deployment] = {}


@pytest.fixture(scope="module", autouse=True)
def _deployed(synth: Synth) -> None:
    """The stack these builds run in: each run signs with the build project's role, whose
    policies (resolved for the resources the run's variables name) every call it makes is
    checked against after the test (tests/functional/conftest.py)."""
    _STACK["build"] = Deployment(synth.dev_json, {"ArtifactBucket": BUCKET})


def build_role(environ: Any) -> dict[str, str]:
    """Credentials of the build project's role, for a run configured by `environ`."""
    deployment = _STACK["build"]
    project = deployment.logical_id("AWS::CodeBuild::Project", "IndexRefreshProject")
    return deployment.as_configured(project, environ).principal(project)


@pytest.fixture(scope="module")
def s3(moto_server: str) -> Any:
    client = moto_client("s3", moto_server)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def dynamodb(moto_server: str) -> Any:
    return moto_client("dynamodb", moto_server)


@pytest.fixture(scope="module")
def crm() -> pa.Table:
    from leadgen.synthetic.crm import generate_crm

    return generate_crm(rows=ROWS, seed=11)


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread() -> Iterator[None]:
    """Tiny builds gain nothing from BLAS/OpenMP threads, and on a busy machine (CI, parallel
    jobs) spinning thread pools turn a one-second build into tens of seconds."""
    # Load every thread pool first: threadpoolctl only limits the libraries already loaded.
    import faiss  # noqa: F401
    import sklearn.ensemble
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        yield


@pytest.fixture
def job_env(monkeypatch: pytest.MonkeyPatch, moto_env: str) -> Iterator[pytest.MonkeyPatch]:
    """A clean job environment: hashing embedder, nothing inherited from the developer's shell,
    moto's variables for this test only."""
    for name in _JOB_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADGEN_EMBEDDER", "hashing")
    yield monkeypatch


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


# ---- a full refresh ---------------------------------------------------------------------------
def test_refresh_publishes_syncs_table_and_service_follows(
    job_env: pytest.MonkeyPatch, s3: Any, dynamodb: Any, crm: pa.Table, tmp_path: Path
) -> None:
    from leadgen.duplicates.dynamo_store import DynamoDuplicateStore
    from leadgen.duplicates.normalise import email_hash

    prefix, table = "refresh", new_table(dynamodb)
    lead_hash = email_hash("someone.new@example.org")
    assert lead_hash is not None
    from leadgen.duplicates.normalise import Identity
    from leadgen.duplicates.store import LeadKeys

    DynamoDuplicateStore(table).record_lead(
        LeadKeys(lead_hash), "lead-1", Identity("", ""), 3600, {}
    )

    first = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, "input/full.parquet", crm),
        ARTIFACTS_URI=artifacts(prefix),
        DUP_TABLE_NAME=table,
    )
    assert first.code == EXIT_OK, first.stderr
    assert first.stderr == ""
    v1 = first.one("build_finished")["version"]
    assert latest(s3, prefix) == v1
    assert first.steps() == [
        "read", "embedder", "embed", "holdout_quality", "fit", "index", "head", "calibrate",
        "serving_quality", "identity", "drift", "render", "write", "upload", "verify", "gate",
        "dedup_sync",
    ]  # fmt: skip
    assert all(isinstance(e["seconds"], float) for e in first.events if e["event"] == "build_step")
    # no IDENTITY_TABLE_NAME: said, not silently skipped
    assert "IDENTITY_TABLE_NAME" in first.one("identity_sync_skipped")["reason"]

    pairs = expected_pairs(crm)
    items = scan(dynamodb, table)
    customers = {h: item for h, item in items.items() if item["kind"] == "customer"}
    assert set(customers) == {h for h, _ in pairs}
    assert {customers[h]["ref"] for h, _ in pairs} == {ref for _, ref in pairs}
    assert items[lead_hash]["kind"] == "lead"

    rep = report(s3, prefix, v1)
    assert rep["duplicate_sync"]["status"] == "ok"
    assert rep["duplicate_sync"]["upserted"] == len(pairs)
    assert rep["duplicate_sync"]["removed"] == 0
    assert rep["rows"]["current_customers"] == ROWS
    assert rep["rows"]["dropped"]["not_current"] == crm.num_rows - ROWS
    assert {"read", "embed", "index", "gate"} <= set(rep["steps_seconds"])
    assert rep["indices"]["all"]["recall_at_k"] == 1.0
    assert rep["embedder"]["kind"] == "hashing"
    summary = first.one("build_finished")
    assert summary["duplicate_sync"]["upserted"] == len(pairs)
    assert summary["rows"] == rep["rows"]

    # The Lambda side: a known customer's email is a duplicate, served from version 1.
    svc = service(artifacts(prefix), tmp_path / "cache", table)
    assert svc.version() == v1
    known_hash, known_ref = pairs[0]
    emails = crm.filter(pc.field("is_current"))["email"].to_pylist()
    known_email = next(e for e in emails if e and email_hash(e) == known_hash)
    hit = svc.score(lead_with_email(known_email))[0]
    assert hit["duplicate"] is True and hit["customer_id"] == known_ref

    # Next export: 25 customers are gone (all their SCD2 rows).
    gone_ids = crm.filter(pc.field("is_current"))["customer_id"].to_pylist()[:25]
    reduced = crm.filter(pc.invert(pc.is_in(crm["customer_id"], pa.array(gone_ids))))
    gone = {h for h, _ in pairs} - {h for h, _ in expected_pairs(reduced)}
    assert gone
    second = run_job(job_env, LEADGEN_INPUT_PATH=put_parquet(s3, "input/next.parquet", reduced))
    assert second.code == EXIT_OK, second.stderr
    v2 = second.one("build_finished")["version"]
    assert v2 != v1 and latest(s3, prefix) == v2
    assert second.one("build_finished")["previous_version"] == v1

    items = scan(dynamodb, table)
    assert not gone & set(items)
    assert {h for h, i in items.items() if i["kind"] == "customer"} == {
        h for h, _ in expected_pairs(reduced)
    }
    assert items[lead_hash]["kind"] == "lead" and items[lead_hash]["ref"] == "lead-1"
    assert report(s3, prefix, v2)["duplicate_sync"]["removed"] == len(gone)

    # The running service swaps to version 2 without a restart; the removed customer is new now.
    assert svc.version() == v2
    gone_email = next(e for e in emails if e and email_hash(e) in gone)
    assert svc.score(lead_with_email(gone_email))[0]["duplicate"] is False


def test_refresh_with_the_key_secret_syncs_the_identity_table_and_fuzzy_matches(
    job_env: pytest.MonkeyPatch, s3: Any, dynamodb: Any, crm: pa.Table, tmp_path: Path,
    moto_server: str,
) -> None:  # fmt: skip
    """As deployed: the key comes from Secrets Manager by ARN, the customers' fuzzy blocks go to
    the identity table, the manifest records the key's fingerprint, and the service with the same
    key finds a customer under another email with a nickname."""
    from leadgen.duplicates.normalise import key_fingerprint
    from tests.conftest import known_person, nickname_lead

    key = "job-test-hash-key-" + uuid.uuid4().hex
    sm = moto_client("secretsmanager", moto_server)
    arn = sm.create_secret(Name=f"hash-key-{uuid.uuid4().hex[:6]}", SecretString=key)["ARN"]
    table, identity = new_table(dynamodb), new_table(dynamodb, "pk", "ident")
    run = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, "input/keyed.parquet", crm),
        ARTIFACTS_URI=artifacts("keyed"),
        DUP_TABLE_NAME=table,
        IDENTITY_TABLE_NAME=identity,
        LEADGEN_EMAIL_HASH_KEY_SECRET_ARN=arn,
    )
    assert run.code == EXIT_OK, run.stderr
    assert run.steps()[-2:] == ["dedup_sync", "identity_sync"]
    assert key not in json.dumps(run.events)
    version = run.one("build_finished")["version"]
    sync = report(s3, "keyed", version)["identity_sync"]
    assert sync["status"] == "ok" and sync["written"] == sync["blocks"] > 0
    items = scan_keys(dynamodb, identity)
    assert len(items) == sync["blocks"] and all(k.startswith("c#") for k in items)
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"{ART}/keyed/{version}/manifest.json")["Body"].read()
    )
    assert manifest["hash_key_fingerprint"] == key_fingerprint(key)

    pq.write_table(crm, tmp_path / "crm.parquet")
    person = known_person(tmp_path / "crm.parquet")
    svc = service(artifacts("keyed"), tmp_path / "cache", table, identity, key)
    hit = svc.score(nickname_lead(person))[0]
    assert hit["duplicate"] is True and hit["duplicate_match"]["kind"] == "fuzzy"
    assert hit["customer_id"] == str(person["customer_id"])


def test_an_unreadable_key_secret_is_a_named_configuration_error(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-key-AbCdEf"
    run = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, "input/nokey.parquet", crm),
        ARTIFACTS_URI=artifacts("nokey"),
        LEADGEN_EMAIL_HASH_KEY_SECRET_ARN=arn,
    )
    assert run.code == EXIT_INPUT
    assert "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN: cannot read" in run.stderr
    assert latest(s3, "nokey") is None


def scan_keys(dynamodb: Any, table: str) -> list[str]:
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk")
    return [item["pk"]["S"] for page in pages for item in page["Items"]]


def test_refresh_from_a_prefix_of_parts(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    """Parts written by a Spark/Glue-style export, with its zero-byte _SUCCESS marker."""
    third = crm.num_rows // 3
    for i, start in enumerate((0, third, 2 * third)):
        length = third if i < 2 else crm.num_rows - start
        put_parquet(s3, f"input/parts/part-{i:05d}.parquet", crm.slice(start, length))
    s3.put_object(Bucket=BUCKET, Key="input/parts/_SUCCESS", Body=b"")

    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=f"s3://{BUCKET}/input/parts/",
        ARTIFACTS_URI=artifacts("parts"),
    )
    assert result.code == EXIT_OK, result.stderr
    version = result.one("build_finished")["version"]
    assert latest(s3, "parts") == version
    rows = report(s3, "parts", version)["rows"]
    assert rows["read"] == crm.num_rows and rows["current_customers"] == ROWS
    # No DUP_TABLE_NAME: the job says so (a warning line) rather than silently skipping.
    skipped = result.one("dedup_sync_skipped")
    assert skipped["level"] == "WARNING" and "DUP_TABLE_NAME" in skipped["reason"]


# ---- failures leave LATEST alone ----------------------------------------------------------------
@pytest.fixture(scope="module")
def published(s3: Any, dynamodb: Any, crm: pa.Table, moto_server: str) -> dict[str, str]:
    """A prefix with one good version and a synced table, for the failure tests to try to break."""
    prefix, table = "failures", new_table(dynamodb)
    with moto_environment(moto_server), pytest.MonkeyPatch.context() as mp:
        for name in _JOB_VARS:
            mp.delenv(name, raising=False)
        result = run_job(
            mp,
            LEADGEN_EMBEDDER="hashing",
            LEADGEN_INPUT_PATH=put_parquet(s3, "input/failures.parquet", crm),
            ARTIFACTS_URI=artifacts(prefix),
            DUP_TABLE_NAME=table,
        )
    assert result.code == EXIT_OK, result.stderr
    return {"prefix": prefix, "table": table, "version": result.one("build_finished")["version"]}


def own_copy(s3: Any, published: dict[str, str]) -> str:
    """A private copy of the published prefix (server-side copies): a test that moves LATEST or
    leaves a version behind does it in its own prefix, whatever ran before it."""
    prefix = f"{published['prefix']}-{uuid.uuid4().hex[:8]}"
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"{ART}/{published['prefix']}/"
    )
    for page in pages:
        for obj in page.get("Contents", []):
            key = f"{ART}/{prefix}" + obj["Key"][len(ART) + 1 + len(published["prefix"]) :]
            s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": obj["Key"]})
    assert latest(s3, prefix) == published["version"]
    return prefix


@pytest.mark.parametrize(
    ("step", "code", "reason"),
    [
        ("upload", EXIT_UNEXPECTED, "injected failure during upload"),
        ("verify", EXIT_UNEXPECTED, "checksum mismatch"),
        ("gate", EXIT_GATE, "quality gate"),
    ],
)
def test_failure_at_each_publish_step_leaves_latest_table_and_service(
    job_env: pytest.MonkeyPatch,
    s3: Any,
    dynamodb: Any,
    published: dict[str, str],
    tmp_path: Path,
    step: str,
    code: int,
    reason: str,
) -> None:
    prefix, good = own_copy(s3, published), published["version"]
    svc = service(artifacts(prefix), tmp_path / "cache")
    table_before = scan(dynamodb, published["table"])

    result = run_job(
        job_env,
        fail_at=step,
        LEADGEN_INPUT_PATH=f"s3://{BUCKET}/input/failures.parquet",
        ARTIFACTS_URI=artifacts(prefix),
        DUP_TABLE_NAME=published["table"],
    )
    assert result.code == code
    assert_one_clear_line(result, reason, f"during {step}", f"LATEST unchanged ({good})")
    failed = result.one("build_failed")
    assert failed["step"] == step and failed["exit_code"] == code and "traceback" not in failed
    assert not [e for e in result.events if e["event"] == "build_finished"]

    assert latest(s3, prefix) == good
    assert good in version_dirs(s3, prefix)
    # The failed version was removed, so no half-built directory is left behind.
    assert [v for v in version_dirs(s3, prefix) if v > good] == []
    assert scan(dynamodb, published["table"]) == table_before  # not synced
    assert svc.version() == good


def test_rerun_after_failures_succeeds(
    job_env: pytest.MonkeyPatch, s3: Any, published: dict[str, str]
) -> None:
    prefix = own_copy(s3, published)
    # An interrupted build that got killed mid-upload (no cleanup): leftovers must not matter.
    s3.put_object(
        Bucket=BUCKET, Key=f"{ART}/{prefix}/20000101T000000Z-abcdef/ids_all.npy", Body=b"x"
    )
    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=f"s3://{BUCKET}/input/failures.parquet",
        ARTIFACTS_URI=artifacts(prefix),
        DUP_TABLE_NAME=published["table"],
    )
    assert result.code == EXIT_OK, result.stderr
    new = result.one("build_finished")["version"]
    assert new != published["version"] and latest(s3, prefix) == new


def test_retention_keeps_n_versions_and_never_latest(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    prefix = "retention"
    env = {
        "LEADGEN_INPUT_PATH": put_parquet(s3, "input/retention.parquet", crm),
        "ARTIFACTS_URI": artifacts(prefix),
        "LEADGEN_KEEP_VERSIONS": "1",
    }
    v1 = run_ok(job_env, **env)
    v2 = run_ok(job_env, **env)
    assert version_dirs(s3, prefix) == [v2] and latest(s3, prefix) == v2
    # A stray directory whose name sorts after any real build (clock skew, a manual copy): with
    # keep=1 it is "the newest", yet the version LATEST names must survive pruning.
    stray = "29991231T235959Z-ffffff"
    s3.put_object(Bucket=BUCKET, Key=f"{ART}/{prefix}/{stray}/manifest.json", Body=b"{}")
    v3 = run_ok(job_env, **env)
    assert latest(s3, prefix) == v3
    assert v3 in version_dirs(s3, prefix)
    assert v1 not in version_dirs(s3, prefix) and v2 not in version_dirs(s3, prefix)


@pytest.mark.parametrize(
    ("step", "variable", "value", "key", "cause", "said"),
    [
        ("sync", "DUP_TABLE_NAME", "no-such-table", "duplicate_sync",
         "ResourceNotFoundException", "re-syncs"),
        ("rollout", "LEADGEN_FUNCTION_NAME", "no-such-function", "rollout",
         "no-such-function", "function roll-out failed"),
    ],
)  # fmt: skip
def test_a_step_after_publish_failing_is_reported_not_hidden(
    job_env: pytest.MonkeyPatch,
    s3: Any,
    crm: pa.Table,
    step: str,
    variable: str,
    value: str,
    key: str,
    cause: str,
    said: str,
) -> None:
    """LATEST has moved when the roll-out and the sync run: the job says so, records it in the
    report, and exits 1."""
    prefix = f"{step}-fails"
    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, f"input/{prefix}.parquet", crm),
        ARTIFACTS_URI=artifacts(prefix),
        **{variable: value},
    )
    assert result.code == EXIT_UNEXPECTED
    version = latest(s3, prefix)
    assert version is not None
    assert_one_clear_line(result, f"published {version} (LATEST moved)", cause, said)
    assert result.one("build_failed")["published"] == version
    recorded = report(s3, prefix, version)[key]
    assert recorded["status"] == "failed" and cause in recorded["error"]


# ---- the scoring function follows, and a version it cannot hold is refused ---------------------
@pytest.fixture(scope="module")
def lambda_fn(moto_server: str) -> Any:
    """The scoring function as `cdk deploy` leaves it in moto: an image function whose template
    environment pins nothing, one version published by the stack, alias `live` on it."""
    iam = moto_client("iam", moto_server)
    lam = moto_client("lambda", moto_server)
    role = iam.create_role(RoleName="leadgen-scoring", AssumeRolePolicyDocument="{}")["Role"]
    name = f"leadgen-scoring-{uuid.uuid4().hex[:6]}"
    lam.create_function(
        FunctionName=name,
        Role=role["Arn"],
        PackageType="Image",
        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/leadgen:stack"},
        Environment={"Variables": {"ARTIFACTS_URI": "s3://x/artifacts", "REFRESH_SECONDS": "300"}},
        MemorySize=3008,
        EphemeralStorage={"Size": 2048},
    )
    stack_version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=stack_version)
    return lam, name, stack_version


def _alias_env(lam: Any, name: str) -> tuple[str, dict[str, str]]:
    version = lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
    config = lam.get_function_configuration(FunctionName=name, Qualifier=version)
    return version, config["Environment"]["Variables"]


def test_each_build_rolls_the_function_out_to_a_version_pinned_to_it(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, lambda_fn: Any
) -> None:
    lam, name, stack_version = lambda_fn
    uri = put_parquet(s3, "input/rollout.parquet", crm)
    pins = []
    for _ in range(2):
        version = run_ok(
            job_env, LEADGEN_INPUT_PATH=uri, ARTIFACTS_URI=artifacts("rollout"),
            LEADGEN_FUNCTION_NAME=name,
        )  # fmt: skip
        key = f"{ART}/rollout/LATEST"
        pointer = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        fn_version, env = _alias_env(lam, name)
        assert env["LEADGEN_ARTIFACT_PIN"] == f"{version}@{pointer['manifest_sha256']}"
        assert env["ARTIFACTS_URI"] == "s3://x/artifacts"  # the stack's variables are kept
        rollout = report(s3, "rollout", version)["rollout"]
        assert rollout["status"] == "ok" and rollout["function_version"] == fn_version
        assert rollout["previous_version"] == (pins[-1][0] if pins else stack_version)
        pins.append((fn_version, env["LEADGEN_ARTIFACT_PIN"]))
    assert len({v for v, _ in pins}) == 2 and stack_version not in {v for v, _ in pins}
    # the stack's own version is untouched: it still follows LATEST
    stack_env = lam.get_function_configuration(FunctionName=name, Qualifier=stack_version)
    assert "LEADGEN_ARTIFACT_PIN" not in stack_env["Environment"]["Variables"]


@pytest.mark.parametrize(
    ("memory", "tmp", "short"), [("256", "2048", "memory"), ("3008", "1", "/tmp")]
)
def test_a_version_too_big_for_the_function_is_refused_before_latest_moves(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, memory: str, tmp: str, short: str
) -> None:
    prefix = f"too-big-{short.strip('/')}"
    uri = put_parquet(s3, f"input/{prefix}.parquet", crm)
    previous = run_ok(job_env, LEADGEN_INPUT_PATH=uri, ARTIFACTS_URI=artifacts(prefix))
    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=uri,
        ARTIFACTS_URI=artifacts(prefix),
        LEADGEN_FUNCTION_MEMORY_MB=memory,
        LEADGEN_FUNCTION_TMP_MB=tmp,
    )
    assert result.code == EXIT_CAPACITY
    assert_one_clear_line(
        result, f"needs {short}", "not publishing", f"LATEST unchanged ({previous})"
    )
    assert latest(s3, prefix) == previous and version_dirs(s3, prefix) == [previous]
    # the report of a published build says what serving it needs
    needs = report(s3, prefix, previous)["serving_requirements"]
    assert needs["memory_mb"] > 256 and needs["tmp_mb"] >= 1 and needs["expected_cold_start_s"] > 0


# ---- bad input -------------------------------------------------------------------------------
def _empty_object(s3: Any) -> str:
    s3.put_object(Bucket=BUCKET, Key="input/bad/empty.parquet", Body=b"")
    return f"s3://{BUCKET}/input/bad/empty.parquet"


def _no_rows(s3: Any, crm: pa.Table) -> str:
    return put_parquet(s3, "input/bad/no-rows.parquet", crm.slice(0, 0))


def _empty_part(s3: Any, crm: pa.Table) -> str:
    put_parquet(s3, "input/bad/parts/part-0.parquet", crm)
    s3.put_object(Bucket=BUCKET, Key="input/bad/parts/part-1.parquet", Body=b"")
    return f"s3://{BUCKET}/input/bad/parts/"


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing", ["bad/missing.parquet", "not found"]),
        ("empty", ["bad/empty.parquet", "empty file (0 bytes)"]),
        ("empty_part", ["bad/parts/part-1.parquet", "empty file (0 bytes)"]),
        ("no_rows", ["no rows"]),
        ("missing_column", ["'annual_revenue'", "not found"]),
        ("no_input", ["LEADGEN_INPUT_PATH is not set"]),
        ("bad_keep", ["LEADGEN_KEEP_VERSIONS must be an integer"]),
        ("bad_embedder", ["embedder must be"]),
    ],
)
def test_bad_input_is_a_named_failure(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, case: str, needles: list[str]
) -> None:
    good = f"s3://{BUCKET}/input/full.parquet"
    put_parquet(s3, "input/full.parquet", crm)
    env = {"LEADGEN_INPUT_PATH": good, "ARTIFACTS_URI": artifacts("bad-input")}
    if case == "missing":
        env["LEADGEN_INPUT_PATH"] = f"s3://{BUCKET}/input/bad/missing.parquet"
    elif case == "empty":
        env["LEADGEN_INPUT_PATH"] = _empty_object(s3)
    elif case == "empty_part":
        env["LEADGEN_INPUT_PATH"] = _empty_part(s3, crm)
    elif case == "no_rows":
        env["LEADGEN_INPUT_PATH"] = _no_rows(s3, crm)
    elif case == "missing_column":
        env["LEADGEN_NUM_COLS"] = "company_size,annual_revenue"
    elif case == "no_input":
        del env["LEADGEN_INPUT_PATH"]
    elif case == "bad_keep":
        env["LEADGEN_KEEP_VERSIONS"] = "five"
    elif case == "bad_embedder":
        env["LEADGEN_EMBEDDER"] = "bert"
    result = run_job(job_env, **env)
    assert result.code == EXIT_INPUT
    assert_one_clear_line(result, *needles)
    assert result.one("build_failed")["exit_code"] == EXIT_INPUT
    assert latest(s3, "bad-input") is None and version_dirs(s3, "bad-input") == []


def test_duplicate_ids_and_non_numeric_values_are_counted_not_fatal(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    current = crm.filter(pc.field("is_current"))
    repeats = current.slice(0, 15)  # the same customer ids exported twice
    sizes = pc.cast(crm["company_size"], pa.string()).to_pylist()
    junk = [i for i, cur in enumerate(crm["is_current"].to_pylist()) if cur][:7]
    for i in junk:
        sizes[i] = "n/a" if i % 2 else "12 employees"
    messy = crm.set_column(
        crm.schema.get_field_index("company_size"), "company_size", pa.array(sizes, pa.string())
    )
    repeats = repeats.set_column(
        repeats.schema.get_field_index("company_size"),
        "company_size",
        pc.cast(repeats["company_size"], pa.string()),
    )
    messy = pa.concat_tables([messy, repeats])
    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, "input/messy.parquet", messy),
        ARTIFACTS_URI=artifacts("messy"),
    )
    assert result.code == EXIT_OK, result.stderr
    dropped = result.one("build_finished")["rows"]["dropped"]
    assert dropped["duplicate_id"] == 15
    assert dropped["non_numeric_values"] == 7
    version = result.one("build_finished")["version"]
    assert report(s3, "messy", version)["rows"]["dropped"] == dropped
    assert report(s3, "messy", version)["rows"]["current_customers"] == ROWS


# ---- the real entry point: `python -m build_job` -------------------------------------------------
def _subprocess_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _JOB_VARS}
    env.update({"LEADGEN_EMBEDDER": "hashing", "PYTHONPATH": str(REPO), **variables})
    env.update({name: "1" for name in _THREAD_VARS})
    env.update(build_role(env))
    return env


def test_drift_is_logged_and_put_as_cloudwatch_metrics(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, moto_server: str, tmp_path: Path
) -> None:
    """A first version puts nothing; the next, on an export whose company sizes tripled, logs
    its drift and puts the three figures, read back from CloudWatch (moto, over HTTP). Its
    report.html is what `leadgen report s3://...` downloads."""
    from datetime import UTC, datetime, timedelta

    from leadgen.names import METRICS_NAMESPACE, SERVICE_NAME, Metric
    from leadgen.stores.artifacts import report_path
    from leadgen.stores.blob import open_store

    prefix = f"drift-{uuid.uuid4().hex[:6]}"
    first = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, f"input/{prefix}-1.parquet", crm),
        ARTIFACTS_URI=artifacts(prefix),
    )
    assert first.code == EXIT_OK, first.stderr
    assert first.one("drift")["first_version"] is True
    v1 = first.one("build_finished")["version"]
    assert report(s3, prefix, v1)["drift_metrics"] == {"status": "put", "values": {}}

    size = crm.schema.get_field_index("company_size")
    bigger = crm.set_column(
        size, "company_size", pc.multiply(crm["company_size"], 3).cast(crm.schema.field(size).type)
    )
    since = datetime.now(UTC) - timedelta(seconds=1)
    second = run_job(
        job_env, LEADGEN_INPUT_PATH=put_parquet(s3, f"input/{prefix}-2.parquet", bigger)
    )
    assert second.code == EXIT_OK, second.stderr
    logged = second.one("drift")
    assert logged["previous_version"] == v1 and logged["max_psi_column"] == "company_size"
    v2 = second.one("build_finished")["version"]
    rep = report(s3, prefix, v2)
    put = rep["drift_metrics"]["values"]
    assert put[Metric.DRIFT_MAX_PSI] == rep["drift"]["max_psi"] == logged["max_psi"] > 0.25
    assert put[Metric.DRIFT_LABEL_RATE_CHANGE] == rep["drift"]["label_rate"]["change"]
    assert put[Metric.DRIFT_SCORE_SHIFT] == rep["drift"]["score"]["psi"]

    cloudwatch = moto_client("cloudwatch", moto_server)
    for name, value in put.items():
        stats = cloudwatch.get_metric_statistics(
            Namespace=METRICS_NAMESPACE,
            MetricName=name,
            Dimensions=[{"Name": "service", "Value": SERVICE_NAME}],
            StartTime=since,
            EndTime=datetime.now(UTC) + timedelta(seconds=1),
            Period=60,
            Statistics=["Maximum", "SampleCount"],
        )["Datapoints"]
        assert [(p["SampleCount"], p["Maximum"]) for p in stats] == [(1.0, value)], name

    page = report_path(open_store(artifacts(prefix)), None, tmp_path / "cache")
    assert page == tmp_path / "cache" / v2 / "report.html"
    stored = s3.get_object(Bucket=BUCKET, Key=f"{ART}/{prefix}/{v2}/report.html")["Body"].read()
    assert page.read_bytes() == stored and b"Drift since" in stored


def test_a_failed_metric_put_warns_and_the_version_stays_published(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    """CloudWatch refusing connections after LATEST moved: a warning line and the report say
    so; the build still succeeds (the version is published and the tables synced)."""
    from tests.conftest import refused_endpoint

    prefix = f"drift-down-{uuid.uuid4().hex[:6]}"
    env = {
        "LEADGEN_INPUT_PATH": put_parquet(s3, f"input/{prefix}.parquet", crm),
        "ARTIFACTS_URI": artifacts(prefix),
    }
    v1 = run_ok(job_env, **env)
    with refused_endpoint() as dead:
        job_env.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", dead)
        job_env.setenv("AWS_MAX_ATTEMPTS", "1")
        second = run_job(job_env, **env)
    assert second.code == EXIT_OK, second.stderr
    v2 = second.one("build_finished")["version"]
    assert latest(s3, prefix) == v2 != v1
    warning = second.one("drift_metrics_failed")
    assert warning["level"] == "WARNING" and "Could not connect" in warning["error"]
    assert report(s3, prefix, v2)["drift_metrics"]["status"] == "failed"
    assert second.one("drift")["previous_version"] == v1


def test_module_entry_point_gate_refusal_exits_3(moto_env: str, s3: Any, crm: pa.Table) -> None:
    uri = put_parquet(s3, "input/gate.parquet", crm)
    proc = subprocess.run(
        [sys.executable, "-m", "build_job"],
        env=_subprocess_env(
            LEADGEN_INPUT_PATH=uri, ARTIFACTS_URI=artifacts("gate"), LEADGEN_MIN_AUC="0.999"
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = JobRun(proc.returncode, proc.stdout, proc.stderr)
    assert result.code == EXIT_GATE
    assert_one_clear_line(result, "quality gate", "AUC", "LATEST unchanged (unset)")
    assert latest(s3, "gate") is None and version_dirs(s3, "gate") == []


def test_a_lift_below_its_floor_exits_3_and_leaves_latest(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table
) -> None:
    """LEADGEN_MIN_LIFT as the stack sets it: a floor the holdout's lift@10% cannot reach (the
    AUC floor is met) refuses the build like the AUC floor does."""
    result = run_job(
        job_env,
        LEADGEN_INPUT_PATH=put_parquet(s3, "input/lift.parquet", crm),
        ARTIFACTS_URI=artifacts("lift"),
        LEADGEN_MIN_LIFT="1000",
    )
    assert result.code == EXIT_GATE
    assert_one_clear_line(result, "quality gate", "lift@10%", "below the floor 1000.00")
    assert result.one("build_failed")["step"] == "gate"
    assert latest(s3, "lift") is None and version_dirs(s3, "lift") == []


def test_module_entry_point_sigterm_mid_build_cleans_up(
    moto_env: str, s3: Any, crm: pa.Table
) -> None:
    uri = put_parquet(s3, "input/sigterm.parquet", crm)
    proc = subprocess.Popen(
        [sys.executable, "-m", "build_job"],
        env=_subprocess_env(LEADGEN_INPUT_PATH=uri, ARTIFACTS_URI=artifacts("sigterm")),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        while True:
            line = out.next(deadline=time.monotonic() + 60)
            assert line is not None, f"the build ended before the holdout step: {out.lines}"
            event = json.loads(line)
            if event["event"] == "build_step_start" and event["step"] == "holdout_quality":
                proc.send_signal(signal.SIGTERM)
                break
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()  # a hung child must not outlive the test
    deadline = time.monotonic() + 30
    result = JobRun(proc.returncode, out.rest(deadline), err.rest(deadline))
    assert result.code == EXIT_UNEXPECTED
    assert_one_clear_line(result, "interrupted (signal SIGTERM)", "LATEST unchanged (unset)")
    assert latest(s3, "sigterm") is None and version_dirs(s3, "sigterm") == []


class Lines:
    """A child's output lines, read by a thread: a deadline then holds even while the child
    prints nothing (`for line in proc.stdout` blocks until the next line or EOF, and a deadline
    checked between lines is never reached)."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def next(self, deadline: float) -> str | None:
        """The next line, None at EOF; fails the test at the deadline."""
        try:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no output line before the deadline; so far: {self.lines[-5:]}")
        if line is not None:
            self.lines.append(line)
        return line

    def rest(self, deadline: float) -> str:
        """Every line, up to EOF."""
        while self.next(deadline) is not None:
            pass
        return "".join(self.lines)


def test_buildspec_runs_the_job_from_the_task_root() -> None:
    """CodeBuild bypasses the image's entrypoint and starts outside the code directory."""
    import yaml  # pinned in requirements-dev.txt: a missing PyYAML fails here, never skips

    spec = yaml.safe_load((REPO / "build_job" / "buildspec.yml").read_text())
    assert str(spec["version"]) == "0.2"
    commands = spec["phases"]["build"]["commands"]
    assert commands == ['cd "${LAMBDA_TASK_ROOT:-/var/task}"', "python -m build_job"]
    # the build-only packages (lambda_src/Dockerfile), never on the serving function's path
    assert spec["env"]["variables"]["PYTHONPATH"] == "/opt/build-python"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADGEN_KEEP_VERSIONS", "-1"),
        ("LEADGEN_EMBEDDER", "bert"),
        ("LEADGEN_MODEL_DIR", "/nonexistent/model"),
        ("LEADGEN_NUM_COLS", "company_size,no_such_column"),
    ],
)
def test_a_config_error_never_claims_latest_moved(
    job_env: pytest.MonkeyPatch, s3: Any, crm: pa.Table, variable: str, value: str
) -> None:
    """With a version already published, a run refused for its configuration must say LATEST
    is as it was, never "LATEST is now V (was unset)"."""
    prefix = f"config-error-{uuid.uuid4().hex[:6]}"
    env = {
        "LEADGEN_INPUT_PATH": put_parquet(s3, "input/config-error.parquet", crm),
        "ARTIFACTS_URI": artifacts(prefix),
    }
    published = run_ok(job_env, **env)
    if variable == "LEADGEN_MODEL_DIR":
        env["LEADGEN_EMBEDDER"] = "onnx"
    result = run_job(job_env, **env, **{variable: value})
    assert result.code != EXIT_OK, result.stderr
    line = result.stderr.strip()
    assert "is now" not in line and "was unset" not in line, line
    assert "untouched" in line or f"unchanged ({published})" in line, line
    assert latest(s3, prefix) == published

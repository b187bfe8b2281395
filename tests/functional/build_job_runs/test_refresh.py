"""A refresh publishes a new LATEST the scoring service follows and syncs the duplicate and
identity tables (a file or a prefix of parts, the hash key from its secret).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from build_job.job import EXIT_INPUT, EXIT_OK
from tests.conftest import moto_client
from tests.functional.build_job_runs.harness import (
    ART,
    BUCKET,
    ROWS,
    artifacts,
    expected_pairs,
    latest,
    lead_with_email,
    new_table,
    put_parquet,
    report,
    run_job,
    scan,
    service,
)


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
    # the stack's build reads the score log: outcomes, then the challenger gate
    assert first.steps() == [
        "read", "embedder", "embed", "holdout_quality", "fit", "index", "head", "calibrate",
        "serving_quality", "identity", "outcomes", "drift", "challenger", "render", "write",
        "upload", "verify", "gate", "dedup_sync",
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

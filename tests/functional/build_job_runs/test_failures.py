"""A failure at any publish step leaves LATEST, the tables and the running service as they were;
a rerun succeeds; retention keeps N complete versions and never LATEST's.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from build_job.job import EXIT_GATE, EXIT_OK, EXIT_UNEXPECTED
from tests.conftest import moto_environment
from tests.functional.build_job_runs.harness import (
    _JOB_VARS,
    ART,
    BUCKET,
    artifacts,
    assert_one_clear_line,
    latest,
    new_table,
    put_parquet,
    report,
    run_job,
    run_ok,
    scan,
    service,
    version_dirs,
)


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

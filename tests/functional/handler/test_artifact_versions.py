"""Which artifact version the handler serves: refreshes off the request path, pins, refused
versions, and the cold-start failures (no artifacts, a corrupted LATEST, a misconfiguration).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leadgen.stores.artifacts import LATEST, read_pointer, set_latest
from leadgen.stores.blob import open_store
from tests.faults import flip_byte
from tests.functional.handler.harness import (
    BUCKET,
    LEAD,
    Aws,
    Lambda,
    _json_lines,
    _metrics_of,
    _new_email,
    _publish_local_version,
)


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
    """Not 503 on every route: an intact older version is there, and it serves."""
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

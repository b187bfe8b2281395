"""A refresh at 100k customers through the Lambda handler, against moto's server: the request that
notices a new LATEST is not the one that pays for it.

moto's server runs in its own process here (the download competes with the handler for cores, as
in AWS, not for this process's GIL). The version is built once with the hashing embedder (the
index is what a refresh moves: compact HNSW, as shipped); the "new" version is the same files
under a new name, which is all a refresh can tell apart. Steady p99 and p99 during the refresh are
printed (`-s`) and measured on the real model by `python -m bench.refresh_bench`
(bench/REFRESH.md); what is asserted is the behaviour: every request answered, by the old version
until the new one is loaded and verified, and none of them taking anything like the load.
"""

from __future__ import annotations

import importlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.serve.server import http_v2_event
from tests.conftest import SAMPLE_LEAD, build_config, quiet_build

ROWS = 100_000
BUCKET = "leadgen-refresh-test"


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def big_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from leadgen.synthetic.crm import generate_crm, write_crm

    work = tmp_path_factory.mktemp("refresh-100k")
    write_crm(generate_crm(rows=ROWS, seed=5), work / "crm.parquet")
    quiet_build(build_config(work / "crm.parquet", work / "artifacts"))
    return work / "artifacts"


def _aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_S3": endpoint,
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)


def _upload_with_a_renamed_copy(local: Path) -> tuple[str, str, bytes]:
    """Upload LATEST's version to s3://BUCKET/big, and the same files under a new name (manifest
    re-sealed); returns (old version, new version, the LATEST body naming the new one)."""
    import dataclasses

    import boto3

    from leadgen.model.bundle import MANIFEST, Manifest
    from leadgen.model.checksums import sha256_bytes
    from leadgen.stores.artifacts import (
        Pointer,
        new_version_name,
        read_pointer,
        set_latest,
        upload_version,
    )
    from leadgen.stores.blob import LocalStore, S3Store

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    old = read_pointer(LocalStore(local))
    store = S3Store(BUCKET, "big")
    upload_version(store, local / old.version, old.version)
    set_latest(store, old.version, old.manifest_sha256)
    new = new_version_name(salt="renamed")
    manifest = Manifest.from_bytes((local / old.version / MANIFEST).read_bytes(), MANIFEST)
    upload_version(store, local / old.version, new)  # same files ...
    raw = dataclasses.replace(manifest, version=new).to_bytes()
    store.write_bytes(f"{new}/{MANIFEST}", raw)  # ... under a manifest of the new name
    return old.version, new, Pointer(new, sha256_bytes(raw)).to_bytes()


def _call(module: Any, body: dict[str, Any]) -> tuple[float, int, str]:
    event = http_v2_event("POST", "/score_lead", {"content-type": "application/json"},
                          json.dumps(body).encode())  # fmt: skip
    t = time.perf_counter()
    resp = module.handler(event, _Context())
    ms = 1000 * (time.perf_counter() - t)
    answer = json.loads(resp["body"])
    return ms, int(resp["statusCode"]), str(answer.get("artifact_version"))


def _cold_start() -> Any:
    """Import the handler afresh: its init loads the version LATEST names."""
    if "lambda_src.handler" in sys.modules:
        sys.modules["lambda_src.handler"].metrics.clear_metrics()
        return importlib.reload(sys.modules["lambda_src.handler"])
    return importlib.import_module("lambda_src.handler")


class _Context:
    function_name = "leadgen-scoring"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:leadgen-scoring:live"
    aws_request_id = "refresh-test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def test_a_refresh_at_100k_keeps_answering_from_the_loaded_version(
    monkeypatch: pytest.MonkeyPatch,
    moto_process: str,
    big_artifacts: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _aws_env(monkeypatch, moto_process)
    old, new, latest_body = _upload_with_a_renamed_copy(big_artifacts)
    for key, value in {
        "ARTIFACTS_URI": f"s3://{BUCKET}/big", "LEADGEN_EMBEDDER": "hashing",
        "LEADGEN_CACHE_DIR": str(tmp_path / "lambda-tmp"), "REFRESH_SECONDS": "0",
        "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Leadgen",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    for key in ("DUP_TABLE_NAME", "LEADGEN_MODEL_DIR", "LEADGEN_ARTIFACT_PIN"):
        monkeypatch.delenv(key, raising=False)
    module = _cold_start()
    lead = dict(SAMPLE_LEAD)

    steady = [_call(module, lead) for _ in range(200)]
    assert {(status, version) for _, status, version in steady} == {(200, old)}

    import boto3

    boto3.client("s3").put_object(Bucket=BUCKET, Key="big/LATEST", Body=latest_body)
    t0 = time.perf_counter()
    during: list[tuple[float, int, str]] = []
    while not during or during[-1][2] != new:
        during.append(_call(module, lead))
        assert time.perf_counter() - t0 < 300, "the new version was not served within 5 minutes"
    refresh_ms = 1000 * (time.perf_counter() - t0)
    after = [_call(module, lead) for _ in range(200)]
    assert module.runtime.service.lifecycle.wait_refresh(60)  # nothing left running at teardown

    assert all(status == 200 for _, status, _ in during + after)
    versions = [v for _, _, v in during]
    assert versions == [old] * (len(versions) - 1) + [new]  # old until the swap, then new
    assert {v for _, _, v in after} == {new}
    waits = [ms for ms, _, _ in during]
    # The refresh (download, verification, load of ~50 MB) took refresh_ms; a request that had
    # waited for it would show it. None comes close.
    assert len(waits) >= 3 and max(waits) < refresh_ms / 3, (max(waits), refresh_ms)
    p99 = {
        name: float(np.percentile([ms for ms, _, _ in calls], 99))
        for name, calls in (("steady", steady), ("during", during), ("after", after))
    }
    with capsys.disabled():
        print(
            f"\nrefresh at {ROWS:,} customers: {refresh_ms:.0f} ms, {len(during)} requests "
            f"meanwhile; p99 steady {p99['steady']:.1f} ms, during {p99['during']:.1f} ms "
            f"(max {max(waits):.1f}), after {p99['after']:.1f} ms"
        )

"""A refresh at 12k customers through the Lambda handler, against moto's server: the request that
notices a new LATEST is not the one that pays for it. (12k with the ANN threshold lowered, so the
indices are compact HNSW as shipped at scale, while the build fits in the suite's time; 100k and
1M are bench/REFRESH.md's.)

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
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.refresh_bench import BUCKET, moto_server, renamed_copy, upload
from leadgen.serve.server import http_v2_event
from tests.conftest import SAMPLE_LEAD, build_config, quiet_build

ROWS = 12_000


@pytest.fixture(scope="module")
def moto_process() -> Iterator[dict[str, str]]:
    """moto's server in its own process, the AWS variables pointing at it meanwhile."""
    with moto_server() as env:
        yield env


@pytest.fixture(scope="module")
def big_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from leadgen.synthetic.crm import generate_crm, write_crm

    work = tmp_path_factory.mktemp("refresh-100k")
    write_crm(generate_crm(rows=ROWS, seed=5), work / "crm.parquet")
    quiet_build(build_config(work / "crm.parquet", work / "artifacts", ann_threshold=4_000))
    return work / "artifacts"


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


def test_a_refresh_keeps_answering_from_the_loaded_version(
    monkeypatch: pytest.MonkeyPatch,
    moto_process: dict[str, str],
    big_artifacts: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, _ = upload(str(big_artifacts), "big")
    new, _, latest_body = renamed_copy("big", old)
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
    # The refresh (download, verification, load) took refresh_ms; a request that had
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

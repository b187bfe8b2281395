"""The Lambda runtime contract: the handler served by awslambdaric under the Runtime Interface
Emulator (RIE), invoked over HTTP the way the Lambda service (and `sam local`) does.

This is what runs in the container image: the base image's entrypoint starts the RIE locally (or
the real Lambda runtime API in AWS) and awslambdaric imports `lambda_src.handler.handler`. The RIE
binary comes from the aws-sam-cli wheel (lambda_src/fetch_rie.sh, run by `make install-dev`).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leadgen.serve.server import http_v2_event
from tests.conftest import SAMPLE_LEAD, free_port

REPO = Path(__file__).resolve().parents[2]
RIE = Path(os.environ.get("LEADGEN_RIE") or REPO / ".cache" / "rie" / "aws-lambda-rie")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
LEAD = SAMPLE_LEAD


@dataclass
class Emulated:
    url: str
    started: float  # perf_counter() just before the RIE process was started
    log: Path
    proc: subprocess.Popen[bytes]


def _wait_for_port(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float, retry: bool
) -> bool:
    """True once the RIE listens; False if it exited because a port was taken (and `retry`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text()
            if retry and "address already in use" in text:
                return False
            pytest.fail(f"the RIE exited with {proc.returncode}:\n{text[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.02)
    pytest.fail(f"the RIE did not listen on {port} within {timeout}s")


@pytest.fixture
def emulated(hashing_artifacts: Path, tmp_path: Path) -> Iterator[Emulated]:
    if not os.access(RIE, os.X_OK):
        pytest.fail(
            f"{RIE} is missing: run `bash lambda_src/fetch_rie.sh` (part of `make install-dev`) "
            f"or point LEADGEN_RIE at an aws-lambda-rie-{platform.machine()} binary"
        )
    log = tmp_path / "rie.log"
    # A clean environment: what the function configuration would set, nothing from the test
    # process (no moto endpoints, no credentials).
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PYTHONPATH": str(REPO),
        "ARTIFACTS_URI": str(hashing_artifacts),
        "LEADGEN_EMBEDDER": "hashing",
        "LEADGEN_CACHE_DIR": str(tmp_path / "cache"),
        "REFRESH_SECONDS": "300",
        "POWERTOOLS_METRICS_NAMESPACE": "Leadgen",
        "AWS_LAMBDA_FUNCTION_NAME": "leadgen-scoring",
        "AWS_REGION": "us-east-1",
    }
    for attempt in range(3):
        # The RIE takes ports, not port 0: pick two free ones; should another process take one
        # before the RIE binds it, it exits at once and the next attempt picks others.
        port, api_port = free_port(), free_port()
        with log.open("wb") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(
                _rie_command(port, api_port), cwd=REPO, env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            if _wait_for_port(port, proc, log, timeout=30, retry=attempt < 2):
                yield Emulated(f"http://127.0.0.1:{port}{INVOKE_PATH}", started, log, proc)
                return
        finally:
            _stop(proc)
    pytest.fail("the RIE could not bind its ports")


def _rie_command(port: int, api_port: int) -> list[str]:
    return [
        str(RIE),
        *("--runtime-interface-emulator-address", f"127.0.0.1:{port}"),
        *("--runtime-api-address", f"127.0.0.1:{api_port}"),
        *(sys.executable, "-m", "awslambdaric", "lambda_src.handler.handler"),
    ]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the RIE and its runtime child, only ours
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _invoke(url: str, event: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        out: dict[str, Any] = json.loads(resp.read())
    return out


def _event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    raw = None if body is None else json.dumps(body).encode()
    return http_v2_event(method, path, {"content-type": "application/json"}, raw)


def test_the_handler_answers_under_the_runtime_interface_emulator(emulated: Emulated) -> None:
    health_event = _event("GET", "/health")
    health = _invoke(emulated.url, health_event)
    cold = time.perf_counter() - emulated.started
    assert health["statusCode"] == 200, health
    body = json.loads(health["body"])
    assert body["status"] == "ok" and body["embedder"]["kind"] == "hashing"

    score_event = _event("POST", "/score_lead", LEAD)
    scored = _invoke(emulated.url, score_event)
    assert scored["statusCode"] == 200, scored
    result = json.loads(scored["body"])
    assert result["grade"] in {"A", "B", "C", "D"}
    assert result["artifact_version"] == body["artifact_version"]
    assert scored["headers"]["Content-Type"] == "application/json"

    invalid = _invoke(emulated.url, _event("POST", "/score_lead", {**LEAD, "company_size": "x"}))
    assert invalid["statusCode"] == 422
    assert json.loads(invalid["body"])["field"] == "company_size"

    latencies = []
    for _ in range(100):
        t0 = time.perf_counter()
        answer = _invoke(emulated.url, _event("POST", "/score_lead", LEAD))
        latencies.append((time.perf_counter() - t0) * 1000)
        assert answer["statusCode"] == 200
    latencies.sort()
    print(
        f"\n[RIE + awslambdaric, hashing embedder] process start -> first answer {cold:.2f}s; "
        f"warm p50 {latencies[49]:.1f} ms, p99 {latencies[98]:.1f} ms (HTTP round trip)"
    )

    # What the runtime wrote to stdout is what CloudWatch Logs would receive. The emulator
    # copies it to the log asynchronously: wait until every invocation's lines are there (and
    # only then stop it), so the exact counts below are of a complete log.
    deadline = time.monotonic() + 30
    while len(_scored(blobs := _blobs(emulated.log))) < 101:
        assert time.monotonic() < deadline, f"{len(_scored(blobs))} scored lines of 101"
        time.sleep(0.1)
    emulated.proc.send_signal(signal.SIGTERM)
    emulated.proc.wait(10)
    blobs = _blobs(emulated.log)
    cold_starts = [b for b in blobs if "ColdStart" in b]
    assert len(cold_starts) == 1 and cold_starts[0]["function_name"] == "leadgen-scoring"
    scored_logs = _scored(blobs)
    assert len(scored_logs) == 101
    assert scored_logs[0]["correlation_id"] == score_event["requestContext"]["requestId"]
    assert sum(1 for b in blobs if "ArtifactAgeSeconds" in b) == 103  # one per invocation


def _blobs(log: Path) -> list[dict[str, Any]]:
    blobs = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            try:
                blobs.append(json.loads(line))
            except ValueError:
                continue
    return blobs


def _scored(blobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blobs if b.get("message") == "scored"]

"""`leadgen serve` as a user runs it, under an OpenAPI fuzzer and under concurrent clients.

The server is the real CLI process (waitress in front of the resolver, a SQLite duplicate store,
debug logging on). Schemathesis generates requests from the committed openapi.json, valid and
invalid, and runs every check it has: no 5xx, every status, content type, header and body as
documented, schema-valid requests accepted, schema-violating ones refused, undeclared methods
answered 405 with `Allow`. Examples and time are bounded (LEADGEN_FUZZ_EXAMPLES per operation
and phase, seed LEADGEN_FUZZ_SEED) so `make test` stays fast; raise them to fuzz longer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE_LEAD

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("LEADGEN_FUZZ_EXAMPLES", "150"))
SEED = int(os.environ.get("LEADGEN_FUZZ_SEED", "1"))
CLIENTS = 64


@dataclass
class Server:
    url: str
    log: Path


@pytest.fixture(scope="module")
def server(hashing_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("fuzz")
    art = tmp / "art"
    shutil.copytree(hashing_artifacts, art)
    log = tmp / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LEADGEN_CACHE_DIR": str(tmp / "cache")}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "leadgen", "-v", "serve", "--artifacts", str(art)),
                *("--embedder", "hashing", "--port", "0"),  # the OS picks; the banner says
                *("--dup-store", str(tmp / "dups.sqlite")),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
    try:
        url = _wait_healthy(proc, log)
        yield Server(url, log)
    finally:
        proc.terminate()
        proc.wait(30)


def _wait_healthy(proc: subprocess.Popen[bytes], log: Path) -> str:
    """The server's URL, from its banner (it binds port 0), once /health answers 200."""
    deadline = time.monotonic() + 120
    url = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        found = re.search(r"serving \S+ on (http://127\.0\.0\.1:\d+) ", log.read_text())
        url = found.group(1) if found else None
        try:
            if url is not None:
                with urllib.request.urlopen(url + "/health", timeout=5) as resp:
                    if resp.status == 200:
                        return url
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("leadgen serve did not become healthy: " + log.read_text()[-3000:])


def test_the_openapi_fuzzer_finds_no_server_error_and_no_schema_violation(server: Server) -> None:
    cli = Path(sys.executable).parent / "schemathesis"
    proc = subprocess.run(
        [
            *(str(cli), "--config-file", str(REPO / "tests/functional/schemathesis.toml")),
            *("run", str(REPO / "openapi.json"), "--url", server.url, "--checks", "all"),
            *("--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "1"),
            *("--request-timeout", "30", "--no-color"),
        ],
        capture_output=True,
        text=True,
        cwd=server.log.parent,  # schemathesis keeps its example database in ./.schemathesis
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-8000:]
    assert "No issues found" in report, report[-4000:]
    generated = [line for line in report.splitlines() if "generated" in line]
    print(f"\n[fuzz] seed {SEED}, {EXAMPLES} examples/phase: {generated[-1].strip()}")


def test_concurrent_clients_are_all_answered(server: Server) -> None:
    barrier = threading.Barrier(CLIENTS)
    statuses: list[int | str] = ["not run"] * CLIENTS

    def client(i: int) -> None:
        if i % 2:
            req = urllib.request.Request(server.url + "/health")
        else:
            body = json.dumps({**SAMPLE_LEAD, "lead_id": f"c{i}"}).encode()
            req = urllib.request.Request(
                server.url + "/score_lead", body, {"Content-Type": "application/json"}
            )
        barrier.wait(30)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                statuses[i] = resp.status
        except (OSError, urllib.error.HTTPError) as exc:
            statuses[i] = repr(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [200] * CLIENTS, [s for s in statuses if s != 200][:5]


def test_the_server_log_holds_no_email(server: Server) -> None:
    """Debug logging on, emails in the query string, the path and the body: none is logged."""
    email = "Log.Probe.Person@Example.org"
    sent: list[Any] = [
        urllib.request.Request(server.url + f"/health?email={email}"),
        urllib.request.Request(server.url + f"/{email}"),
        urllib.request.Request(
            server.url + f"/score_lead?contact={email}",
            json.dumps({**SAMPLE_LEAD, "email": email}).encode(),
            {"Content-Type": "application/json"},
        ),
    ]

    def lines() -> tuple[int, int]:
        text = server.log.read_text()
        return text.count("GET (undeclared path) "), text.count("POST /score_lead ")

    before = lines()
    for req in sent:
        try:
            urllib.request.urlopen(req, timeout=30).read()
        except urllib.error.HTTPError as err:
            err.read()
    # Wait for this test's access lines (the server writes each before answering; stderr is
    # line-buffered) rather than sleeping a guessed time: then the whole log is there to read.
    deadline = time.monotonic() + 30
    while lines()[0] <= before[0] or lines()[1] <= before[1]:
        assert time.monotonic() < deadline, "the access log never showed the requests"
        time.sleep(0.05)
    text = server.log.read_text().lower()
    assert "/health" in text  # the access log is there
    for needle in (email.lower(), "log.probe", "jane.doe@example.com"):
        assert needle not in text, needle

"""Fault injection: `leadgen build` killed with SIGKILL at the start of each of its steps.

SIGKILL runs no cleanup (no `finally`, no signal handler): it is the OOM killer, `kill -9`, a lost
machine. After each kill, LATEST must still name a version that verifies and the server must keep
answering from it; the next complete build must leave no debris (half-written version folders,
staging folders, temp files) from any of the killed ones.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leadgen.config import ServiceConfig
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.api import create_app
from leadgen.serve.server import serve
from leadgen.serve.service import ScoringService
from leadgen.stores.artifacts import fetch_version, read_pointer
from leadgen.stores.blob import LocalStore
from tests.conftest import SAMPLE_LEAD

REPO = Path(__file__).resolve().parents[2]
STEPS = (
    "read",
    "embedder",
    "embed",
    "holdout_quality",
    "fit",
    "index",
    "head",
    "calibrate",
    "serving_quality",
    "identity",
    "drift",
    "render",
    "write",
    "upload",
    "verify",
    "gate",
)


@dataclass
class Setup:
    art: Path
    crm: Path
    tmpdir: Path  # the builds' TMPDIR: their staging folders land here
    url: str


@pytest.fixture(scope="module")
def setup(hashing_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    from leadgen.synthetic.crm import generate_crm, write_crm

    tmp = tmp_path_factory.mktemp("kill")
    art = tmp / "art"
    shutil.copytree(hashing_artifacts, art)
    crm = tmp / "crm.parquet"
    write_crm(generate_crm(rows=1000, seed=5), crm)
    (tmp / "buildtmp").mkdir()
    cfg = ServiceConfig(artifacts_uri=str(art), cache_dir=tmp / "cache", refresh_seconds=0)
    svc = ScoringService(cfg, HashingEmbedder(), None)
    assert svc.lifecycle.start()
    httpd = serve(create_app(lambda: svc), "127.0.0.1", 0, tick=svc.lifecycle.tick)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield Setup(art, crm, tmp / "buildtmp", f"http://127.0.0.1:{httpd.port}")
    finally:
        httpd.shutdown()


def build(setup: Setup) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TMPDIR": str(setup.tmpdir),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "leadgen", "build", "--input", str(setup.crm)),
            *("--out", str(setup.art), "--embedder", "hashing", "--quiet", "--keep-versions", "3"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_at(setup: Setup, step: str) -> list[str]:
    proc = build(setup)
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        seen.append(line.rstrip())
        if line.startswith(f"[{step}] ..."):
            proc.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, seen
    proc.wait(60)
    assert proc.returncode == -signal.SIGKILL, seen[-10:]
    return seen


def latest_verifies(art: Path) -> str:
    store = LocalStore(art)
    pointer = read_pointer(store)
    fetched = fetch_version(store, pointer, art.parent / "verify-cache")
    fetched.manifest.verify(fetched.directory)
    return pointer.version


def answers(url: str) -> dict[str, Any]:
    body = json.dumps(SAMPLE_LEAD).encode()
    req = urllib.request.Request(url + "/score_lead", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        answer: dict[str, Any] = json.loads(resp.read())
    with urllib.request.urlopen(url + "/health", timeout=60) as resp:
        assert resp.status == 200
    return answer


def answers_with(url: str, version: str, seconds: float = 60) -> bool:
    """The server loads a new version in the background (leadgen.serve.refresh): the request
    that notices it is answered by the old one; within `seconds` the new one answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(url)["artifact_version"] == version:
            return True
        time.sleep(0.2)
    return False


def debris(setup: Setup) -> list[str]:
    store = LocalStore(setup.art)
    complete = {d for d in store.list_dirs() if (setup.art / d / "build_report.json").is_file()}
    # the score log the server writes beside the versions is no version
    found = [f"version {d}" for d in store.list_dirs() if d not in complete | {"score_log"}]
    found += [f"temp file {p.name}" for p in setup.art.rglob(".tmp-*")]
    found += [f"staging {p.name}" for p in setup.tmpdir.glob("leadgen-build-*")]
    return found


def test_sigkill_at_every_step_loses_nothing_and_the_next_build_sweeps(setup: Setup) -> None:
    before = latest_verifies(setup.art)
    for step in STEPS:
        kill_at(setup, step)
        assert latest_verifies(setup.art) == before, step
        assert answers(setup.url)["artifact_version"] == before, step
    left = debris(setup)
    assert any(d.startswith("staging") for d in left), left  # the kills did leave debris
    proc = build(setup)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    new = latest_verifies(setup.art)
    assert new != before
    assert debris(setup) == []
    assert answers_with(setup.url, new)
    assert before in LocalStore(setup.art).list_dirs()  # kept: --keep-versions 3

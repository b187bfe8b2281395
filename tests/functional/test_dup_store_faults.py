"""The local SQLite duplicate store under faults: another process's write lock costs a request at
most the configured deadline (never all the workers), and /health names the store's real state
(locked, missing, read_only, corrupt) while leads are still scored; `serve` with a damaged store
warns in one line and starts, or refuses in one line when --dup-store named it.

Real builds, a real second process holding the lock, real files damaged by the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from leadgen.config import ServiceConfig
from leadgen.duplicates.sqlite_store import SqliteDuplicateStore
from leadgen.model.embedders import HashingEmbedder
from leadgen.serve.service import ScoringService
from tests.conftest import Driver

LEAD = {
    "email": "someone.new@example.org",
    "job_title": "CTO",
    "bio": "runs data",
    "industry": "software",
    "country": "DE",
    "company_size": 120,
    "web_activity_score": 0.4,
    "email_engagement_score": 0.3,
}
# The deadline the tests configure, and what a request may take at most with the store locked
# (the deadline, scoring a lead with the hashing embedder, and a slow shared machine).
TIMEOUT_MS = 100
BOUND_SECONDS = 2.0

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("DELETE FROM dup WHERE email_hash = 'none'")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def _service(artifacts: Path, store_path: Path, tmp: Path) -> ScoringService:
    cfg = ServiceConfig(
        artifacts_uri=str(artifacts), cache_dir=tmp / "cache", dup_store_timeout_ms=TIMEOUT_MS
    )
    store = SqliteDuplicateStore(store_path, cfg.dup_store_timeout_ms / 1000)
    svc = ScoringService(cfg, HashingEmbedder(), store)
    assert svc.lifecycle.start()
    return svc


@pytest.fixture
def art(hashing_artifacts: Path, tmp_path: Path) -> Path:
    root = tmp_path / "art"
    shutil.copytree(hashing_artifacts, root)
    return root


@contextmanager
def held_write_lock(path: Path) -> Iterator[None]:
    """Another process inside a write transaction on the store, until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)


def test_a_held_lock_costs_each_request_at_most_the_deadline(art: Path, tmp_path: Path) -> None:
    svc = _service(art, art / "duplicates.sqlite", tmp_path)
    driver = Driver(svc)
    driver.score(LEAD)  # warm: the first scoring loads lazily
    took: list[float] = []
    answers: list[dict[str, Any]] = []

    def request(i: int) -> None:
        t0 = time.monotonic()
        answers.extend(driver.score({**LEAD, "email": f"new.lead{i}@example.org"}))
        took.append(time.monotonic() - t0)

    with held_write_lock(art / "duplicates.sqlite"):
        workers = [threading.Thread(target=request, args=(i,)) for i in range(6)]
        t0 = time.monotonic()
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        wall = time.monotonic() - t0
        t1 = time.monotonic()
        health = svc.health()
        health_took = time.monotonic() - t1
    assert len(answers) == 6 and {a["duplicate_check"] for a in answers} == {"skipped"}
    assert max(took) < BOUND_SECONDS and wall < BOUND_SECONDS, (took, wall)
    assert health.duplicate_store == "locked" and health_took < BOUND_SECONDS
    _fresh_probe(svc)
    assert svc.health().duplicate_store == "ok"
    again = driver.score({**LEAD, "email": "after.unlock@example.org"})[0]
    assert again["duplicate_check"] == "done"


def test_a_deleted_store_is_reported_missing(art: Path, tmp_path: Path) -> None:
    svc = _service(art, art / "duplicates.sqlite", tmp_path)
    assert svc.health().duplicate_store == "ok"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{art / 'duplicates.sqlite'}{suffix}").unlink(missing_ok=True)
    _fresh_probe(svc)
    assert svc.health().duplicate_store == "missing"


def test_a_corrupt_store_is_reported_and_leads_are_still_scored(art: Path, tmp_path: Path) -> None:
    store = art / "duplicates.sqlite"
    store.write_bytes(b"this is not a database" * 200)
    svc = _service(art, store, tmp_path)
    assert svc.health().duplicate_store == "corrupt"
    answer = Driver(svc).score(LEAD)[0]
    assert answer["duplicate_check"] == "skipped" and answer["grade"] in "ABCD"


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only for this process: its mode without root; as root (who writes through
    modes) a read-only bind mount of it over itself."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_folder_is_reported_read_only(art: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dups"
    folder.mkdir()
    SqliteDuplicateStore(folder / "duplicates.sqlite")  # created with its tables, then closed
    with read_only(folder):
        svc = _service(art, folder / "duplicates.sqlite", tmp_path)
        assert svc.health().duplicate_store == "read_only"
        answers = Driver(svc).score(LEAD, LEAD)
        assert [a["duplicate_check"] for a in answers] == ["skipped", "skipped"]


def _fresh_probe(svc: ScoringService) -> None:
    assert isinstance(svc.duplicates, SqliteDuplicateStore)
    svc.duplicates._state.get(fresh=True)


def test_serve_with_a_corrupt_store_warns_in_one_line_or_refuses_when_named(
    art: Path, tmp_path: Path
) -> None:
    (art / "duplicates.sqlite").write_bytes(b"garbage" * 500)
    cmd = [sys.executable, "-m", "leadgen", "score", "-", "--artifacts", str(art)]
    env = {**os.environ, "LEADGEN_EMBEDDER": "hashing", "LEADGEN_CACHE_DIR": str(tmp_path / "c")}
    lead = '{"email": "x@example.org", "company_size": 10}'
    warned = subprocess.run(cmd, input=lead, capture_output=True, text=True, env=env, timeout=120)
    assert warned.returncode == 0 and "Traceback" not in warned.stderr, warned.stderr
    first = warned.stderr.splitlines()[0]
    assert first.startswith("warning: ") and "duplicates.sqlite" in first and "readable" in first
    named = [*cmd, "--dup-store", str(art / "duplicates.sqlite")]
    refused = subprocess.run(named, input=lead, capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "not a readable" in refused.stderr

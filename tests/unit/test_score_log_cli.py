"""The score log from the CLI: `score-file` logs beside local artifacts unless told not to, and
`leadgen serve` writes what it buffered when it is stopped (SIGTERM, as `kill` or `docker stop`
sends it), having written nothing on the request path."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadgen.cli import main
from leadgen.stores.score_log import read_log
from tests.conftest import SAMPLE_LEAD

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def artifacts(hashing_artifacts: Path, tmp_path: Path) -> Path:
    out = tmp_path / "artifacts"
    shutil.copytree(hashing_artifacts, out, ignore=shutil.ignore_patterns("score_log", "*.sqlite*"))
    return out


def lead_file(tmp: Path, n: int) -> Path:
    rows = [{**SAMPLE_LEAD, "lead_id": f"f-{i}", "email": f"p{i}@x{i}.example"} for i in range(n)]
    path = tmp / "leads.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("how", ["default", "--no-log", "env-off"])
def test_score_file_logs_unless_told_not_to(
    artifacts: Path,
    tmp_path: Path,
    how: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LEADGEN_SCORE_LOG", raising=False)
    if how == "env-off":
        monkeypatch.setenv("LEADGEN_SCORE_LOG", "off")
    out_file = str(tmp_path / "scored.parquet")
    args = ["score-file", str(lead_file(tmp_path, 25)), "--artifacts", str(artifacts),
            "--out", out_file, "--embedder", "hashing", "--quiet"]  # fmt: skip
    assert main([*args, *(["--no-log"] if how == "--no-log" else [])]) == 0
    out = capsys.readouterr().out
    log = artifacts / "score_log"
    if how == "default":
        records = read_log(str(log)).records
        assert [r.lead_id for r in records] == [f"f-{i}" for i in range(25)]
        assert {r.source for r in records} == {"score-file"}
        assert f"score log: 25 scored leads logged to {log}" in out
    else:
        assert not log.exists() and "score log: off" in out


def test_serve_writes_its_buffer_when_stopped(artifacts: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADGEN_")}
    env["PYTHONPATH"] = str(REPO)
    args = [sys.executable, "-m", "leadgen", "serve", "--artifacts", str(artifacts), "--port", "0",
            "--embedder", "hashing", "--no-dedup"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
        for i in range(3):
            body = json.dumps({**SAMPLE_LEAD, "lead_id": f"s-{i}"}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/score_lead", body, {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as resp:
                assert resp.status == 200
        time.sleep(0.2)
        assert read_log(str(artifacts / "score_log")).records == []  # buffered, not written
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    records = read_log(str(artifacts / "score_log")).records
    assert sorted(r.lead_id or "" for r in records) == ["s-0", "s-1", "s-2"]
    assert {r.source for r in records} == {"api"}

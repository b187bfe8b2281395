"""Every failure of the CLI is one line naming the file or folder and the cause, with the
documented exit code, never a traceback: a full disk (a file-size limit set on the real
process: the kernel refuses the write exactly as on a full disk, EFBIG instead of ENOSPC) in the
staging folder and in the output; a read-only artifacts folder found before the build, not at
upload; a corrupt duplicate store named with --dup-store; a closed stdout pipe ends quietly; a
parquet lead file with list and struct columns is written to CSV (those cells as JSON).

Real subprocesses of the `leadgen` command, files written by the test.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tests.functional.test_dup_store_faults import read_only

LEAD = {
    "job_title": "CTO",
    "bio": "runs data",
    "industry": "software",
    "country": "DE",
    "company_size": 120.0,
    "web_activity_score": 0.4,
    "email_engagement_score": 0.3,
}


def run(args: list[str], tmp: Path, limit_bytes: int | None = None, **kw: object) -> Any:
    env = {**os.environ, "LEADGEN_EMBEDDER": "hashing", "LEADGEN_CACHE_DIR": str(tmp / "cache")}
    env.update(kw.pop("extra_env", {}))  # type: ignore[arg-type]
    preexec: Callable[[], None] | None = None
    if limit_bytes is not None:

        def preexec() -> None:  # the kernel's file-size limit, on the child only
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "leadgen", *args],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=preexec,
        timeout=300,
        **kw,  # type: ignore[arg-type]
    )


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_full_staging_folder_is_one_line_naming_the_file(tiny_crm: Path, tmp_path: Path) -> None:
    staging = tmp_path / "tmp"
    staging.mkdir()
    args = ["build", "--input", str(tiny_crm), "--out", str(tmp_path / "art"), "--quiet"]
    done = run(args, tmp_path, limit_bytes=100_000, extra_env={"TMPDIR": str(staging)})
    line = one_line(done.stderr)
    assert done.returncode == 1 and str(staging) in line and "File too large" in line, line
    assert not list(staging.glob("leadgen-build-*"))  # the staging folder went with the failure


def test_a_full_output_is_one_line_naming_it_and_leaves_no_partial_file(
    hashing_artifacts: Path, tmp_path: Path
) -> None:
    leads = tmp_path / "leads.parquet"
    pq.write_table(pa.Table.from_pylist([{**LEAD, "customer_id": i} for i in range(400)]), leads)
    out = tmp_path / "out" / "scored.csv"
    args = ["score-file", str(leads), "--artifacts", str(hashing_artifacts), "--out", str(out)]
    done = run([*args, "--quiet", "--no-dedup"], tmp_path, limit_bytes=20_000)
    line = one_line(done.stderr)
    assert done.returncode == 2 and str(out) in line and "File too large" in line, line
    assert not out.exists() and not list(out.parent.glob(".leadgen-out-*"))


def test_a_read_only_artifacts_folder_is_refused_before_the_build(
    tiny_crm: Path, tmp_path: Path
) -> None:
    art = tmp_path / "art"
    art.mkdir()
    with read_only(art):
        t0 = time.monotonic()
        done = run(["build", "--input", str(tiny_crm), "--out", str(art)], tmp_path)
        took = time.monotonic() - t0
    assert done.stderr.count("\n") == 1, done.stderr  # the one line, not a warning too
    line = one_line(done.stderr)
    assert done.returncode == 2 and str(art) in line and "cannot write the artifacts" in line
    assert "[read]" not in done.stdout + done.stderr, "the build started before the check"
    assert took < 60


def test_a_corrupt_store_named_by_dup_store_is_refused_before_the_build(
    tiny_crm: Path, tmp_path: Path
) -> None:
    store = tmp_path / "dups.sqlite"
    store.write_bytes(b"not a database" * 100)
    args = ["build", "--input", str(tiny_crm), "--out", str(tmp_path / "art")]
    done = run([*args, "--dup-store", str(store)], tmp_path)
    line = one_line(done.stderr)
    assert done.returncode == 2 and str(store) in line and "not a readable SQLite" in line
    assert not (tmp_path / "art").exists() or not any((tmp_path / "art").iterdir())


def test_a_closed_stdout_pipe_ends_quietly(hashing_artifacts: Path, tmp_path: Path) -> None:
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps(LEAD))
    env = {**os.environ, "LEADGEN_EMBEDDER": "hashing", "LEADGEN_CACHE_DIR": str(tmp_path / "c")}
    cmd = [sys.executable, "-m", "leadgen", "score", str(lead)]
    proc = subprocess.Popen(
        [*cmd, "--artifacts", str(hashing_artifacts), "--no-dedup"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before a byte is written (`| head -c0`)
    stderr = proc.stderr.read().decode()
    assert proc.wait(120) == 141 and stderr == ""


def test_list_and_struct_columns_are_written_to_csv_as_json(
    hashing_artifacts: Path, tmp_path: Path
) -> None:
    rows = [
        {**LEAD, "customer_id": i, "tags": ["a", "b"], "address": {"city": "Lyon", "zip": 69001}}
        for i in range(3)
    ]
    rows[1] = {**rows[1], "tags": None}
    leads = tmp_path / "leads.parquet"
    pq.write_table(pa.Table.from_pylist(rows), leads)
    out = tmp_path / "scored.csv"
    args = ["score-file", str(leads), "--artifacts", str(hashing_artifacts), "--out", str(out)]
    done = run([*args, "--quiet", "--no-dedup"], tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    table = pcsv.read_csv(out, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    assert json.loads(table.column("tags")[0].as_py()) == ["a", "b"]
    assert table.column("tags")[1].as_py() is None
    assert json.loads(table.column("address")[2].as_py()) == {"city": "Lyon", "zip": 69001}

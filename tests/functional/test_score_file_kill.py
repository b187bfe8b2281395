"""A killed run leaves nothing behind for good: `score-file` killed with SIGKILL mid-run (no
cleanup runs) leaves its hidden temporary outputs, and the next run removes them; a staging
folder a killed build left without its lock (killed while removing it, or before locking it) is
swept by the next build like the others.

Real processes killed for real, files written by the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadgen.builder.staging import LOCK, PREFIX, staging_dir, sweep_staging
from tests.functional.test_failure_lines import LEAD


def _score_file(artifacts: Path, leads: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEADGEN_EMBEDDER": "hashing"}
    args = ["score-file", str(leads), "--artifacts", str(artifacts), "--out", str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "leadgen", *args, "--quiet", "--no-dedup", "--batch-rows", "50"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_killed_score_files_temp_outputs_are_removed_by_the_next_run(
    hashing_artifacts: Path, tmp_path: Path
) -> None:
    leads = tmp_path / "leads.parquet"
    pq.write_table(pa.Table.from_pylist([{**LEAD, "customer_id": i} for i in range(3000)]), leads)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "scored.csv"
    for _ in range(2):
        proc = _score_file(hashing_artifacts, leads, out)
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size for p in out_dir.glob(".leadgen-out-*")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    debris = list(out_dir.glob(".leadgen-out-*"))
    assert len(debris) >= 2 and not out.exists()  # the kills did leave partial files
    done = _score_file(hashing_artifacts, leads, out)
    assert done.wait(300) == 0, done.stderr.read() if done.stderr else ""
    assert list(out_dir.glob(".leadgen-out-*")) == []
    assert sum(1 for _ in out.open()) == 3001  # header + every lead


def test_a_staging_folder_left_without_its_lock_is_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the builds' TMPDIR
    lockless = tmp_path / f"{PREFIX}killed-before-locking"
    lockless.mkdir()
    (lockless / "index_all.faiss").write_bytes(b"x" * 100)
    old = time.time() - 120
    os.utime(lockless, (old, old))
    with staging_dir() as live:  # a build running right now, which swept on its way in
        assert live.parent == tmp_path and not lockless.exists()
        assert sweep_staging(tmp_path) == [] and (live / LOCK).exists()


def test_a_build_killed_while_removing_its_staging_folder_leaves_it_sweepable(
    tmp_path: Path,
) -> None:
    code = (
        "import os, sys, signal\n"
        "from pathlib import Path\n"
        "import leadgen.builder.staging as st\n"
        "real = Path.unlink\n"
        "def dying_unlink(self, *a, **k):\n"
        "    real(self, *a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)  # killed mid-cleanup, after one file\n"
        "with st.staging_dir() as d:\n"
        "    for i in range(3):\n"
        "        (d / f'part{i}.npy').write_bytes(b'x')\n"
        "    Path.unlink = dying_unlink\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = list(tmp_path.glob(PREFIX + "*"))
    assert len(left) == 1 and (left[0] / LOCK).exists()  # the lock file goes last
    assert sweep_staging(tmp_path) == left and not left[0].exists()

"""The CLI: every bad input is one clear line naming the thing, a non-zero exit, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from leadgen.config import GradeBands
from tests.faults import corrupt_file

ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "leadgen", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        input=stdin,
        timeout=300,
    )


def assert_clean_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), out.stderr
    for needle in needles:
        assert needle in lines[-1], lines[-1]


def test_build_missing_file(tmp_path: Path) -> None:
    out = run(
        "build",
        "--input",
        str(tmp_path / "nope.parquet"),
        "--out",
        str(tmp_path / "a"),
        "--embedder",
        "hashing",
    )
    assert_clean_error(out, "nope.parquet", "no such file")
    assert not (tmp_path / "a" / "LATEST").exists()


def test_build_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_text("this is not parquet")
    out = run("build", "--input", str(bad), "--out", str(tmp_path / "a"), "--embedder", "hashing")
    assert_clean_error(out, "bad.parquet")


def test_build_unknown_column(tiny_crm: Path, tmp_path: Path) -> None:
    out = run(
        *("build", "--input", str(tiny_crm), "--out", str(tmp_path / "a")),
        *("--embedder", "hashing", "--num-cols", "company_size,revenue_eur"),
    )
    assert_clean_error(out, "'revenue_eur'", "not found")
    assert not (tmp_path / "a").exists() or not (tmp_path / "a" / "LATEST").exists()


def test_env_vars_configure_columns(tiny_crm: Path, tmp_path: Path) -> None:
    env_out = run(
        *("build", "--input", str(tiny_crm), "--out", str(tmp_path / "a")),
        *("--embedder", "hashing", "--quiet"),
        env={"LEADGEN_CAT_COLS": "industry", "LEADGEN_NUM_COLS": "no_such_col"},
    )
    assert_clean_error(env_out, "'no_such_col'")


def test_score_lead_with_wrong_type(hashing_artifacts: Path, tmp_path: Path) -> None:
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps({"company_size": "big", "job_title": "CTO"}))
    out = run(
        "score",
        str(lead),
        "--artifacts",
        str(hashing_artifacts),
        "--embedder",
        "hashing",
        "--no-dedup",
    )
    assert_clean_error(out, "company_size", "not a number")


def test_score_missing_and_invalid_lead_file(hashing_artifacts: Path, tmp_path: Path) -> None:
    out = run("score", str(tmp_path / "none.json"), "--artifacts", str(hashing_artifacts))
    assert_clean_error(out, "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = run("score", str(bad), "--artifacts", str(hashing_artifacts))
    assert_clean_error(out, "bad.json", "not valid JSON")


def test_missing_artifacts_folder_is_refused_and_not_created(tmp_path: Path) -> None:
    """score, score-file and serve name the folder; none leaves a folder with an empty
    duplicates.sqlite behind (the local store is opened only once the folder is known)."""
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps({"job_title": "CTO"}))
    leads = tmp_path / "leads.csv"
    leads.write_text("job_title\nCTO\n")
    missing = tmp_path / "no-artifacts"
    for args in (
        ("score", str(lead)),
        ("score-file", str(leads), "--out", str(tmp_path / "scored.csv")),
        ("serve", "--port", "0"),
    ):
        out = run(*args, "--artifacts", str(missing), "--embedder", "hashing")
        assert_clean_error(out, str(missing), "no such artifacts folder")
        assert not missing.exists(), args
    assert not (tmp_path / "scored.csv").exists()


def test_score_refuses_a_corrupted_artifact(hashing_artifacts: Path, tmp_path: Path) -> None:
    art = tmp_path / "art"
    shutil.copytree(hashing_artifacts, art)
    version = json.loads((art / "LATEST").read_text())["version"]
    corrupt_file(art / version / "index_high.faiss")  # same size: only the sha256 can tell
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps({"job_title": "CTO"}))
    out = run("score", str(lead), "--artifacts", str(art), "--embedder", "hashing")
    assert_clean_error(out, "index_high.faiss", "checksum mismatch")


def test_score_refuses_another_embedder(
    hashing_artifacts: Path, tmp_path: Path, onnx_model_dir: Path, model_cache: Path
) -> None:
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps({"job_title": "CTO"}))
    out = run(
        *("score", str(lead), "--artifacts", str(hashing_artifacts), "--embedder", "onnx"),
        env={"LEADGEN_MODEL_CACHE": str(model_cache)},  # the session's export: none is redone
    )
    assert_clean_error(out, "embedder mismatch", "hashing", "onnx:all-MiniLM-L6-v2")


@pytest.mark.parametrize("rows", ["0", "2000000"])
def test_data_rows_are_bounded(rows: str, tmp_path: Path) -> None:
    out = run("data", "--rows", rows, "--out", str(tmp_path / "x.parquet"))
    assert_clean_error(out, "--rows")


def test_score_prints_a_scored_lead(hashing_artifacts: Path, tmp_path: Path) -> None:
    lead = tmp_path / "lead.json"
    lead.write_text(
        json.dumps(
            {
                "job_title": "VP Engineering",
                "industry": "Software",
                "company_size": 800,
                "email": "someone.new@example.org",
            }
        )
    )
    out = run(
        "score",
        str(lead),
        "--artifacts",
        str(hashing_artifacts),
        "--embedder",
        "hashing",
        "--dup-store",
        str(tmp_path / "d.sqlite"),
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["grade"] in {"A", "B", "C", "D"} and res["duplicate"] is False
    assert res["grade"] == GradeBands().grade(res["percentile"])  # the build's default bands
    assert "someone.new" not in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b'{"company_size": ' + b"9" * 400 + b', "job_title": "CTO"}', ["company_size", "finite"]),
        (b"[" * 1000 + b"]" * 1000, ["nested deeper"]),
        (b'{"a":' * 1000 + b"1" + b"}" * 1000, ["nested deeper"]),
        (b'{"job_title": "Caf\xe9 owner"}', ["not UTF-8"]),
        (b'{"bio": "\\ud800"}', ["bio", "Unicode"]),
        (b'{"company_size": NaN}', ["NaN"]),
    ],
    ids=["400-digit-int", "deep-array", "deep-object", "latin-1", "lone-surrogate", "nan"],
)
def test_score_hostile_lead_files_are_one_line(
    hashing_artifacts: Path, tmp_path: Path, content: bytes, needles: list[str]
) -> None:
    lead = tmp_path / "lead.json"
    lead.write_bytes(content)
    out = run(
        *("score", str(lead), "--artifacts", str(hashing_artifacts)),
        *("--embedder", "hashing", "--no-dedup"),
    )
    assert_clean_error(out, "lead.json", *needles)
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_serve_on_a_port_in_use_is_one_line(hashing_artifacts: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run(
            *("serve", "--artifacts", str(hashing_artifacts), "--embedder", "hashing"),
            *("--no-dedup", "--port", str(port)),
        )
    assert_clean_error(out, f"127.0.0.1:{port}", "in use")
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_on_an_impossible_port_is_one_line(hashing_artifacts: Path, port: str) -> None:
    out = run(
        *("serve", "--artifacts", str(hashing_artifacts), "--embedder", "hashing"),
        *("--no-dedup", "--port", port),
    )
    assert_clean_error(out, "--port", port)
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_score_falls_back_to_an_older_verified_version(
    hashing_artifacts: Path, tiny_crm: Path, tmp_path: Path
) -> None:
    """A corrupted LATEST version used to make `score` (and `serve`) exit although an intact
    older version was there; now the older one answers and stderr says so."""
    art = tmp_path / "art"
    shutil.copytree(hashing_artifacts, art)
    old = json.loads((art / "LATEST").read_text())["version"]
    out = run(
        *("build", "--input", str(tiny_crm), "--out", str(art), "--embedder", "hashing"),
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    new = json.loads((art / "LATEST").read_text())["version"]
    corrupt_file(art / new / "index_all.faiss")
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps({"job_title": "CTO"}))
    out = run(*("score", str(lead), "--artifacts", str(art), "--embedder", "hashing", "--no-dedup"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["artifact_version"] == old
    assert f"LATEST's version {new} was refused" in out.stderr and old in out.stderr
    # score-file too (and so the bulk job, whose bulk_finished line carries the summary)
    leads = tmp_path / "leads.csv"
    leads.write_text("job_title,bio\nCTO,Likes golf\n")
    scored = tmp_path / "scored.csv"
    out = run(
        *("score-file", str(leads), "--artifacts", str(art), "--embedder", "hashing"),
        *("--no-dedup", "--quiet", "--out", str(scored)),
    )
    assert out.returncode == 0, out.stderr
    said = out.stdout + out.stderr
    assert (
        f"LATEST's version {new} was refused; scored with the older verified version {old}" in said
    )


def test_build_with_a_value_column_labels_its_top_quantile(tiny_crm: Path, tmp_path: Path) -> None:
    """`--value-col lifetime_value --value-quantile 0.8`: the high-value customers are exactly
    the current ones at or above the 80th percentile of lifetime_value (not the boolean flag),
    and the manifest records the rule serving reports."""
    import numpy as np
    import pyarrow.parquet as pq

    art = tmp_path / "art"
    out = run(
        *("build", "--input", str(tiny_crm), "--out", str(art), "--embedder", "hashing"),
        *("--value-col", "lifetime_value", "--value-quantile", "0.8", "--quiet"),
    )
    assert out.returncode == 0, out.stderr
    version = json.loads((art / "LATEST").read_text())["version"]
    manifest = json.loads((art / version / "manifest.json").read_text())
    assert manifest["high_value_rule"] == {"column": "lifetime_value", "quantile": 0.8}
    rows = pq.read_table(tiny_crm, filters=[("is_current", "==", True)]).to_pylist()
    ltv = np.array([r["lifetime_value"] for r in rows], dtype=float)
    expected = int((ltv >= np.quantile(ltv, 0.8)).sum())
    flagged = sum(bool(r["is_high_value"]) for r in rows)
    assert manifest["rows"]["high_value"] == expected != flagged
    assert abs(expected - 0.2 * len(rows)) <= 2


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (("--value-col", "lifetime_value", "--value-quantile", "1.5"), ("value quantile", "1.5")),
        (("--value-col", "job_title"), ("value column 'job_title' has no numbers",)),
        (
            ("--value-col", "lifetime_value", "--high-value-values", "won"),
            ("--high-value-values go with --high-value-col",),
        ),
    ],
)
def test_a_bad_value_rule_is_one_line(
    tiny_crm: Path, tmp_path: Path, flags: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    out = run(
        *("build", "--input", str(tiny_crm), "--out", str(tmp_path / "a"), "--embedder", "hashing"),
        *flags,
    )
    assert_clean_error(out, *needles)
    assert not (tmp_path / "a" / "LATEST").exists()

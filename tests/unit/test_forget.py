"""`leadgen forget` on a laptop: the person leaves the score log's parts and the SQLite duplicate
store, byte for byte (every file under the artifacts folder is scanned for their hash, ids and
name), and everyone else stays."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from leadgen.cli import main
from leadgen.duplicates.normalise import email_hash
from leadgen.stores.score_log import read_log
from tests.conftest import SAMPLE_LEAD

PERSON = {**SAMPLE_LEAD, "first_name": "Quillon", "last_name": "Vasquezsky",
          "company": "Vasquezsky Freight", "email": "q.vasquezsky@freight.example"}  # fmt: skip
OTHER = {**SAMPLE_LEAD, "first_name": "Mara", "last_name": "Oduya", "email": "mara@oduya.example"}


@pytest.fixture
def artifacts(hashing_artifacts: Path, tmp_path: Path) -> Path:
    out = tmp_path / "artifacts"
    shutil.copytree(hashing_artifacts, out, ignore=shutil.ignore_patterns("score_log", "*.sqlite*"))
    return out


def score(artifacts: Path, tmp: Path, lead: dict[str, Any], capsys: Any) -> dict[str, Any]:
    path = tmp / "lead.json"
    path.write_text(json.dumps(lead))
    args = ["score", str(path), "--artifacts", str(artifacts), "--embedder", "hashing"]
    assert main(args) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    return answer


def files_containing(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n!r}" for n in needles if n in data]
    return found


def test_forget_by_email_leaves_nothing_of_the_person(
    artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = score(artifacts, tmp_path, {**PERSON, "lead_id": "form-1"}, capsys)
    # the same lead scored again with only its id (no email, no name): logged under the id
    bare = {k: v for k, v in SAMPLE_LEAD.items() if k not in ("first_name", "last_name")}
    again = score(artifacts, tmp_path, {**bare, "lead_id": "form-1"}, capsys)
    other = score(artifacts, tmp_path, {**OTHER, "lead_id": "form-2"}, capsys)
    assert not first["duplicate"] and not other["duplicate"] and not again["duplicate"]
    log = str(artifacts / "score_log")
    assert [r.lead_id for r in read_log(log).records] == ["form-1", "form-1", "form-2"]
    hashed = email_hash(PERSON["email"]) or ""
    needles = [hashed.encode(), b"form-1", b"vasquezsky"]
    assert files_containing(artifacts, needles)  # it is there before

    assert main(["forget", PERSON["email"], "--artifacts", str(artifacts)]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["score_log"]["records"] == 2  # the second record had no email: found by its id
    assert counts["duplicate_stores"]["sqlite"]["email_items"] == 1
    assert counts["duplicate_stores"]["sqlite"]["identity_entries"] == 1
    assert files_containing(artifacts, needles) == []
    assert [r.lead_id for r in read_log(log).records] == ["form-2"]
    with sqlite3.connect(artifacts / "duplicates.sqlite") as db:
        assert db.execute("SELECT ref FROM dup WHERE kind = 'lead'").fetchall() == [("form-2",)]
    assert "vasquezsky" not in json.dumps(counts).lower()  # counts only, nothing of the person


def test_forget_by_id_and_an_unknown_person(
    artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    score(artifacts, tmp_path, {**OTHER, "lead_id": "form-9"}, capsys)
    assert main(["forget", "form-9", "--artifacts", str(artifacts)]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["score_log"]["records"] == 1
    assert counts["duplicate_stores"]["sqlite"]["email_items"] == 1  # found through its ref
    assert files_containing(artifacts, [b"form-9", b"oduya"]) == []
    assert main(["forget", "nobody@nowhere.example", "--artifacts", str(artifacts)]) == 0
    assert json.loads(capsys.readouterr().out)["score_log"]["records"] == 0
    assert main(["forget", "not-an-email@", "--artifacts", str(artifacts)]) == 2
    assert "not an email address" in capsys.readouterr().err

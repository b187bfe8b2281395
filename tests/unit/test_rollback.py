"""`leadgen rollback`: LATEST back to an earlier complete version, verified first; anything else
is refused with one line and LATEST stays (leadgen.rollback, through the CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from leadgen.cli import main
from leadgen.model.bundle import REPORT, Files
from leadgen.stores.artifacts import read_pointer
from leadgen.stores.blob import LocalStore
from tests.conftest import build_config, quiet_build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from leadgen.synthetic.crm import generate_crm, write_crm

    root = tmp_path_factory.mktemp("rollback")
    crm = root / "crm.parquet"
    write_crm(generate_crm(rows=600, seed=11), crm)
    out = root / "artifacts"
    cfg = build_config(crm, out, min_auc=0.0, min_lift=0.0)
    versions = [quiet_build(cfg).version for _ in range(3)]
    return {"out": out, "versions": versions}


@pytest.fixture
def three_versions(built: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A copy of the three builds per test (each test moves LATEST or damages a version)."""
    out = tmp_path / "artifacts"
    shutil.copytree(built["out"], out)
    return {"out": out, "versions": built["versions"]}


def latest(out: Path) -> str:
    return read_pointer(LocalStore(out)).version


def rollback(out: Path, *args: str) -> int:
    return main(["rollback", *args, "--artifacts", str(out)])


def test_rollback_goes_to_the_version_before_then_to_a_named_one(
    three_versions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out, (v1, v2, v3) = three_versions["out"], three_versions["versions"]
    assert rollback(out) == 0 and latest(out) == v2
    assert f"{v3} -> {v2} (every checksum verified)" in capsys.readouterr().out
    assert rollback(out) == 0 and latest(out) == v1  # and again: the one before that
    assert rollback(out, v3) == 0 and latest(out) == v3  # forward again, by name
    pointer = json.loads((out / "LATEST").read_text())
    assert pointer["version"] == v3 and len(pointer["manifest_sha256"]) == 64


@pytest.mark.parametrize("damage", ["incomplete", "corrupted", "missing", "current", "not_a_name"])
def test_an_unusable_version_is_refused_and_latest_stays(
    three_versions: dict[str, Any], damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out, (_, v2, v3) = three_versions["out"], three_versions["versions"]
    target = {"current": v3, "missing": "20200101T000000000Z-000000", "not_a_name": "../x"}.get(
        damage, v2
    )
    if damage == "incomplete":
        (out / v2 / REPORT).unlink()  # what a killed or refused build leaves
    if damage == "corrupted":
        path = out / v2 / Files.IDS_ALL
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF  # same size, another byte: only the checksum tells
        path.write_bytes(bytes(data))
    before = (out / "LATEST").read_bytes()
    assert rollback(out, target) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    expected = {
        "incomplete": "incomplete",
        "corrupted": "checksum mismatch",
        "missing": "not in the store",
        "current": "LATEST's version already",
        "not_a_name": "not a version name",
    }[damage]
    assert expected in err
    assert (out / "LATEST").read_bytes() == before


def test_with_only_one_complete_version_there_is_nothing_to_roll_back_to(
    three_versions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out, (v1, v2, _) = three_versions["out"], three_versions["versions"]
    for v in (v1, v2):
        (out / v / REPORT).unlink()
    assert rollback(out) == 2
    assert "no complete version older than LATEST's" in capsys.readouterr().err

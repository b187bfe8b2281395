"""The build job (`python -m build_job`, in-process) on exports as people save them, configured
only through LEADGEN_* variables as the CodeBuild project is: a European Excel export with date
columns builds; a ragged row fails in one line, and neither that line nor the build_failed JSON
line (CloudWatch) holds any of the row's values.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_export_dialects import SF_HEADER, SF_ROWS, eu_excel

ROWS = 240


def export_rows() -> list[list[str]]:
    """SF_ROWS varied into ROWS accounts (ids unique, a third of them won)."""
    out = []
    for i in range(ROWS):
        row = list(SF_ROWS[i % 4])
        row[0] = f"0015g{i:07d}"
        row[5] = f"{1 + i * 37:,}".replace(",", ".")  # 1, 38, ..., 8.844: European integers
        row[10] = "Closed Won" if i % 3 == 0 else "Closed Lost"
        out.append(row)
    return out


def run_job(monkeypatch: pytest.MonkeyPatch, **variables: str) -> tuple[int, list[Any], str]:
    from build_job.job import run

    for name in [n for n in os.environ if n.startswith("LEADGEN_")]:
        monkeypatch.delenv(name)
    for name in ("DUP_TABLE_NAME", "IDENTITY_TABLE_NAME", "ARTIFACTS_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"LEADGEN_EMBEDDER": "hashing", **variables}.items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    code = run(stdout=out, stderr=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


COLUMNS = {
    "LEADGEN_ID_COL": "Account ID",
    "LEADGEN_TEXT_COLS": "Description",
    "LEADGEN_CAT_COLS": "Industry,Billing Country",
    "LEADGEN_NUM_COLS": "No. of Employees,Engagement Score",
    "LEADGEN_DATE_COLS": "Created Date,Last Activity",
    "LEADGEN_HIGH_VALUE_COL": "Stage",
    "LEADGEN_HIGH_VALUE_VALUES": "Closed Won",
    "LEADGEN_MAX_NON_NUMERIC": "0.3",
    "LEADGEN_MIN_AUC": "0.0",
    "LEADGEN_MIN_LIFT": "0.0",
}


def test_a_european_export_with_dates_builds_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = eu_excel(tmp_path / "accounts.csv", export_rows())
    code, events, err = run_job(
        monkeypatch,
        LEADGEN_INPUT_PATH=str(export),
        ARTIFACTS_URI=str(tmp_path / "artifacts"),
        LEADGEN_AS_OF="2025-06-30",
        **COLUMNS,
    )
    assert code == 0, err
    version = next(e for e in events if e["event"] == "build_finished")["version"]
    manifest = json.loads((tmp_path / "artifacts" / version / "manifest.json").read_text())
    assert manifest["columns"]["date_cols"] == ["Created Date", "Last Activity"]
    assert manifest["formats"]["decimal"] == {"No. of Employees": ",", "Engagement Score": ","}
    assert manifest["formats"]["reference"] == 1751241600.0  # 2025-06-30T00:00:00Z


def test_a_ragged_row_fails_in_one_line_without_the_rows_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = eu_excel(tmp_path / "accounts.csv", export_rows())
    ragged = ["0015g9999999", "Saga Araújo;saga.araujo@gmail.com", *SF_ROWS[1][2:]]
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(";".join(ragged) + "\r\n")
    code, events, err = run_job(
        monkeypatch,
        LEADGEN_INPUT_PATH=str(path),
        ARTIFACTS_URI=str(tmp_path / "artifacts"),
        **COLUMNS,
    )
    assert code == 2
    failed = next(e for e in events if e["event"] == "build_failed")
    line = err.strip()
    assert "\n" not in line and f"row {ROWS + 1}" in line and f"{len(SF_HEADER)} columns" in line
    logged = json.dumps(events) + err
    for value in ("Saga", "Araújo", "saga.araujo@gmail.com", "0015g9999999"):
        assert value not in logged
    assert f"row {ROWS + 1}" in failed["message"]

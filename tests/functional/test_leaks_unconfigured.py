"""The leak checks beyond the configured columns, on a HubSpot-shaped contact export written
here: every column nobody configured is checked all the same (the report's "not used" list and
build_report.json say which looks like the outcome and why); a date whose NAME is neutral
("Milestone Date") but whose values fall after the row's other dates for the won contacts only
is flagged by its values, while the honest "Create Date" and "Last Activity Date" are not; and a
refusal, run as the CLI a user runs, is one line with no traceback and no row's own value (a
company that only won contacts have is counted, not named).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.cli import main

ROWS = 500
INDUSTRIES = ("COMPUTER_SOFTWARE", "RETAIL", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE")
PARTNER = "Zyxwv Holdings GmbH"  # every won contact's partner: bound to the label, not a word
FEATURES = {
    "--id-col": "Record ID",
    "--email-col": "Email",
    "--high-value-col": "Is High Value",
    "--text-cols": "Job Title",
    "--cat-cols": "Industry",
    "--num-cols": "Number of Employees",
}


def write_hubspot(path: Path, seed: int = 0) -> None:
    """Contacts as HubSpot exports them ("Record ID", "Create Date" with a time, upper-case
    industry codes), with a milestone set after the deal for the won ones and before the last
    activity for the others, a lifecycle stage, and a partner company only won contacts have."""
    rng = np.random.default_rng(seed)
    industry = rng.integers(0, len(INDUSTRIES), ROWS)
    size = np.round(np.exp(rng.normal(4, 1.2, ROWS))).astype(int)
    won = 0.8 * (industry < 2) + rng.normal(0, 0.8, ROWS) > 0.9
    created = np.datetime64("2024-01-01T09:00") + rng.integers(0, 400 * 24, ROWS) * 60
    activity = created + rng.integers(10 * 24, 200 * 24, ROWS) * 60
    # Won: the milestone comes after every other date; the others reached theirs in between.
    milestone = np.where(
        won,
        activity + rng.integers(24, 40 * 24, ROWS) * 60,
        created + ((activity - created) * rng.uniform(0.1, 0.9, ROWS)).astype(int),
    )
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["Record ID", "First Name", "Email", "Job Title", "Industry",
                      "Number of Employees", "Create Date", "Last Activity Date",
                      "Milestone Date", "Lifecycle Stage", "Partner", "Is High Value"])  # fmt: skip
        for i in range(ROWS):
            out.writerow([
                str(1000 + i), f"Name{i}", f"contact{i}@example.org",
                ("Head of Data" if won[i] else "Analyst") if rng.random() < 0.6 else "CTO",
                INDUSTRIES[industry[i]], str(size[i]), _hubspot_time(created[i]),
                _hubspot_time(activity[i]), _hubspot_time(milestone[i]),
                "customer" if won[i] else "lead",
                PARTNER if won[i] else rng.choice(["", "", "Other Partner Co", "Acme Resellers"]),
                "true" if won[i] else "false",
            ])  # fmt: skip


def _hubspot_time(t: Any) -> str:
    return str(t).replace("T", " ")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hubspot") / "hubspot-contacts.csv"
    write_hubspot(path)
    return path


def argv(export: Path, out: Path, **extra: str) -> list[str]:
    flags = {**FEATURES, **extra}
    base = ["build", "--input", str(export), "--out", str(out), "--embedder", "hashing"]
    return [*base, *(x for kv in flags.items() for x in kv), "--quiet"]


def built_report(out: Path) -> dict[str, Any]:
    version = json.loads((out / "LATEST").read_text())["version"]
    report: dict[str, Any] = json.loads((out / version / "build_report.json").read_text())
    return report


def test_every_unconfigured_column_is_checked_and_reported(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "artifacts"
    assert main(argv(export, out, **{"--date-cols": "Create Date"})) == 0, capsys.readouterr()
    printed = capsys.readouterr().out
    report = built_report(out)
    flagged = {x["column"]: x for x in report["leaks"]["unconfigured"]["flagged"]}
    assert set(flagged) == {"Milestone Date", "Lifecycle Stage", "Partner"}, flagged
    assert "Last Activity Date" in report["leaks"]["unconfigured"]["single_column_auc"]
    # by its values: the milestone alone does not separate the labels, its order does
    milestone = flagged["Milestone Date"]
    assert milestone["single_column_auc"] < 0.99
    assert milestone["evidence"] == [
        "later than the row's other dates for 100% of high-value customers and 0% of the others"
    ]
    not_used = {x["column"]: x["reason"] for x in report["summary"]["not_used"]}
    assert not_used["Milestone Date"].startswith("looks like the outcome (later than the row's")
    assert not_used["Lifecycle Stage"].startswith("looks like the outcome (")
    assert "'customer'" in not_used["Lifecycle Stage"]  # a stage word may be quoted
    assert "Zyxwv" not in json.dumps(report["leaks"]) and "Zyxwv" not in printed
    assert "not a feature: column 'Partner' looks like the outcome" in printed
    assert not any("Last Activity Date" in x["column"] for x in flagged.values())
    assert not_used["First Name"].startswith("a name or contact detail")


@pytest.mark.parametrize(
    ("dates", "flagged"),
    [
        ("Create Date,Last Activity Date", False),
        ("Create Date,Last Activity Date,Milestone Date", True),
    ],
)
def test_a_date_after_the_outcome_is_refused_by_its_values_and_honest_dates_are_not(
    export: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dates: str,
    flagged: bool,
) -> None:
    code = main(argv(export, tmp_path / "artifacts", **{"--date-cols": dates}))
    err = capsys.readouterr().err
    if not flagged:
        assert code == 0, err
        return
    assert code == 3, err
    assert "column 'Milestone Date' looks like the outcome (later than the row's other dates" in err
    assert "Create Date" not in err and "Last Activity Date" not in err


def test_a_refusal_is_one_line_without_traceback_or_a_rows_value(
    export: Path, tmp_path: Path
) -> None:
    """As a user runs it: the stage and the partner configured as categories are refused; the
    message quotes the stage word, counts the partner's value without naming it."""
    args = argv(
        export, tmp_path / "artifacts", **{"--cat-cols": "Industry,Lifecycle Stage,Partner"}
    )
    run = subprocess.run(
        [sys.executable, "-m", "leadgen", *args], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 3, run.stderr
    err = run.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "column 'Partner' looks like the outcome" in err, err
    assert "column 'Lifecycle Stage' looks like the outcome" in err and "'customer'" in err, err
    for value in (PARTNER, "Zyxwv", "Acme", "Other Partner", "@example.org", "Name1"):
        assert value not in err, (value, err)


def test_inspect_skips_the_milestone_by_the_same_checks(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(export)]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("Milestone Date "))
    assert "skip (looks like the outcome: later than the row's other dates" in row, row
    for honest in ("Create Date ", "Last Activity Date "):
        assert "looks like the outcome" not in next(x for x in lines if x.startswith(honest))
    assert "Zyxwv" not in "\n".join(lines)

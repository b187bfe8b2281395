"""Columns that encode the outcome, in exports written here the way CRMs write them: a
Salesforce lead "Status" ("Closed - Converted"), a Pipedrive "Lost reason" (empty exactly for won
deals), "Notes" written after the sale, HubSpot's "Became a Customer Date" and a "Close Date".
Each is refused by `build` (exit 3, one line naming the column and the evidence) and built on
with --allow-column (the report warns at its top); `inspect` suggests none of them and says why;
the same export without them builds as before; and one real public table (scikit-learn's
breast cancer data) builds clean, and is refused once a leaked column is added.
"""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.cli import main

ROWS = 600
CLEAN = {
    "--id-col": "Lead ID",
    "--email-col": "Email",
    "--high-value-col": "Is Won",
    "--text-cols": "Title",
    "--cat-cols": "Industry,Lead Source",
    "--num-cols": "No. of Employees",
    "--date-cols": "Created Date",
}
# column -> (the --*-cols flag it is given with, the words the refusal must carry)
LEAKS = {
    "Status": ("--cat-cols", "'Closed - Converted'"),
    "Lost reason": ("--cat-cols", "empty for 100% of high-value customers"),
    "Notes": ("--text-cols", "outcome-bound terms"),
    "Became a Customer Date": ("--date-cols", "filled for 100% of high-value customers"),
    "Close Date": ("--date-cols", "an outcome date by its name"),
}
INDUSTRIES = ("Software", "Retail", "Finance", "Healthcare", "Manufacturing", "Education")
SOURCES = ("Web", "Referral", "Trade Show", "Cold Call", "Partner")
TITLES = ("VP Sales", "Analyst", "CTO", "Office Manager", "Head of Data", "Intern", "CFO")
POST_SALE = ("Onboarding call done, QBR scheduled", "Kickoff held; contract signed",
             "Renewal discussed with the account team",
             "Customer onboarded, invoice paid")  # fmt: skip
PRE_SALE = ("No response after 3 emails", "Asked for pricing", "Left a voicemail",
            "Requested a demo next quarter", "Not the right person, forwarded")  # fmt: skip
LOST = ("Price", "No budget", "Went with a competitor", "No decision")


def write_export(path: Path, rows: int = ROWS, seed: int = 0) -> None:
    """A lead export: honest columns that predict the outcome in part, and the leaked ones."""
    rng = np.random.default_rng(seed)
    industry = rng.integers(0, len(INDUSTRIES), rows)
    title = rng.integers(0, len(TITLES), rows)
    size = np.round(np.exp(rng.normal(4, 1.3, rows))).astype(int)
    latent = 0.8 * (industry < 2) + 0.6 * (title % 3 == 0) + 0.4 * np.log(size) / 4
    won = latent + rng.normal(0, 0.7, rows) > np.quantile(latent, 0.7) + 0.2
    created = np.datetime64("2024-01-01") + rng.integers(0, 500, rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["Lead ID", "Email", "Title", "Industry", "Lead Source", "No. of Employees",
                      "Created Date", "Status", "Lost reason", "Notes", "Became a Customer Date",
                      "Close Date", "Is Won"])  # fmt: skip
        for i in range(rows):
            open_deal = not won[i] and rng.random() < 0.3
            status = ("Closed - Converted" if won[i] else
                      rng.choice(["Open - Not Contacted", "Working - Contacted"]) if open_deal
                      else "Closed - Not Converted")  # fmt: skip
            became = str(created[i] + rng.integers(20, 90)) if won[i] else ""
            out.writerow([
                f"00Q5g{i:08d}AAB", f"lead{i}@example.org", TITLES[title[i]],
                INDUSTRIES[industry[i]], SOURCES[rng.integers(0, len(SOURCES))], f"{size[i]}",
                str(created[i]), status,
                "" if won[i] or open_deal else rng.choice(LOST),
                rng.choice(POST_SALE if won[i] else PRE_SALE), became,
                str(created[i] + rng.integers(10, 120)), "true" if won[i] else "false",
            ])  # fmt: skip


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leaks") / "leads.csv"
    write_export(path)
    return path


def build_args(export: Path, out: Path, leak: str | None = None) -> list[str]:
    flags = dict(CLEAN)
    if leak is not None:
        flag, _ = LEAKS[leak]
        flags[flag] = f"{flags[flag]},{leak}"
    argv = ["build", "--input", str(export), "--out", str(out), "--embedder", "hashing"]
    return [*argv, *(x for kv in flags.items() for x in kv), "--quiet"]


@pytest.mark.parametrize("leak", list(LEAKS))
def test_a_leaked_column_is_refused_by_name(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], leak: str
) -> None:
    out = tmp_path / "artifacts"
    assert main(build_args(export, out, leak)) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"column {leak!r} looks like the outcome" in err and LEAKS[leak][1] in err, err
    assert f"--allow-column {shlex.quote(leak)}" in err
    assert "@example.org" not in err  # no row's values
    assert not out.exists() or not (out / "LATEST").exists()


@pytest.mark.parametrize("leak", ["Status", "Lost reason", "Notes", "Became a Customer Date"])
def test_allow_column_builds_on_it_and_the_report_warns(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], leak: str
) -> None:
    out = tmp_path / "artifacts"
    assert main([*build_args(export, out, leak), "--allow-column", leak]) == 0, capsys.readouterr()
    assert f"warning: column {leak!r} looks like the outcome" in capsys.readouterr().out
    version = json.loads((out / "LATEST").read_text())["version"]
    report = json.loads((out / version / "build_report.json").read_text())
    assert [a["column"] for a in report["leaks"]["allowed"]] == [leak]
    page = (out / version / "report.html").read_text()
    assert f"{leak} looks like the outcome" in page.replace("&#x27;", "'").replace("&amp;", "&")


def test_the_clean_export_builds_unchanged(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "artifacts"
    assert main(build_args(export, out)) == 0, capsys.readouterr().err
    assert "warning: column" not in capsys.readouterr().out
    version = json.loads((out / "LATEST").read_text())["version"]
    report = json.loads((out / version / "build_report.json").read_text())
    assert report["leaks"]["allowed"] == []
    assert max(report["leaks"]["single_column_auc"].values()) < 0.9
    assert 0.6 < report["quality"]["headline"]["auc"] < 0.995


def test_inspect_suggests_none_of_them(
    export: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the printed command builds into ./artifacts
    assert main(["inspect", str(export)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    argv = shlex.split(lines[lines.index("suggested build command:") + 1])
    assert argv[:2] == ["leadgen", "build"]
    flags = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert flags["--high-value-col"] == "Is Won"
    suggested = set(",".join(v for k, v in flags.items() if k.endswith("-cols")).split(","))
    assert not suggested & set(LEAKS), suggested & set(LEAKS)
    assert {"Title", "Industry", "No. of Employees"} <= suggested
    for leak in ("Status", "Lost reason", "Notes"):
        row = next(line for line in lines if line.startswith(leak + " "))
        assert "skip (looks like the outcome: " in row, row
    assert main([*argv[1:], "--embedder", "hashing", "--quiet"]) == 0  # builds as printed


def breast_cancer(path: Path, leak: bool) -> list[str]:
    """scikit-learn's breast cancer table (569 real cases) as an export, with the outcome
    written as a stage when `leak`; the build flags for it."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    malignant = data.target == 0
    columns: dict[str, Any] = {"customer_id": np.arange(len(malignant)), "malignant": malignant}
    columns.update({n: data.data[:, i] for i, n in enumerate(names)})
    cats = ""
    if leak:
        columns["Stage"] = ["Closed Won" if m else "Open" for m in malignant]
        cats = "Stage"
    pq.write_table(pa.table(columns), path)
    return ["--text-cols", "", "--cat-cols", cats, "--num-cols", ",".join(names),
            "--high-value-col", "malignant"]  # fmt: skip


def test_a_real_table_builds_clean_and_is_refused_with_a_leaked_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for leak in (False, True):
        export = tmp_path / f"bc-{leak}.parquet"
        flags = breast_cancer(export, leak)
        argv = ["build", "--input", str(export), "--out", str(tmp_path / f"art-{leak}")]
        code = main([*argv, *flags, "--embedder", "hashing", "--quiet"])
        err = capsys.readouterr().err
        if leak:
            assert code == 3 and "column 'Stage' looks like the outcome" in err, err
            assert "'Closed Won'" in err
        else:
            assert code == 0, err

"""`leadgen inspect` on exports as people save them: it states how the file is written (its
dialect, each numeric column's decimal mark, each date column's form), suggests dates as
features but never an outcome date, and never suggests a command that fails: a column named
like a flag is passed as `--flag=value`, a list/struct column or a name with a comma is left
out with its reason. (The printed command is built as printed in
tests/functional/test_excel_round_trip.py.)
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from leadgen.builder.inspect import inspect_export
from leadgen.cli import parser
from leadgen.config import ReadSettings
from tests.unit.test_export_dialects import SF_HEADER, SF_ROWS, eu_excel, write_text


def parsed(command: str) -> dict[str, str]:
    """The suggested command as the CLI's own parser reads it."""
    argv = shlex.split(command)
    assert argv[0] == "leadgen"
    args = vars(parser().parse_args(argv[1:]))
    return {k: v for k, v in args.items() if isinstance(v, str)}


def test_it_states_the_dialect_and_each_columns_convention(tmp_path: Path) -> None:
    header = [*SF_HEADER, "Close Date", "Became a Customer Date"]
    rows = [[*r, "30.06.2025", ""] for r in [*SF_ROWS[:3] * 10, SF_ROWS[3]]]
    path = eu_excel(tmp_path / "report.csv")
    write_text(path, [header, *rows], delimiter=";", bom=True, eol="\r\n")
    found = inspect_export(str(path))
    text = found.render()
    assert text.splitlines()[0].startswith(
        f"{path}: csv (semicolon-separated, UTF-8 with BOM, CRLF), 13 columns, 31 rows"
    )
    by_name = {c.name: c for c in found.columns}
    assert by_name["No. of Employees"].detail == "decimal ',' (the file's other columns)"
    assert by_name["Engagement Score"].detail == "decimal ',' (its values)"
    assert by_name["Created Date"].kind == "date" and by_name["Created Date"].role == "date"
    assert by_name["Close Date"].role == "skip"
    assert "an outcome date" in by_name["Close Date"].reason
    args = parsed(found.command())
    assert args["date_cols"] == "Created Date,Last Activity"  # never an outcome date
    assert args["num_cols"] == "No. of Employees,Engagement Score"
    assert "decimal" not in args  # the suggested columns decide it themselves in the build


def test_names_that_look_like_flags_are_passed_as_values(tmp_path: Path) -> None:
    header = ["Id", "--out", "-x", "Stage"]
    rows = [[str(i), f"Works on {i} projects at scale", f"x{i % 5}", "won" if i % 3 else "lost"]
            for i in range(150)]  # fmt: skip
    path = write_text(tmp_path / "flags.csv", [header, *rows])
    found = inspect_export(str(path))
    command = found.command()
    assert "--text-cols=--out" in command and "--cat-cols=-x" in command
    args = parsed(command)
    assert args["text_cols"] == "--out" and args["cat_cols"] == "-x"
    assert args["out"] == "artifacts" and args["id_col"] == "Id"


def test_what_the_build_would_refuse_is_never_suggested(tmp_path: Path) -> None:
    n = 80
    table = pa.table(
        {
            "customer_id": pa.array(range(n)),
            "tags": pa.array([["a", "b"][: i % 3] for i in range(n)], pa.list_(pa.string())),
            "address": pa.array([{"city": "Berlin", "zip": str(i)} for i in range(n)]),
            "Revenue, EUR": pa.array([float(i) for i in range(n)]),
            " Segment ": pa.array(["a", "b"] * (n // 2)),
            "blob": pa.array([b"\xff\xfe" + bytes([i]) for i in range(n)], pa.binary()),
            "segment": pa.array(["smb", "mid", "ent", "smb"] * (n // 4)),
            "is_high_value": pa.array([i % 4 == 0 for i in range(n)]),
        }
    )
    pq.write_table(table, tmp_path / "crm.parquet")
    found = inspect_export(str(tmp_path / "crm.parquet"))
    by_name = {c.name: c for c in found.columns}
    assert by_name["tags"].kind == "nested" and by_name["tags"].role == "skip"
    assert "list or struct" in by_name["tags"].reason
    assert by_name["address"].role == "skip"
    assert "comma" in by_name["Revenue, EUR"].reason
    assert "spaces" in by_name[" Segment "].reason
    assert by_name["blob"].role == "skip" and "not UTF-8" in by_name["blob"].reason
    args = parsed(found.command())
    assert args["cat_cols"] == "segment" and args["text_cols"] == "" and args["num_cols"] == ""


def test_an_undecidable_column_is_left_out_with_a_note_until_said(tmp_path: Path) -> None:
    header = ["Person - ID", "Organization - Number of employees", "Deal - Status"]
    rows = [[str(i), ("1.200", "6.787", "12.500")[i % 3], "won" if i % 2 else "lost"]
            for i in range(30)]  # fmt: skip
    path = write_text(tmp_path / "pipedrive.tsv", [header, *rows], delimiter="\t")
    found = inspect_export(str(path))
    column = {c.name: c for c in found.columns}["Organization - Number of employees"]
    assert column.role == "skip" and "undecided" in column.reason
    assert any("--decimal" in note for note in found.notes)
    said = inspect_export(str(path), reading=ReadSettings(decimal=","))
    args = parsed(said.command())
    assert args["num_cols"] == "Organization - Number of employees"
    assert args["decimal"] == ","  # the build must be told too

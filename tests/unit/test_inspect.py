"""`leadgen inspect`: the roles it guesses and the command it prints (the command is run as printed
on CRM-like exports in tests/functional/test_crm_exports.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pyarrow.parquet as pq

from leadgen.builder.inspect import inspect_export
from leadgen.synthetic.crm import generate_crm


def flags(command: str) -> dict[str, str]:
    argv = shlex.split(command)
    return dict(zip(argv[2::2], argv[3::2], strict=True))


def test_the_generated_parquet_gets_exactly_the_default_layout(tmp_path: Path) -> None:
    pq.write_table(generate_crm(rows=1500, seed=2), tmp_path / "crm.parquet")
    found = inspect_export(str(tmp_path / "crm.parquet"))
    assert flags(found.command()) == {
        "--input": str(tmp_path / "crm.parquet"),
        "--id-col": "customer_id",  # repeated by SCD2 history rows, still the id
        "--email-col": "email",
        "--high-value-col": "is_high_value",
        "--current-col": "is_current",
        "--text-cols": "job_title,bio",
        "--cat-cols": "industry,country",
        "--num-cols": "company_size,web_activity_score,email_engagement_score",
        "--date-cols": "created_date,last_activity_date",  # dates of the record, no outcome
        "--out": "artifacts",
    }
    roles = {c.name: (c.role, c.kind) for c in found.columns}
    assert roles["first_name"][0] == "skip" and roles["lifetime_value"][0] == "skip"
    assert found.complete and found.rows == 1650


def test_without_a_flag_a_value_column_is_the_label(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    rows = [f'D{i},{i % 7} seats,"{1000 + 37 * i:,}",Retail' for i in range(60)]
    path.write_text("Deal ID,Notes,Amount,Industry\n" + "\n".join(rows) + "\n")
    found = inspect_export(str(path))
    got = flags(found.command())
    assert got["--value-col"] == "Amount" and got["--value-quantile"] == "0.9"
    assert got["--id-col"] == "Deal ID"
    assert any("top 10% of 'Amount'" in n for n in found.notes)


def test_missing_id_and_label_are_notes_not_guesses(tmp_path: Path) -> None:
    path = tmp_path / "x.dat"
    path.write_text("Industry,Size\n" + "\n".join(f"Retail,{i}" for i in range(30)) + "\n")
    found = inspect_export(str(path), fmt="csv")
    assert "--id-col" not in flags(found.command())
    assert flags(found.command())["--format"] == "csv"  # no .csv extension: said explicitly
    assert any("no unique id column" in n for n in found.notes)
    assert any("no label found" in n for n in found.notes)
    assert "note: no label found" in found.render()


def test_rows_caps_what_is_read(tmp_path: Path) -> None:
    pq.write_table(generate_crm(rows=1500, seed=2), tmp_path / "crm.parquet")
    found = inspect_export(str(tmp_path / "crm.parquet"), max_rows=300)
    assert found.rows == 300 and not found.complete
    assert "(the first 300)" in found.render()

"""`leadgen inspect`: the roles it guesses and the command it prints (the command is run as printed
on CRM-like exports in tests/functional/test_crm_exports.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pyarrow.parquet as pq
import pytest

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
    assert roles["first_name"][0] == "identity" and roles["lifetime_value"][0] == "skip"
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


CRM_HEADERS = {
    "hubspot": (["Record ID", "First Name", "Last Name", "Email", "Company Name", "Phone Number",
                 "Street Address", "City", "Postal Code", "Country/Region", "Lifecycle Stage"],
                {"--first-name-col": "First Name", "--last-name-col": "Last Name",
                 "--company-col": "Company Name", "--phone-col": "Phone Number",
                 "--street-col": "Street Address", "--city-col": "City",
                 "--postcode-col": "Postal Code", "--country-col": "Country/Region"}),
    "salesforce": (["Id", "FirstName", "LastName", "Email", "Account Name", "MobilePhone",
                    "MailingStreet", "MailingCity", "MailingPostalCode", "Birthdate",
                    "StageName"],
                   {"--first-name-col": "FirstName", "--last-name-col": "LastName",
                    "--company-col": "Account Name", "--phone-col": "MobilePhone",
                    "--street-col": "MailingStreet", "--city-col": "MailingCity",
                    "--postcode-col": "MailingPostalCode", "--dob-col": "Birthdate"}),
    "pipedrive": (["Person - ID", "Person - Name", "Person - Email", "Organization - Name",
                   "Person - Phone", "Deal - Status"],
                  {"--full-name-col": "Person - Name", "--company-col": "Organization - Name",
                   "--phone-col": "Person - Phone"}),
    "dynamics": (["contactid", "firstname", "lastname", "emailaddress1", "companyname",
                  "telephone1", "address1_line1", "address1_city", "address1_postalcode",
                  "statuscode"],
                 {"--first-name-col": "firstname", "--last-name-col": "lastname",
                  "--company-col": "companyname", "--phone-col": "telephone1",
                  "--street-col": "address1_line1", "--city-col": "address1_city",
                  "--postcode-col": "address1_postalcode"}),
}  # fmt: skip


@pytest.mark.parametrize("crm", sorted(CRM_HEADERS))
def test_identity_columns_of_each_crm_are_flags_never_features(tmp_path: Path, crm: str) -> None:
    header, expected = CRM_HEADERS[crm]
    values = {
        "first": "Jane", "last": "Doe", "name": "Jane Doe", "mail": "jane{i}@x{i}.example",
        "company": "Acme {i} Ltd", "phone": "+1 555 010 {i:04d}", "street": "{i} Main St",
        "city": "Springfield", "post": "{i:05d}", "birth": "1980-01-{d:02d}",
    }  # fmt: skip
    rows = []
    for i in range(120):
        row = []
        for col in header:
            low = col.lower()
            kind = next((k for k in ("first", "last", "mail", "company", "account", "organ",
                                     "phone", "street", "line1", "city", "post", "birth", "name")
                         if k in low), None)  # fmt: skip
            kind = {"account": "company", "organ": "company", "line1": "street"}.get(kind, kind)
            if low.endswith("id"):
                row.append(str(1000 + i))
            elif kind is None:
                row.append(("won", "lost", "open")[i % 3])
            else:
                row.append(values[kind].format(i=i, d=1 + i % 28))
        rows.append(",".join(f'"{v}"' for v in row))
    path = tmp_path / f"{crm}.csv"
    path.write_text(",".join(f'"{h}"' for h in header) + "\n" + "\n".join(rows) + "\n")
    found = inspect_export(str(path))
    got = flags(found.command())
    assert {k: got.get(k) for k in expected} == expected
    features = ",".join(got.get(f, "") for f in ("--text-cols", "--cat-cols", "--num-cols"))
    identity = {v for k, v in expected.items() if k != "--country-col"}  # a country may be both
    assert not identity & set(features.split(","))

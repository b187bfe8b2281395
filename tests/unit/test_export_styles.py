"""The generated CRM re-spelled as Salesforce / HubSpot export it (leadgen.synthetic.export_styles):
what the CSV path of the demo and the tests relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from leadgen.cli import main
from leadgen.synthetic.crm import generate_crm
from leadgen.synthetic.export_styles import HUBSPOT, SALESFORCE, crm_export, write_csv


@pytest.fixture(scope="module")
def crm() -> pa.Table:
    return generate_crm(rows=2000, seed=3)


def test_salesforce_shape(crm: pa.Table) -> None:
    out = crm_export(crm, "salesforce")
    current = crm.filter(pc.field("is_current"))
    assert out.num_rows == current.num_rows  # current rows only: the CRM's present state
    assert {"Id", "Email", "Title", "Description", "StageName", "Created Date"} <= set(
        out.column_names
    )
    assert not {"customer_id", "is_high_value", "is_current"} & set(out.column_names)
    assert all(pa.types.is_string(f.type) for f in out.schema)
    ids = out["Id"].to_pylist()
    assert len(set(ids)) == len(ids) and all(len(i) == 18 and i.startswith("003") for i in ids)
    won = np.array([s == "Closed Won" for s in out["StageName"].to_pylist()])
    assert won.tolist() == current["is_high_value"].to_pylist()
    sizes = [s for s in out["Number of Employees"].to_pylist() if s]
    assert any("," in s for s in sizes)  # "1,234", as exports print counts


def test_hubspot_shape_and_blanks(crm: pa.Table) -> None:
    out = crm_export(crm, "hubspot")
    assert out["Record ID"].to_pylist()[0].isdigit()
    assert set(out["Lifecycle Stage"].to_pylist()) <= {"customer", *HUBSPOT.other_stages}
    blank = out["About"].null_count / out.num_rows
    assert 0.02 < blank < 0.07  # some empty cells, like a real export
    assert out["Lifecycle Stage"].null_count == 0 and out["Record ID"].null_count == 0


def test_deterministic_and_company_phone_carried_through(crm: pa.Table) -> None:
    """The contact columns (company, phone) keep their values under the CRM's names."""
    assert crm_export(crm, "salesforce", seed=1).equals(crm_export(crm, "salesforce", seed=1))
    assert {"company", "phone"} <= set(crm.column_names)
    out = crm_export(crm, "salesforce")
    assert "company" not in out.column_names and "phone" not in out.column_names
    pairs = set(zip(crm["company"].to_pylist(), crm["phone"].to_pylist(), strict=True))
    carried = list(zip(out["Company"].to_pylist(), out["Phone"].to_pylist(), strict=True))
    assert len(set(carried)) > 0.9 * out.num_rows and set(carried) <= pairs


def test_build_flags_name_existing_columns(crm: pa.Table) -> None:
    for st in (SALESFORCE, HUBSPOT):
        names = set(crm_export(crm, st.name).column_names)
        for flag, value in st.build_flags.items():
            if flag != "--high-value-values":
                assert set(value.split(",")) <= names, (st.name, flag)


def test_data_command_writes_a_crm_like_csv(tmp_path: Path) -> None:
    out = tmp_path / "contacts.csv.gz"
    assert main(["data", "--style", "hubspot", "--out", str(out), "--rows", "300"]) == 0
    table = pcsv.read_csv(out, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    assert table.num_rows == 300 and "Record ID" in table.column_names
    plain = tmp_path / "crm.csv"
    assert main(["data", "--format", "csv", "--out", str(plain), "--rows", "300"]) == 0
    assert "customer_id" in pcsv.read_csv(plain).column_names


def test_write_csv_is_atomic(tmp_path: Path, crm: pa.Table) -> None:
    target = tmp_path / "x.csv"
    target.write_text("old")
    with pytest.raises(Exception):  # noqa: B017 - any failure must leave the old file
        write_csv(pa.table({"a": pa.array([[1]])}), target)  # lists cannot be CSV
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_a_tsv_written_by_data_reads_back_by_name(tmp_path: Path) -> None:
    """`.tsv` is tab-separated both ways (the reader splits .tsv on tabs)."""
    from leadgen.stores.exports import open_export

    out = tmp_path / "contacts.tsv"
    assert main(["data", "--style", "hubspot", "--out", str(out), "--rows", "300"]) == 0
    assert "\t" in out.read_text().splitlines()[0]
    assert {"Record ID", "Lifecycle Stage"} <= set(open_export(str(out)).names)

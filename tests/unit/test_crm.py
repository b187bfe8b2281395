"""Reading the CRM export (build.reader) on a local filesystem: the shapes an export comes in and
the ways it comes broken. Each broken case is a named InputError or a counted drop, never a
pyarrow traceback; the S3 side of the same code is exercised in tests/functional/build_job_runs/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from leadgen.builder.reader import read_crm
from leadgen.config import ColumnSpec, HighValueRule
from leadgen.errors import InputError

ROWS = 400


@pytest.fixture(scope="module")
def crm() -> pa.Table:
    from leadgen.synthetic.crm import generate_crm

    return generate_crm(rows=ROWS, seed=5)


def read(path: Path | str, spec: ColumnSpec | None = None) -> object:
    return read_crm(str(path), spec or ColumnSpec(), HighValueRule())


def test_single_file_keeps_current_rows_only(tmp_path: Path, crm: pa.Table) -> None:
    pq.write_table(crm, tmp_path / "crm.parquet")
    table = read_crm(str(tmp_path / "crm.parquet"), ColumnSpec(), HighValueRule())
    assert len(table) == ROWS
    assert table.rows_read == crm.num_rows
    assert table.dropped["not_current"] == crm.num_rows - ROWS
    assert table.dropped["duplicate_id"] == 0
    current = crm.filter(pc.field("is_current"))
    assert table.ids.tolist() == current["customer_id"].to_pylist()
    assert table.columns["bio"] == current["bio"].to_pylist()
    assert table.emails == current["email"].to_pylist()


def test_folder_of_parts_ignores_hidden_markers(tmp_path: Path, crm: pa.Table) -> None:
    half = crm.num_rows // 2
    pq.write_table(crm.slice(0, half), tmp_path / "part-0.parquet")
    pq.write_table(crm.slice(half), tmp_path / "part-1.parquet")
    (tmp_path / "_SUCCESS").write_bytes(b"")  # zero bytes, but a marker, not a part
    (tmp_path / ".part-0.parquet.crc").write_bytes(b"")
    table = read_crm(str(tmp_path), ColumnSpec(), HighValueRule())
    assert len(table) == ROWS and table.rows_read == crm.num_rows


def test_hive_partitioned_dataset(tmp_path: Path, crm: pa.Table) -> None:
    """A partition column (here `country`, a configured categorical) comes from the path."""
    pq.write_to_dataset(crm, tmp_path / "ds", partition_cols=["country"])
    assert any(p.name.startswith("country=") for p in (tmp_path / "ds").iterdir())
    table = read_crm(str(tmp_path / "ds"), ColumnSpec(), HighValueRule())
    assert len(table) == ROWS
    current = crm.filter(pc.field("is_current"))
    ids, countries = current["customer_id"].to_pylist(), current["country"].to_pylist()
    expected = dict(zip(ids, countries, strict=True))
    got = dict(zip(table.ids.tolist(), table.columns["country"], strict=True))
    assert got == expected


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.parquet: not found"):
        read(tmp_path / "nope.parquet")


def test_zero_byte_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "crm.parquet").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file \(0 bytes\): .*crm\.parquet"):
        read(tmp_path / "crm.parquet")


def test_zero_byte_part_among_good_parts_is_fatal(tmp_path: Path, crm: pa.Table) -> None:
    """Building from the readable half would publish a silently smaller index."""
    pq.write_table(crm, tmp_path / "part-0.parquet")
    (tmp_path / "part-1.parquet").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file \(0 bytes\): .*part-1\.parquet"):
        read(tmp_path)


def test_not_parquet_is_named(tmp_path: Path) -> None:
    (tmp_path / "crm.parquet").write_text("customer_id,bio\n1,hello\n")
    with pytest.raises(InputError, match="cannot read as parquet"):
        read(tmp_path / "crm.parquet")


def test_schema_without_rows(tmp_path: Path, crm: pa.Table) -> None:
    pq.write_table(crm.slice(0, 0), tmp_path / "crm.parquet")
    with pytest.raises(InputError, match="no rows"):
        read(tmp_path / "crm.parquet")


def test_missing_configured_column_is_named_with_the_available_ones(
    tmp_path: Path, crm: pa.Table
) -> None:
    pq.write_table(crm.drop_columns(["bio"]), tmp_path / "crm.parquet")
    with pytest.raises(
        InputError, match=r"column 'bio' not found \(--text-cols\); columns: .*job_ti"
    ):
        read(tmp_path / "crm.parquet")
    pq.write_table(crm, tmp_path / "crm.parquet")
    spec = ColumnSpec(num_cols=("company_size", "annual_revenue"))
    with pytest.raises(InputError, match="'annual_revenue' not found"):
        read(tmp_path / "crm.parquet", spec)


def test_duplicate_ids_keep_the_first_and_are_counted(tmp_path: Path, crm: pa.Table) -> None:
    current = crm.filter(pc.field("is_current"))
    again = current.slice(0, 9)
    pq.write_table(pa.concat_tables([crm, again]), tmp_path / "crm.parquet")
    table = read_crm(str(tmp_path / "crm.parquet"), ColumnSpec(), HighValueRule())
    assert len(table) == ROWS
    assert table.dropped["duplicate_id"] == 9
    assert len(set(table.ids.tolist())) == ROWS


def test_missing_ids_are_counted(tmp_path: Path, crm: pa.Table) -> None:
    ids = crm["customer_id"].to_pylist()
    current_rows = [i for i, cur in enumerate(crm["is_current"].to_pylist()) if cur]
    for i in current_rows[:4]:
        ids[i] = None
    idx = crm.schema.get_field_index("customer_id")
    broken = crm.set_column(idx, "customer_id", pa.array(ids, pa.int64()))
    pq.write_table(broken, tmp_path / "crm.parquet")
    table = read_crm(str(tmp_path / "crm.parquet"), ColumnSpec(), HighValueRule())
    assert table.dropped["missing_id"] == 4
    assert len(table) == ROWS - 4


def test_non_numeric_values_in_a_numeric_column_are_counted(tmp_path: Path, crm: pa.Table) -> None:
    sizes = pc.cast(crm["company_size"], pa.string()).to_pylist()
    current_rows = [i for i, cur in enumerate(crm["is_current"].to_pylist()) if cur]
    for i in current_rows[:5]:
        sizes[i] = "unknown"
    sizes[current_rows[5]] = None  # missing is not "non-numeric"
    idx = crm.schema.get_field_index("company_size")
    messy = crm.set_column(idx, "company_size", pa.array(sizes, pa.string()))
    pq.write_table(messy, tmp_path / "crm.parquet")
    table = read_crm(str(tmp_path / "crm.parquet"), ColumnSpec(), HighValueRule())
    assert table.dropped["non_numeric_values"] == 5
    values = table.columns["company_size"]
    assert int(np.isnan(values).sum()) == 6
    assert np.isfinite(values).sum() == ROWS - 6


def test_numeric_column_of_a_non_numeric_type_is_named(tmp_path: Path, crm: pa.Table) -> None:
    idx = crm.schema.get_field_index("company_size")
    dates = pa.array(np.zeros(crm.num_rows, dtype="datetime64[D]"))
    pq.write_table(crm.set_column(idx, "company_size", dates), tmp_path / "crm.parquet")
    with pytest.raises(InputError, match="numeric column 'company_size' has type date"):
        read(tmp_path / "crm.parquet")

"""CRM exports as CRMs write them: CSV(.gz), their own column names, text ids, "1,234", empty
cells, a stage name for a label. And the broken ones: each is a named InputError (with the closest
column names, or the row and value at fault) or a counted warning, never a traceback or a model
silently built on garbage.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadgen.builder.reader import read_crm
from leadgen.config import BuildConfig, ColumnSpec, HighValueRule, KeyColumns
from leadgen.errors import ConfigError, InputError
from leadgen.stores.conventions import read_numbers
from leadgen.stores.exports import closest

HEADER = "Id,Email,Title,Description,Industry,Number of Employees,StageName,Is Current\n"
ROWS = [
    '0015g00000AbCdEAA1,ada@example.com,CTO,Runs data platforms.,Software,"1,200",Closed Won,TRUE',
    "0015g00000AbCdEAA2,,Intern,,Retail,12,Prospecting,true",
    '00123,bob@example.com,VP Sales,"Scaling a team,\nacross two lines",,"$3,400",closed won,1',
    "0015g00000AbCdEAA4,cy@example.com,Analyst,Reads reports.,Finance,,Closed Lost,false",
    "0015g00000AbCdEAA5,di@example.com,Analyst,Reads reports.,Finance,40,Closed Lost,yes",
]
SPEC = ColumnSpec(
    text_cols=("Title", "Description"), cat_cols=("Industry",), num_cols=("Number of Employees",)
)
RULE = HighValueRule(column="StageName", values=("Closed Won",))
KEYS = KeyColumns(id="Id", email="Email", current="Is Current")


def write_csv(path: Path, rows: list[str] = ROWS, header: str = HEADER) -> Path:
    text = header + "\n".join(rows) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("keys", KEYS)
    keys = kwargs.pop("keys")
    return read_crm(str(path), kwargs.pop("spec", SPEC), kwargs.pop("rule", RULE), keys, **kwargs)


@pytest.mark.parametrize("name", ["crm.csv", "crm.csv.gz"])
def test_a_salesforce_like_csv_is_read_by_its_own_names(tmp_path: Path, name: str) -> None:
    table = read(write_csv(tmp_path / name))
    assert table.ids.tolist() == [
        "0015g00000AbCdEAA1",
        "0015g00000AbCdEAA2",
        "00123",  # a text id keeps its leading zeros
        "0015g00000AbCdEAA5",
    ]  # row 4 is not current
    assert table.dropped["not_current"] == 1
    assert table.labels.tolist() == [True, False, True, False]  # "closed won" in any case
    assert table.emails == ["ada@example.com", None, "bob@example.com", "di@example.com"]
    assert table.columns["Description"][2] == "Scaling a team,\nacross two lines"
    assert table.columns["Description"][1] is None  # an empty cell is missing
    assert table.columns["Industry"][2] is None
    np.testing.assert_array_equal(table.columns["Number of Employees"], [1200, 12, 3400, 40])
    assert table.email_col == "Email"


def test_a_csv_without_a_known_ending_is_read_by_its_first_bytes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.dat")
    assert len(read(path)) == 4  # neither parquet's nor a zip's magic bytes: text
    assert len(read(path, fmt="csv")) == 4
    with pytest.raises(InputError, match="cannot read as parquet"):
        read(path, fmt="parquet")


def test_integer_ids_of_a_parquet_export_stay_integers(tmp_path: Path) -> None:
    from leadgen.synthetic.crm import generate_crm

    pq.write_table(generate_crm(rows=100, seed=3), tmp_path / "crm.parquet")
    table = read_crm(str(tmp_path / "crm.parquet"), ColumnSpec(), HighValueRule())
    assert table.ids.dtype == np.int64


def test_a_missing_configured_column_names_the_closest_ones(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "crm.csv")
    with pytest.raises(InputError) as raised:
        read(path, keys=KeyColumns(id="Id", email="E-mail"))
    assert "column 'E-mail' not found (--email-col); closest: 'Email'" in str(raised.value)
    with pytest.raises(
        InputError, match=r"'Stage Name' not found \(--high-value-col\); closest: 'StageName'"
    ):
        read(path, rule=HighValueRule(column="Stage Name", values=("Closed Won",)))
    with pytest.raises(InputError, match=r"'id' not found \(--id-col\); closest: 'Id'"):
        read(path, keys=KeyColumns(id="id"))


def test_default_key_columns_are_optional_when_absent(tmp_path: Path) -> None:
    """No `email` / `is_current` column and none configured: no emails, no SCD2 filter."""
    table = read(write_csv(tmp_path / "crm.csv"), keys=KeyColumns(id="Id"))
    assert table.emails is None and len(table) == 5


def test_a_flag_column_that_is_not_a_flag_is_named(tmp_path: Path) -> None:
    rows = [r.replace(",TRUE", ",maybe") for r in ROWS]
    with pytest.raises(InputError, match=r"column 'Is Current' must be true/false .*row 1") as e:
        read(write_csv(tmp_path / "crm.csv", rows))
    assert "maybe" not in str(e.value)  # the row's value is not quoted


def test_a_text_label_without_values_shows_its_common_values(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        read(write_csv(tmp_path / "crm.csv"), rule=HighValueRule(column="StageName"))
    message = str(raised.value)
    assert "'StageName' is not a true/false flag" in message
    assert "'closed won' (2)" in message and "--high-value-values" in message


def test_boolean_and_true_false_text_labels_keep_working(tmp_path: Path) -> None:
    rows = [r.replace("Closed Won", "true").replace("Closed Lost", "false") for r in ROWS]
    rows = [r.replace("Prospecting", "FALSE").replace("closed won", "Yes") for r in rows]
    table = read(write_csv(tmp_path / "crm.csv", rows), rule=HighValueRule(column="StageName"))
    assert table.labels.tolist() == [True, False, True, False]


def test_a_few_non_numbers_are_counted_with_an_example_row(tmp_path: Path) -> None:
    rows = [*ROWS, *(f"id{i},,t,d,Retail,{i},Prospecting,true" for i in range(40))]
    rows.append("idX,,t,d,Retail,about 50,Prospecting,true")
    table = read(write_csv(tmp_path / "crm.csv", rows))
    assert table.dropped["non_numeric_values"] == 1
    assert table.non_numeric["Number of Employees"] == {
        "count": 1,
        "share": round(1 / 45, 4),
        "example_row": 46,
    }
    assert table.warnings == [
        "numeric column 'Number of Employees': 1 of 45 values (2.2%) are not numbers "
        "(e.g. row 46); they count as missing"
    ]


def test_many_non_numbers_fail_in_one_line_naming_column_and_row_not_value(tmp_path: Path) -> None:
    rows = [r.replace('"1,200"', "lots") for r in ROWS]
    with pytest.raises(InputError) as raised:
        read(write_csv(tmp_path / "crm.csv", rows))
    message = str(raised.value)
    assert "\n" not in message
    assert "numeric column 'Number of Employees': 1 of 4 values (25.0%) are not numbers" in message
    assert "(e.g. row 1)" in message and "--max-non-numeric" in message
    assert "lots" not in message  # a row's value is never quoted
    assert len(read(write_csv(tmp_path / "crm.csv", rows), max_non_numeric=0.5)) == 4


def test_a_non_number_that_is_an_email_is_not_echoed(tmp_path: Path) -> None:
    rows = [r.replace('"1,200"', "ada@example.com") for r in ROWS]
    with pytest.raises(InputError) as raised:
        read(write_csv(tmp_path / "crm.csv", rows))
    assert "ada@example.com" not in str(raised.value)
    assert "(e.g. row 1)" in str(raised.value)


# ---- hardening: exports that used to build on garbage -----------------------------------------
def _parquet(tmp_path: Path, **columns: Any) -> Path:
    from leadgen.synthetic.crm import generate_crm

    table = generate_crm(rows=200, seed=4)
    for name, values in columns.items():
        idx = table.schema.get_field_index(name)
        table = table.set_column(idx, name, values(table.num_rows))
    pq.write_table(table, tmp_path / "crm.parquet")
    return tmp_path / "crm.parquet"


def test_an_all_null_numeric_column_is_refused_by_name(tmp_path: Path) -> None:
    """Refused, not published with numpy's "Mean of empty slice" as the only sign."""
    path = _parquet(tmp_path, company_size=lambda n: pa.nulls(n, pa.float64()))
    with pytest.raises(InputError, match="numeric column 'company_size' has no numbers"):
        read_crm(str(path), ColumnSpec(), HighValueRule())


def test_an_all_garbage_numeric_column_is_refused_by_name(tmp_path: Path) -> None:
    path = _parquet(tmp_path, company_size=lambda n: pa.array(["n/a"] * n))
    with pytest.raises(InputError, match=r"numeric column 'company_size': 220 of 200|200 of 200"):
        read_crm(str(path), ColumnSpec(), HighValueRule())


def test_a_binary_text_column_is_decoded_not_embedded_as_its_repr(tmp_path: Path) -> None:
    """Decoded, never embedded as "b'Works on ...'"."""
    from leadgen.synthetic.crm import generate_crm

    bios = generate_crm(rows=200, seed=4)["bio"]
    path = _parquet(tmp_path, bio=lambda n: pa.array([b.encode() for b in bios.to_pylist()]))
    table = read_crm(str(path), ColumnSpec(), HighValueRule())
    assert not any(str(b).startswith("b'") for b in table.columns["bio"])
    assert set(table.columns["bio"]) <= set(bios.to_pylist())
    assert table.warnings == ["text column 'bio' is stored as binary; decoded as UTF-8 text"]


def test_a_binary_column_that_is_not_text_is_refused_by_name(tmp_path: Path) -> None:
    path = _parquet(
        tmp_path, bio=lambda n: pa.array([b"\xff\xfe\x00" + bytes([i % 256]) for i in range(n)])
    )
    with pytest.raises(InputError, match="text column 'bio' holds binary data that is not UTF-8"):
        read_crm(str(path), ColumnSpec(), HighValueRule())


def test_a_list_column_as_text_is_refused_by_name(tmp_path: Path) -> None:
    path = _parquet(tmp_path, industry=lambda n: pa.array([["a", "b"]] * n))
    with pytest.raises(InputError, match="column 'industry' has type list<"):
        read_crm(str(path), ColumnSpec(), HighValueRule())


# ---- pieces -----------------------------------------------------------------------------------
def test_numbers_as_exports_spell_them() -> None:
    """With '.' decided as the decimal mark: "1,234" is a thousands group; "1,23" can only be a
    decimal comma (a group has three digits), so it reads 1.23 whatever the column decided."""
    values, bad = read_numbers(
        pa.array(["1,234", " 12 ", "$1,000.50", "1.5e3", "-3", ".5", "1,23", "", None, "12 kg"]),
        ".",
    )
    np.testing.assert_array_equal(values[:7], [1234, 12, 1000.5, 1500, -3, 0.5, 1.23])
    assert np.isnan(values[7:]).all()
    assert bad.tolist() == [False] * 9 + [True]  # empty and null are missing, not bad


def test_closest_prefers_the_same_name_in_another_case() -> None:
    names = ["Email", "Email Opt Out", "Id", "Record ID"]
    assert closest("email", names)[0] == "Email"
    assert closest("record_id", names)[0] == "Record ID"
    assert closest("zzz", names) == []


def test_key_columns_and_rule_from_the_environment() -> None:
    cfg = BuildConfig.from_env(
        {
            "LEADGEN_ID_COL": "Record ID",
            "LEADGEN_EMAIL_COL": "Email",
            "LEADGEN_CURRENT_COL": "Is Current",
            "LEADGEN_HIGH_VALUE_COL": "Lifecycle Stage",
            "LEADGEN_HIGH_VALUE_VALUES": "customer, evangelist",
            "LEADGEN_INPUT_FORMAT": "csv",
            "LEADGEN_MAX_NON_NUMERIC": "0.2",
        }
    )
    assert cfg.keys == KeyColumns(id="Record ID", email="Email", current="Is Current")
    assert cfg.high_value == HighValueRule("Lifecycle Stage", values=("customer", "evangelist"))
    assert (cfg.input_format, cfg.max_non_numeric) == ("csv", 0.2)
    with pytest.raises(ConfigError, match="input format"):
        BuildConfig.from_env({"LEADGEN_INPUT_FORMAT": "xls"})

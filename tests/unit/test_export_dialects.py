"""Exports as people save them, written here by the tests' own code in the shapes real tools
produce (Salesforce, HubSpot, Pipedrive and Dynamics column names; Excel in Europe; Excel's
"Unicode Text"; Windows-1252; .xlsx written with openpyxl), read by the build's reader. The
parsed VALUES are checked, not only that the file opens; what cannot be read right is refused
by name, never misread, and no message quotes a row's values.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadgen.builder.reader import CrmTable, read_crm
from leadgen.config import ColumnSpec, HighValueRule, KeyColumns, ReadSettings
from leadgen.errors import InputError
from leadgen.stores.exports import open_export

# A Salesforce account report as Excel in Germany saves it ("CSV (Trennzeichen-getrennt)").
SF_HEADER = [
    "Account ID",
    "Account Name",
    "Billing Country",
    "Industry",
    "Description",
    "No. of Employees",
    "Engagement Score",
    "Annual Revenue",
    "Created Date",
    "Last Activity",
    "Stage",
]
SF_ROWS = [
    ["0015g00000A1", "Müller GmbH", "Deutschland", "Maschinenbau", "Große Anlagen;\nweltweit",
     "6.787", "0,33", "1.234.567,89 €", "05.03.2024", "04.06.2025", "Closed Won"],
    ["0015g00000A2", "Café Crème SARL", "France", "Gastronomie", "Petite équipe",
     "45", "0,9", "12.500,00 €", "17.01.2023", "", "Prospecting"],
    ["0015g00000A3", "Zoë & Søn ApS", "Danmark", "Software", "",
     "1.200", "0,125", "980,50 €", "28.02.2022", "30.06.2025", "Closed Lost"],
    ["0015g00000A4", "Łódź Sp. z o.o.", "Polska", "Software", "Import/Export",
     "", "n/a", "", "01.12.2021", "15.05.2025", "Closed Won"],
]  # fmt: skip
SF_SPEC = ColumnSpec.with_dates(
    text_cols=("Description",),
    cat_cols=("Industry", "Billing Country"),
    num_cols=("No. of Employees", "Engagement Score"),
    date_cols=("Created Date", "Last Activity"),
)
SF_RULE = HighValueRule("Stage", values=("Closed Won",))
SF_KEYS = KeyColumns(id="Account ID")
AS_OF = "2025-06-30"


def write_text(
    path: Path,
    rows: list[list[str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    bom: bool = False,
    eol: str = "\n",
) -> Path:
    """`rows` (header first) as a tool writes them: its delimiter, encoding, BOM, line ends."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=eol).writerows(rows)
    data = out.getvalue().encode(encoding)
    if bom:
        data = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe"}[encoding] + data
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def eu_excel(path: Path, rows: list[list[str]] | None = None) -> Path:
    return write_text(path, [SF_HEADER, *(rows or SF_ROWS)], delimiter=";", bom=True, eol="\r\n")


def read_sf(path: Path, **kwargs: Any) -> CrmTable:
    kwargs.setdefault("as_of", AS_OF)
    return read_crm(str(path), SF_SPEC, SF_RULE, SF_KEYS, max_non_numeric=0.3, **kwargs)


def days(day: str, as_of: str = AS_OF) -> float:
    moment = datetime.strptime(day, "%d.%m.%Y").replace(tzinfo=UTC)
    return (datetime.fromisoformat(as_of).replace(tzinfo=UTC) - moment).total_seconds() / 86400


@pytest.mark.parametrize("name", ["report.csv", "report.csv.gz"])
def test_a_european_excel_export_is_read_as_its_people_wrote_it(tmp_path: Path, name: str) -> None:
    table = read_sf(eu_excel(tmp_path / name))
    assert table.source == "csv (semicolon-separated, UTF-8 with BOM, CRLF)"
    # "6.787" alone could be 6.787 or 6787: the file's decimal commas ("0,33") decide
    np.testing.assert_array_equal(table.columns["No. of Employees"], [6787, 45, 1200, np.nan])
    np.testing.assert_allclose(table.columns["Engagement Score"], [0.33, 0.9, 0.125, np.nan])
    created = table.columns["Created Date"]
    assert created[0] == days("05.03.2024")  # 5 March, not 3 May
    np.testing.assert_allclose(created, [days(d) for d in ("05.03.2024", "17.01.2023",
                                         "28.02.2022", "01.12.2021")])  # fmt: skip
    assert np.isnan(table.columns["Last Activity"][1])  # an empty cell is a missing date
    assert table.columns["Description"][0] == "Große Anlagen;\nweltweit"
    assert table.labels.tolist() == [True, False, False, True]
    assert table.formats.decimal == {"No. of Employees": ",", "Engagement Score": ","}
    assert table.formats.dates["Created Date"].order is None  # dotted: always day first
    assert table.non_numeric["Engagement Score"]["example_row"] == 4  # "n/a": counted, by row
    assert any("'No. of Employees': decimal ','" in c for c in table.conventions)


def test_a_column_decides_its_own_mark_before_the_file(tmp_path: Path) -> None:
    """A column with "1.234.567" reads its "6.787" as 6787 even in a file of decimal points."""
    header = ["Record ID", "Number of Employees", "Web Activity Score", "Lifecycle Stage"]
    rows = [["1", "6.787", "0.5", "customer"], ["2", "1.234.567", "0.25", "lead"]]
    rows += [[str(i), "12", "0.1", "lead"] for i in range(3, 9)]
    path = write_text(tmp_path / "hubspot.csv", [header, *rows])
    spec = ColumnSpec(
        text_cols=(), cat_cols=(), num_cols=("Number of Employees", "Web Activity Score")
    )
    table = read_crm(str(path), spec, HighValueRule("Lifecycle Stage", values=("customer",)),
                     KeyColumns(id="Record ID"))  # fmt: skip
    assert table.columns["Number of Employees"][:2].tolist() == [6787, 1234567]
    assert table.formats.decimal == {"Number of Employees": ",", "Web Activity Score": "."}


def test_excel_unicode_text_reads_the_same_table_as_its_utf8_twin(tmp_path: Path) -> None:
    """Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated, CRLF."""
    utf16 = write_text(tmp_path / "report.txt", [SF_HEADER, *SF_ROWS], delimiter="\t",
                       encoding="utf-16-le", bom=True, eol="\r\n")  # fmt: skip
    twin = eu_excel(tmp_path / "report.csv")
    a, b = read_sf(utf16), read_sf(twin)
    assert a.source == "csv (tab-separated, UTF-16 with BOM, CRLF)"
    assert_same_table(a, b)


def test_windows_1252_is_read_when_its_bytes_say_so(tmp_path: Path) -> None:
    """A Dynamics 365 export saved by an older tool: Windows-1252, comma, decimal points."""
    header = ["Account Number", "Account Name", "Industry", "Number of Employees", "Status Reason"]
    rows = [
        ["A-1", "Müller & Söhne – Köln", "Maschinenbau", "1,250", "Won"],
        ["A-2", "Crème Brûlée S.à r.l.", "Gastronomie", "12.5", "Open"],
        ["A-3", "Peña Ñandú S.A. €", "Retail", "40", "Won"],
    ]
    spec = ColumnSpec(text_cols=(), cat_cols=("Industry",), num_cols=("Number of Employees",))
    rule, keys = HighValueRule("Status Reason", values=("Won",)), KeyColumns(id="Account Number")
    legacy = write_text(tmp_path / "accounts.csv", [header, *rows], encoding="cp1252")
    twin = write_text(tmp_path / "accounts-utf8.csv", [header, *rows])
    a = read_crm(str(legacy), spec, rule, keys)
    b = read_crm(str(twin), spec, rule, keys)
    assert a.source == "csv (comma-separated, Windows-1252, LF)"
    assert a.columns["Industry"] == ["Maschinenbau", "Gastronomie", "Retail"]
    assert open_export(str(legacy)).names == header
    assert_same_table(a, b)
    np.testing.assert_array_equal(a.columns["Number of Employees"], [1250, 12.5, 40])


def test_an_encoding_the_bytes_do_not_support_is_refused_with_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    text = "Id,Имя,Город\n1,Иван Петров,Москва\n2,Ольга Смирнова,Казань\n"
    path.write_bytes(text.encode("cp1251"))
    with pytest.raises(InputError) as refused:
        open_export(str(path))
    message = str(refused.value)
    assert "not UTF-8 at byte 3" in message and "cp1251" in message and "--encoding" in message
    assert "\n" not in message
    assert open_export(str(path), encoding="cp1251").names == ["Id", "Имя", "Город"]


def test_a_bad_byte_beyond_the_sample_is_found_while_streaming(tmp_path: Path) -> None:
    """The first MB is UTF-8, so the file is read as such; a byte deep inside is not: refused
    with its offset, nothing misread."""
    path = tmp_path / "big.csv"
    line = "0015g00000X,Plain ASCII text for a long export,Software,12\n"
    body = ("Id,Description,Industry,Employees\n" + line * 40_000).encode()
    path.write_bytes(body + b"0015g00000Y,caf\xe9,Retail,3\n")
    spec = ColumnSpec(text_cols=("Description",), cat_cols=(), num_cols=())
    with pytest.raises(InputError, match=rf"not UTF-8 at byte {len(body) + 15}\b"):
        read_crm(str(path), spec, HighValueRule("Industry", values=("Software",)), KeyColumns("Id"))


def test_a_delimiter_nothing_decides_is_refused_and_can_be_said(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("a;b,c\n1;2,3\n4;5,6\n")  # two columns by ';', two by ','
    with pytest.raises(InputError, match="cannot tell the delimiter.*--delimiter"):
        open_export(str(path))
    assert open_export(str(path), delimiter=";").names == ["a", "b,c"]
    assert open_export(str(path), delimiter=",").names == ["a;b", "c"]


def test_a_ragged_row_is_named_by_number_and_columns_never_by_its_values(tmp_path: Path) -> None:
    """Row 41 has an unquoted ';' in a name: refused by its row and line number and the header's
    column names; none of the row's values (a name, an email) is in the message."""
    good = [[f"0015g{i:07d}", *SF_ROWS[i % 4][1:]] for i in range(40)]
    ragged = ["0015g00000A9", "Jane Doe;jane.doe@example.com", "Danmark", *SF_ROWS[2][3:]]
    text = io.StringIO()
    csv.writer(text, delimiter=";", lineterminator="\r\n").writerows([SF_HEADER, *good])
    path = tmp_path / "ragged.csv"
    path.write_text(text.getvalue() + ";".join(ragged) + "\r\n", encoding="utf-8")
    lines = text.getvalue().count("\n") + 1
    with pytest.raises(InputError) as refused:
        read_sf(path)
    message = str(refused.value)
    assert f"row 41 (line {lines}) has 12 cells, the header 11 columns" in message
    assert "'Account ID', 'Account Name'" in message and "\n" not in message
    for value in ("Jane", "jane.doe@example.com", "Danmark", "0015g00000A9"):
        assert value not in message


def test_an_xlsx_export_reads_the_same_values_as_its_csv_twin(tmp_path: Path) -> None:
    """Numbers and dates typed by Excel, text as text, empty and error cells: the same values
    as the European CSV Excel would save from it."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Accounts"
    sheet.append(SF_HEADER)
    typed: list[list[Any]] = [
        ["0015g00000A1", "Müller GmbH", "Deutschland", "Maschinenbau", "Große Anlagen;\nweltweit",
         6787, 0.33, 1234567.89, date(2024, 3, 5), date(2025, 6, 4), "Closed Won"],
        ["0015g00000A2", "Café Crème SARL", "France", "Gastronomie", "Petite équipe",
         45, 0.9, 12500, datetime(2023, 1, 17), None, "Prospecting"],
        ["0015g00000A3", "Zoë & Søn ApS", "Danmark", "Software", None,
         1200, 0.125, 980.5, date(2022, 2, 28), date(2025, 6, 30), "Closed Lost"],
        ["0015g00000A4", "Łódź Sp. z o.o.", "Polska", "Software", "Import/Export",
         None, "#N/A", None, date(2021, 12, 1), date(2025, 5, 15), "Closed Won"],
    ]  # fmt: skip
    for row in typed:
        sheet.append(row)
    book.create_sheet("Notes").append(["not the data"])
    book.save(tmp_path / "report.xlsx")
    a, b = read_sf(tmp_path / "report.xlsx"), read_sf(eu_excel(tmp_path / "report.csv"))
    assert a.source == "xlsx (sheet 'Accounts')"
    assert_same_table(a, b)
    with pytest.raises(InputError, match="no sheet 'Leads'.*'Accounts', 'Notes'"):
        read_sf(tmp_path / "report.xlsx", reading=ReadSettings(sheet="Leads"))


def test_an_undecidable_column_is_refused_by_name_and_can_be_said(tmp_path: Path) -> None:
    """Tab-separated (no delimiter convention), every value ambiguous: refused, not guessed."""
    header = ["Person - ID", "Organization - Number of employees", "Deal - Status"]
    rows = [["1", "1.200", "won"], ["2", "6.787", "lost"], ["3", "12", "won"]]
    path = write_text(tmp_path / "pipedrive.tsv", [header, *rows], delimiter="\t")
    spec = ColumnSpec(text_cols=(), cat_cols=(), num_cols=("Organization - Number of employees",))
    rule, keys = HighValueRule("Deal - Status", values=("won",)), KeyColumns(id="Person - ID")
    with pytest.raises(InputError) as refused:
        read_crm(str(path), spec, rule, keys)
    message = str(refused.value)
    assert "'Organization - Number of employees'" in message and "--decimal" in message
    assert "e.g. row 1" in message and "6.787" not in message.split("(like")[0]
    table = read_crm(str(path), spec, rule, keys, reading=ReadSettings(decimal=","))
    assert table.columns["Organization - Number of employees"].tolist() == [1200, 6787, 12]


def test_an_undecidable_day_month_order_is_refused_and_can_be_said(tmp_path: Path) -> None:
    header = ["Id", "Industry", "Last Activity Date", "Stage"]
    rows = [["1", "Retail", "05/03/2024", "won"], ["2", "Software", "04/07/2024", "lost"]]
    path = write_text(tmp_path / "acts.csv", [header, *rows])
    spec = ColumnSpec.with_dates((), ("Industry",), (), ("Last Activity Date",))
    rule, keys = HighValueRule("Stage", values=("won",)), KeyColumns(id="Id")
    with pytest.raises(InputError, match="date column 'Last Activity Date'.*--dayfirst"):
        read_crm(str(path), spec, rule, keys)
    table = read_crm(str(path), spec, rule, keys, reading=ReadSettings(dayfirst=True),
                     as_of="2024-07-05")  # fmt: skip
    assert table.columns["Last Activity Date"].tolist() == [122.0, 1.0]  # 5 March, 4 July


def test_the_snapshot_is_the_newest_date_unless_as_of_says(tmp_path: Path) -> None:
    """HubSpot writes ISO date-times; the reference is the export's newest date (recorded)."""
    header = ["Record ID", "Industry", "Create Date", "Last Activity Date", "Lifecycle Stage"]
    rows = [
        ["1", "Retail", "2024-01-01 09:00", "2025-06-29 18:00", "customer"],
        ["2", "Software", "2024-02-01 09:00", "2025-06-30 12:00", "lead"],
        ["3", "Software", "2023-02-01 09:00", "", "lead"],
    ]
    path = write_text(tmp_path / "hubspot.csv", [header, *rows])
    spec = ColumnSpec.with_dates((), ("Industry",), (), ("Create Date", "Last Activity Date"))
    rule, keys = HighValueRule("Lifecycle Stage", values=("customer",)), KeyColumns("Record ID")
    table = read_crm(str(path), spec, rule, keys)
    newest = datetime(2025, 6, 30, 12, tzinfo=UTC).timestamp()
    assert table.formats.reference == newest
    assert table.columns["Last Activity Date"][:2].tolist() == [0.75, 0.0]
    assert np.isnan(table.columns["Last Activity Date"][2])
    later = read_crm(str(path), spec, rule, keys, as_of="2025-07-10")
    assert later.columns["Last Activity Date"][1] == 9.5


def assert_same_table(a: CrmTable, b: CrmTable) -> None:
    assert a.ids.tolist() == b.ids.tolist()
    assert a.labels.tolist() == b.labels.tolist()
    assert set(a.columns) == set(b.columns)
    for col, values in a.columns.items():
        if isinstance(values, np.ndarray):
            np.testing.assert_allclose(values, b.columns[col], err_msg=col)
        else:
            assert values == b.columns[col], col

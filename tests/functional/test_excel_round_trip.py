"""A European Excel export, as the README walks it: inspect -> build (the printed command, as
printed) -> score-file -> back into Excel. The scored file comes back in the dialect it came in
(';', decimal commas in the scores, UTF-8 with a byte-order mark, CRLF: what Excel in Europe
opens as columns), an .xlsx lead file comes back as .xlsx with its numbers and dates typed, and
`--out-format` writes any other form. A ragged lead file is refused by row, not by its values.
"""

from __future__ import annotations

import io
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from leadgen.cli import main
from leadgen.serve.bulk import OUTPUT_COLUMNS
from leadgen.stores.exports import open_export

ACCOUNTS, LEADS = 1500, 200


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The README's steps, run as printed (the hashing embedder added to keep it fast)."""
    work = tmp_path_factory.mktemp("excel")
    accounts, leads = work / "exports" / "accounts.csv", work / "exports" / "leads.csv"
    data = ["data", "--style", "salesforce", "--dialect", "excel-eu"]
    assert main([*data, "--out", str(accounts), "--rows", str(ACCOUNTS)]) == 0
    assert main([*data, "--out", str(leads), "--rows", str(LEADS), "--seed", "1"]) == 0
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        assert main(["inspect", str(accounts)]) == 0
    printed = out.getvalue()
    command = printed.split("suggested build command:")[1].strip()
    argv = shlex.split(command)
    assert argv[:2] == ["leadgen", "build"]
    artifacts = work / "artifacts"
    argv = [*argv[1:], "--embedder", "hashing", "--quiet"]
    argv[argv.index("--out") + 1] = str(artifacts)
    assert main(argv) == 0
    (work / "inspect.txt").write_text(printed)
    return {"work": work, "accounts": accounts, "leads": leads, "artifacts": artifacts,
            "inspect": work / "inspect.txt"}  # fmt: skip


def score(walked: dict[str, Path], leads: Path, out: Path, *extra: str) -> None:
    argv = ["score-file", str(leads), "--artifacts", str(walked["artifacts"]), "--out", str(out)]
    assert main([*argv, "--embedder", "hashing", "--quiet", "--no-dedup", *extra]) == 0


def test_inspect_states_how_the_export_is_written(walked: dict[str, Path]) -> None:
    printed = walked["inspect"].read_text()
    first = printed.splitlines()[0]
    assert "csv (semicolon-separated, UTF-8 with BOM, CRLF)" in first
    assert "decimal ','" in printed and "--date-cols" in printed


def test_the_scored_file_opens_in_european_excel_as_it_came(walked: dict[str, Path]) -> None:
    out = walked["work"] / "scored" / "leads.csv"
    score(walked, walked["leads"], out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs to read UTF-8
    header, first = raw[3:].split(b"\r\n")[:2]  # CRLF line ends
    appended = header.split(b";")[-len(OUTPUT_COLUMNS) :]  # the scores after the lead's columns
    assert appended[:2] == [b'"s_look"', b'"s_all"']
    scored = open_export(str(out))
    assert scored.dialect is not None and scored.dialect.describe() == (
        "semicolon-separated, UTF-8 with BOM, CRLF"
    )
    rows = next(scored.batches()).to_pylist()
    p = [r["p_high_value"] for r in rows if r["p_high_value"] is not None]
    assert p and all("." not in v for v in p) and sum("," in v for v in p) > len(p) / 2
    source = next(open_export(str(walked["leads"])).batches()).to_pylist()
    assert {k: rows[0][k] for k in source[0]} == source[0]  # the lead's own cells untouched
    assert (
        (walked["work"] / "scored" / "leads.rejects.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    )


def test_an_xlsx_lead_file_comes_back_as_xlsx_with_typed_cells(
    walked: dict[str, Path], tmp_path: Path
) -> None:
    from openpyxl import Workbook, load_workbook

    rows = next(open_export(str(walked["leads"])).batches()).to_pylist()[:40]
    book = Workbook()
    sheet = book.active
    names = list(rows[0])
    sheet.append(names)
    for row in rows:
        sheet.append([_typed(name, row[name]) for name in names])
    book.save(tmp_path / "leads.xlsx")
    score(walked, tmp_path / "leads.xlsx", tmp_path / "scored.xlsx")
    scored = load_workbook(tmp_path / "scored.xlsx", read_only=True)
    values = list(scored.worksheets[0].iter_rows(values_only=True))
    header = list(values[0])
    first = dict(zip(header, values[1], strict=True))
    assert isinstance(first["p_high_value"], float) and isinstance(first["percentile"], int | float)
    assert isinstance(first["Number of Employees"], int)  # typed as Excel had it
    assert isinstance(first["Created Date"], datetime)
    assert first["grade"] in "ABCD" and len(values) == 41


def _typed(name: str, value: Any) -> Any:
    """A cell as Excel holds it once typed: numbers and dates, text otherwise."""
    if value is None:
        return None
    if name in ("Number of Employees",):
        return int(value.replace(".", ""))
    if name in ("Web Activity Score", "Email Engagement Score"):
        return float(value.replace(",", "."))
    if name in ("Created Date", "Last Activity"):
        return datetime.strptime(value, "%d.%m.%Y")
    return value


@pytest.mark.parametrize(
    ("fmt", "name", "check"),
    [
        ("csv", "scored.csv", lambda raw: raw.startswith(b'"Id",') and b"\r\n" not in raw),
        ("tsv", "scored.tsv", lambda raw: raw.startswith(b'"Id"\t')),
        ("csv-eu", "scored.txt", lambda raw: raw.startswith(b'\xef\xbb\xbf"Id";')),
        ("parquet", "scored.parquet", lambda raw: raw.startswith(b"PAR1")),
    ],
)
def test_out_format_writes_the_form_asked(
    walked: dict[str, Path], tmp_path: Path, fmt: str, name: str, check: Any
) -> None:
    out = tmp_path / name
    score(walked, walked["leads"], out, "--out-format", fmt)
    assert check(out.read_bytes())
    if fmt == "parquet":
        assert pq.read_table(out).schema.field("p_high_value").type == "double"


def test_a_ragged_lead_file_is_refused_by_row_without_its_values(
    walked: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Row 40: a name typed with an unquoted ';' and an email: one cell too many."""
    lines = walked["leads"].read_bytes().split(b"\r\n")
    cells = lines[40].split(b";")
    cells[1:4] = [b"Saga", b"Araujo", b"Bengtsson", b"saga.araujo@example.com"]
    bad = tmp_path / "ragged.csv"
    bad.write_bytes(b"\r\n".join([*lines[:40], b";".join(cells), b""]))
    out = tmp_path / "out.csv"
    argv = ["score-file", str(bad), "--artifacts", str(walked["artifacts"]), "--out", str(out)]
    assert main([*argv, "--embedder", "hashing", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "row 40" in err and "'Id', 'First Name'" in err
    for value in ("saga.araujo@example.com", "Saga", "Araujo", "Bengtsson"):
        assert value not in err
    assert not out.exists()

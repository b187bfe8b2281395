""".xlsx workbooks in and out, through openpyxl (read-only and write-only modes: streamed).

HubSpot and Salesforce hand out .xlsx as often as CSV. A sheet (the first, or `--sheet NAME`) is
read row by row: its first non-empty row is the header, the rest come out in record batches of
text columns, exactly like a CSV's, so everything after the reader (roles, the number and date
conventions, score-file's pass-through columns) is the same for both. A cell Excel typed is
written out as text a reader parses back to the same value: integers as digits, other numbers
in Python's shortest form with a decimal point (a fraction of exactly three digits gets a fourth,
0, so `6.787` can never be read as a thousands group), dates and date-times in ISO 8601,
booleans as TRUE/FALSE; an empty cell is missing. So an .xlsx export and its CSV twin give the
same values (tests/unit/test_xlsx.py).

Writing (score-file's output for an .xlsx input): one sheet, the header, then the rows; text that
is such a rendering of a typed cell is written back typed (a number, a date), so the scored sheet
keeps its numbers and dates as Excel had them, and the appended scores are numbers.
Build time and CLI only (never the Lambda).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from leadgen.errors import InputError

XLSX_SUFFIX = ".xlsx"
_CANONICAL_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?(e[-+][0-9]+)?$")
# Whole numbers longer than this stay text when written: Excel shows them in scientific notation
# and keeps 15 digits, which would spoil a phone number or a long id typed as text.
MAX_TYPED_DIGITS = 11
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")


def cell_text(value: Any) -> str | None:
    """A typed cell as the text a reader parses back to the same value (None: empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _float_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    _, dot, frac = text.partition(".")
    if dot and "e" not in frac and len(frac) == 3:
        text += "0"  # 6.787 -> 6.7870: never a thousands group
    return text


class Workbook:
    """An .xlsx file opened read-only on one sheet: its column names and its rows in batches."""

    def __init__(self, path: str, local: Path, sheet: str | None) -> None:
        self.path = path
        self._local = local
        self._sheet_name = sheet
        self.sheet = _sheet_title(path, local, sheet)
        self.names, self._header_row = self._header()

    def _open(self) -> tuple[Any, Any]:
        from openpyxl import load_workbook

        try:
            book = load_workbook(self._local, read_only=True, data_only=True)
        except Exception as exc:  # zipfile, XML and openpyxl's own errors alike
            raise InputError(f"{self.path}: cannot read as .xlsx ({_first_line(exc)})") from None
        return book, book[self.sheet]

    def _header(self) -> tuple[list[str], int]:
        book, ws = self._open()
        try:
            for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
                cells = [cell_text(v) for v in row]
                if any(c is not None for c in cells):
                    return _names(self.path, self.sheet, cells), number
        finally:
            book.close()
        raise InputError(f"{self.path}: sheet {self.sheet!r} is empty")

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Any]:
        """Record batches of text columns (the `columns` asked for), `batch_rows` rows each."""
        import pyarrow as pa

        wanted = [self.names.index(c) for c in columns]
        width = len(self.names)
        schema = pa.schema([(c, pa.string()) for c in columns])
        book, ws = self._open()
        try:
            rows = ws.iter_rows(min_row=self._header_row + 1, values_only=True)
            pending: list[list[str | None]] = []
            for number, row in enumerate(rows, start=1):
                cells = [cell_text(v) for v in row]
                if len(cells) > width and any(c is not None for c in cells[width:]):
                    raise InputError(
                        f"{self.path}: row {number} of sheet {self.sheet!r} has cells beyond "
                        f"the header's {width} columns"
                    )
                if all(c is None for c in cells):
                    continue
                cells += [None] * (width - len(cells))
                pending.append([cells[i] for i in wanted])
                if len(pending) >= batch_rows:
                    yield _batch(pending, schema)
                    pending = []
            if pending:
                yield _batch(pending, schema)
        finally:
            book.close()


def _batch(rows: list[list[str | None]], schema: Any) -> Any:
    import pyarrow as pa

    columns = [pa.array([r[j] for r in rows], pa.string()) for j in range(len(schema))]
    return pa.record_batch(columns, schema=schema)


def _sheet_title(path: str, local: Path, sheet: str | None) -> str:
    from openpyxl import load_workbook

    try:
        book = load_workbook(local, read_only=True, data_only=True)
    except Exception as exc:
        raise InputError(f"{path}: cannot read as .xlsx ({_first_line(exc)})") from None
    try:
        titles = list(book.sheetnames)
    finally:
        book.close()
    if sheet is None:
        return str(titles[0])
    if sheet not in titles:
        raise InputError(
            f"{path}: no sheet {sheet!r} (--sheet); sheets: {', '.join(repr(t) for t in titles)}"
        )
    return sheet


def _names(path: str, sheet: str, cells: list[str | None]) -> list[str]:
    """The header row: trailing empty cells dropped; an empty cell before the last name is a
    column nobody can name in a flag, so it is refused."""
    while cells and cells[-1] is None:
        cells.pop()
    for position, name in enumerate(cells):
        if name is None:
            raise InputError(
                f"{path}: sheet {sheet!r} header has no name in column {_letters(position)}"
            )
    return [str(c).strip() for c in cells]


def _letters(position: int) -> str:
    out = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        out = chr(65 + rest) + out
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---- writing -------------------------------------------------------------------------------------
class SheetWriter:
    """A write-only workbook with one sheet: header first, then rows; saved on close."""

    def __init__(self, target: str, names: Sequence[str]) -> None:
        from openpyxl import Workbook as OpenpyxlWorkbook

        self._target = target
        self._book = OpenpyxlWorkbook(write_only=True)
        self._sheet = self._book.create_sheet("scored")
        self._sheet.append(list(names))

    def write(self, batch: Any) -> None:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for row in zip(*columns, strict=True):
            self._sheet.append([typed(v) for v in row])

    def close(self) -> None:
        self._book.save(self._target)


def typed(value: Any) -> Any:
    """A cell for openpyxl: a text that renders a typed cell (cell_text) becomes that type."""
    if not isinstance(value, str):
        return value
    if _CANONICAL_NUMBER.match(value):
        if "." in value or "e" in value:
            return float(value)
        return int(value) if len(value.lstrip("-")) <= MAX_TYPED_DIGITS else value
    if _ISO_DATE.match(value):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if _ISO_DATETIME.match(value):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value

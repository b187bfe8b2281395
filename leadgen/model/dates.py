"""Dates as exports and forms write them, and "days before" a reference time.

Read: ISO (`2024-03-05`, `2024-03-05T10:30:00Z`, `2024-03-05 10:30:00+01:00`, `2024/03/05`),
European dotted (`05.03.2024`, `5.3.24 14:05`: always day first), slashed or dashed day/month
forms (`05/03/2024`, `3/5/2024 2:05 PM`, `05-03-2024`), and Excel serial day numbers
(`45356`, `45356.5`: days since 1899-12-30, what a date cell holds when it is exported as a
number) when the column is known to hold them. A time of day is optional; a zone or offset is
honoured, a time without one is taken as UTC.

The slashed forms are ambiguous when both numbers are 12 or less (`05/03/2024` is 5 March or 3
May). A value whose first number is above 12 reads day first, one whose second is reads month
first; a column's own values decide its order (leadgen.stores.conventions), else the file's other
date columns, else it is refused by name with `--dayfirst` / `--date-format` to say it. The
decided form is recorded per column (`DateFormat`) so serving reads a lead's date as the build
read the customers'.

Standard library only: the Lambda validates leads with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

from leadgen.model.numbers import one_sided, trim

Order = Literal["dmy", "mdy"]
SECONDS_PER_DAY = 86_400.0
EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)  # serial 1 = 1900-01-01 (Excel's leap-year bug)
# Serials a date column may hold: 1950-01-01 .. 2099-12-31 (beyond that it is a count, not a date).
SERIAL_RANGE = (18_264.0, 73_415.0)
MAX_DATE_CHARS = 48

_TIME = (
    r"(?:[T ]|,\s*|\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"(?:\s*(?P<ampm>[AaPp][Mm]))?"
)
_ZONE = r"(?:\s*(?P<zone>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?"
_TAIL = rf"(?:{_TIME})?{_ZONE}$"
_ISO = re.compile(rf"^(?P<y>\d{{4}})[-/.](?P<a>\d{{1,2}})[-/.](?P<b>\d{{1,2}}){_TAIL}")
_DOTTED = re.compile(rf"^(?P<a>\d{{1,2}})\.(?P<b>\d{{1,2}})\.(?P<y>\d{{4}}|\d{{2}}){_TAIL}")
_SLASHED = re.compile(
    rf"^(?P<a>\d{{1,2}})(?P<sep>[/-])(?P<b>\d{{1,2}})(?P=sep)(?P<y>\d{{4}}|\d{{2}}){_TAIL}"
)
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")

# How a value reads: the same whatever the order (ISO, dotted, or equal numbers), only day
# first, only month first, or differently.
Shape = Literal["either", "dmy", "mdy", "ambiguous", "serial"]

NOT_A_DATE = (
    "not a date (accepted: 2024-03-05, 05.03.2024, 05/03/2024 or 3/5/2024 as the column reads "
    "them, with an optional time and zone)"
)
AMBIGUOUS = (
    "an ambiguous date: day and month are both 12 or less and no order is decided for this "
    "column (send 2024-03-05)"
)


class DateProblem(ValueError):
    """Why a value is not a date; never quotes the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DateFormat:
    """How a column's dates are read: the day/month order of slashed values (None: undecided,
    an ambiguous one is refused), Excel serials (the column held them), or an explicit strptime
    format (`--date-format`), which then is the only form read."""

    order: Order | None = None
    serial: bool = False
    strptime: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"order": self.order, "serial": self.serial, "strptime": self.strptime}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DateFormat:
        order = data.get("order")
        if order not in (None, "dmy", "mdy"):
            raise ValueError(f"date order must be dmy or mdy, got {order!r}")
        pattern = data.get("strptime")
        serial = bool(data.get("serial", False))
        return cls(order, serial, None if pattern is None else str(pattern))

    def describe(self) -> str:
        if self.strptime:
            return f"format {self.strptime}"
        order = {"dmy": "day first", "mdy": "month first", None: "ISO or dd.mm.yyyy"}[self.order]
        return order + (", Excel serial numbers" if self.serial else "")


@dataclass(frozen=True)
class DateReadings:
    """A value as a UTC timestamp (seconds) read day first and month first (None: not a date
    that way); serial values read the same both ways."""

    dmy: float | None
    mdy: float | None
    serial: bool = False

    @property
    def shape(self) -> Shape:
        if self.serial:
            return "serial"
        if self.dmy is not None and self.mdy is not None:
            return "either" if self.dmy == self.mdy else "ambiguous"
        return "dmy" if self.dmy is not None else "mdy"

    def under(self, order: Order | None) -> float:
        if self.shape == "ambiguous":
            if order is None:
                raise DateProblem(AMBIGUOUS)
            return self.dmy if order == "dmy" else self.mdy  # type: ignore[return-value]
        return self.dmy if self.dmy is not None else self.mdy  # type: ignore[return-value]


def date_readings(text: str, serials: bool = True) -> DateReadings | None:
    """Both readings of a text (None: no date either way). Serial numbers are read only when
    `serials` (a column known to hold them), since 45356 is also a count."""
    value = trim(text)
    if not value or len(value) > MAX_DATE_CHARS:
        return None
    if _SERIAL.match(value):
        return _serial(float(value)) if serials else None
    m = _ISO.match(value)
    if m is not None:
        t = _stamp(m, int(m.group("y")), int(m.group("a")), int(m.group("b")))
        return None if t is None else DateReadings(t, t)
    m = _DOTTED.match(value)
    if m is not None:
        t = _stamp(m, _year(m.group("y")), int(m.group("b")), int(m.group("a")))
        return None if t is None else DateReadings(t, t)
    m = _SLASHED.match(value)
    if m is None:
        return None
    y, a, b = _year(m.group("y")), int(m.group("a")), int(m.group("b"))
    dmy, mdy = _stamp(m, y, b, a), _stamp(m, y, a, b)
    if dmy is None and mdy is None:
        return None
    return DateReadings(dmy, mdy)


def _serial(number: float) -> DateReadings | None:
    if not SERIAL_RANGE[0] <= number <= SERIAL_RANGE[1]:
        return None
    t = (EXCEL_EPOCH + timedelta(days=number)).timestamp()
    return DateReadings(t, t, serial=True)


def serial_readings(number: float) -> DateReadings | None:
    """A number (a JSON number, a typed cell) as an Excel serial day."""
    return _serial(float(number))


def _year(text: str) -> int:
    """Two-digit years as Python's %y reads them: 69-99 -> 19xx, 00-68 -> 20xx."""
    year = int(text)
    if len(text) == 2:
        return year + (1900 if year >= 69 else 2000)
    return year


def _stamp(m: re.Match[str], year: int, month: int, day: int) -> float | None:
    """UTC seconds of the matched date and time, or None when it is no real date."""
    hour = int(m.group("H") or 0)
    ampm = (m.group("ampm") or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    fraction = (m.group("f") or "0")[:6].ljust(6, "0")
    try:
        moment = datetime(
            year,
            month,
            day,
            hour,
            int(m.group("M") or 0),
            int(m.group("S") or 0),
            int(fraction),
            tzinfo=_zone(m.group("zone")),
        )
    except ValueError:
        return None
    return moment.timestamp()


def _zone(text: str | None) -> timezone:
    if text is None or text in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return timezone(sign * timedelta(minutes=minutes))


def parse_date(value: Any, fmt: DateFormat) -> float | None:
    """A cell, a JSON string or (for a serial column) a JSON number as UTC seconds; None when
    empty. DateProblem when it is no date, or ambiguous with no order decided."""
    if value is None:
        return None
    if isinstance(value, date):  # a typed date from a parquet or .xlsx file
        return _typed(value)
    if isinstance(value, bool):
        raise DateProblem(NOT_A_DATE)
    if isinstance(value, int | float):
        found = serial_readings(value) if fmt.serial else None
        if found is None:
            raise DateProblem(NOT_A_DATE)
        return found.under(None)
    text = trim(str(value))
    if not text:
        return None
    if fmt.strptime:
        return _strptime(text, fmt.strptime)
    found = date_readings(text, serials=fmt.serial)
    if found is None:
        raise DateProblem(NOT_A_DATE)
    return found.under(fmt.order)


def _typed(value: date) -> float:
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _strptime(text: str, pattern: str) -> float:
    try:
        moment = datetime.strptime(text, pattern)
    except ValueError:
        raise DateProblem(f"not a date in the format {pattern}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def days_before(reference: float, moment: float | None) -> float | None:
    """Days from `moment` to `reference` (UTC seconds): positive for the past, a fraction for
    hours; None stays None (a missing date is a missing value)."""
    if moment is None:
        return None
    return (reference - moment) / SECONDS_PER_DAY


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def parse_reference(text: str) -> float:
    """An --as-of value (ISO date or date-time) as UTC seconds."""
    found = date_readings(text, serials=False)
    if found is None or found.shape not in ("either",):
        raise DateProblem("not an ISO date or date-time (e.g. 2024-03-31 or 2024-03-31T23:59:59Z)")
    return found.under(None)


@dataclass
class DateEvidence:
    """How a column's values read: the counts that decide its day/month order and whether it
    holds Excel serials."""

    either: int = 0
    dmy: int = 0
    mdy: int = 0
    ambiguous: int = 0
    serial: int = 0
    bad: int = 0
    newest: float | None = None  # the latest date read (UTC seconds), for the reference time
    first_row: dict[str, int] = field(default_factory=dict)

    def add(self, found: DateReadings | None, count: int = 1, row: int | None = None) -> None:
        kind = "bad" if found is None else found.shape
        setattr(self, kind, getattr(self, kind) + count)
        if row is not None:
            self.first_row[kind] = min(row, self.first_row.get(kind, row))

    @property
    def dates(self) -> int:
        return self.either + self.dmy + self.mdy + self.ambiguous + self.serial

    @property
    def own_order(self) -> Order | None:
        """The order the column's own values decide (a day above 12 one way only), else None."""
        order: Order | None = one_sided(self.dmy, self.mdy, "dmy", "mdy")
        return order

    @property
    def conflicting(self) -> bool:
        return bool(self.dmy and self.mdy)

"""Numbers as people write them in exports and forms, in any common locale.

`1,234.5`, `1.234,5`, `1 234,5` (also with a no-break or thin space), `1'234.5`, a currency sign
or ISO code before or after (`EUR 1.234,50`, `1.234,50 €`, `$3,400`), a percent sign (`12%` is
0.12: Excel stores a percent cell as that fraction, so a sheet and its CSV twin agree), and the
negative forms `-12`, `−12`, `(12)` (accounting) and `12-`.

A value is read under both decimal marks. Most values have one reading only (`0,33`, `1.234,5`,
`12.5`, `1,234.5`, `0.125`: a thousands group has exactly three digits and never follows a lone
0) or the same one under both (`1234`, `1 234`). A few have two different readings: `6.787` and
`1,234` are a decimal or a thousands group. Those are *ambiguous*, and only a decided decimal mark
reads them: the column's own other values decide it, else the file's (leadgen.stores.conventions);
a value that stays ambiguous is refused, never guessed. Build and serving parse through
`parse_number`, so a lead's "1,200" means what the export's "1,200" meant.

Standard library only: the Lambda validates leads with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, TypeVar

T = TypeVar("T")
DecimalMark = Literal[".", ","]
DECIMAL_MARKS: tuple[DecimalMark, ...] = (".", ",")
# How a value reads: with either mark alike, only with '.', only with ',', or differently.
Shape = Literal["either", "point", "comma", "ambiguous"]

_SPACES = " \u00a0\u202f\u2009"  # space, no-break space, narrow no-break space, thin space
_APOSTROPHES = "'\u2019"  # Swiss 1'234.5 (and the typographic apostrophe Excel may write)
_MINUS = "-\u2212"  # hyphen-minus and the minus sign
_EDGES = re.compile(r"^[\s\ufeff]+|[\s\ufeff]+$")
# Longer is no number anyone typed (and the pattern is never run on megabytes of text).
MAX_NUMBER_CHARS = 64
# Common ISO 4217 codes; a three-letter word that is not one is not a currency.
_CODES = (
    "USD EUR GBP CHF JPY CNY CAD AUD NZD SEK NOK DKK PLN CZK HUF RON BGN ISK INR BRL MXN ARS CLP "
    "COP PEN ZAR SGD HKD TWD KRW THB MYR IDR PHP VND TRY ILS AED SAR QAR KWD EGP NGN KES RUB UAH"
)
CURRENCY_CODES = frozenset(_CODES.split(" "))
_SYMBOL = r"US\$|R\$|C\$|A\$|[$€£¥₹₩¢₽₺₪]|[A-Z]{3}"
_DECORATED = re.compile(
    rf"""^\(?\s*(?P<s1>[{_MINUS}+])?\s*(?P<c1>{_SYMBOL})?\s*(?P<s2>[{_MINUS}+])?\s*
    (?P<core>[0-9.,{_SPACES}{_APOSTROPHES}]*[0-9])(?P<exp>[eE][-+]?[0-9]{{1,3}})?
    \s*(?P<pct>%)?\s*(?P<c2>{_SYMBOL})?\s*(?P<s3>-)?\s*\)?$""",
    re.VERBOSE,
)


class NumberProblem(ValueError):
    """Why a value is not a number; never quotes the value (it may be personal data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


NOT_A_NUMBER = (
    "not a number (accepted: 1234.5, 1,234.5, 1.234,5, 1 234,5, a currency sign or code, a "
    "percent sign)"
)
AMBIGUOUS = (
    "an ambiguous number: its '.' or ',' may be a decimal mark or a thousands separator, and "
    "no decimal mark is decided for this column (send a plain number such as 1234 or 1.234)"
)


@dataclass(frozen=True)
class Readings:
    """A value's number under each decimal mark (None: not a number with that mark)."""

    point: float | None
    comma: float | None

    @property
    def shape(self) -> Shape:
        if self.point is not None and self.comma is not None:
            return "either" if self.point == self.comma else "ambiguous"
        return "point" if self.point is not None else "comma"

    def under(self, mark: DecimalMark | None) -> float:
        """The value with `mark` as decimal mark when both marks read it (differently)."""
        if self.shape == "ambiguous":
            if mark is None:
                raise NumberProblem(AMBIGUOUS)
            return self.point if mark == "." else self.comma  # type: ignore[return-value]
        return self.point if self.point is not None else self.comma  # type: ignore[return-value]


def trim(text: str) -> str:
    """`text` without surrounding white space, a byte-order mark included (a cell's BOM
    survives some exports, and JSON Schema counts it as white space)."""
    return _EDGES.sub("", text)


def readings(text: str) -> Readings | None:
    """Both readings of a non-empty text, or None when it is no number under either mark."""
    stripped = trim(text)
    if len(stripped) > MAX_NUMBER_CHARS:
        return None
    m = _DECORATED.match(stripped)
    if m is None or not _decoration_ok(m, stripped):
        return None
    sign = m.group("s1") or m.group("s2") or m.group("s3")
    negative = (sign is not None and sign in _MINUS) or stripped.startswith("(")
    shift = -2 if m.group("pct") else 0
    core, exp = m.group("core").strip(_SPACES), m.group("exp")
    values = []
    for mark in DECIMAL_MARKS:
        digits = _digits(core, mark)
        if digits is not None and exp and mark == "," and not core.isdigit():
            digits = None  # 1.5e3 is written with a decimal point only
        values.append(None if digits is None else _value(digits, exp, shift, negative))
    if values[0] is None and values[1] is None:
        return None
    return Readings(values[0], values[1])


def _decoration_ok(m: re.Match[str], stripped: str) -> bool:
    """One sign at most, one currency at most (a real one), parentheses in pairs, and not a
    sign together with parentheses."""
    signs = [m.group(g) for g in ("s1", "s2", "s3") if m.group(g)]
    currencies = [m.group(g) for g in ("c1", "c2") if m.group(g)]
    opened, closed = stripped.startswith("("), stripped.endswith(")")
    if opened != closed or len(signs) > 1 or len(currencies) > 1 or (opened and signs):
        return False
    return all(len(c) != 3 or not c.isalpha() or c in CURRENCY_CODES for c in currencies)


def _digits(core: str, mark: DecimalMark) -> str | None:
    """The plain decimal string ("1234.5") of `core` read with `mark` as decimal mark, or None.
    A thousands group has exactly three digits, one separator kind, and does not follow a lone
    0; a decimal mark appears once."""
    if core.isdigit():
        return core
    whole, sep, frac = core.rpartition(mark) if mark in core else (core, "", "")
    if sep and (not frac.isdigit() or mark in whole):
        return None
    if whole.isdigit() or (sep and whole == ""):
        return f"{whole or '0'}.{frac}" if sep else whole
    groups = _groups(whole, mark)
    if groups is None:
        return None
    return f"{groups}.{frac}" if sep else groups


def _groups(whole: str, mark: DecimalMark) -> str | None:
    """'1 234 567' -> '1234567' when `whole` is validly grouped (separators other than `mark`)."""
    separators = {c for c in whole if not c.isdigit()}
    allowed = set(_SPACES + _APOSTROPHES + ("," if mark == "." else "."))
    if len(separators) != 1 or not separators <= allowed:
        return None
    parts = whole.split(separators.pop())
    head, rest = parts[0], parts[1:]
    if not (1 <= len(head) <= 3 and head.isdigit() and head[0] != "0"):
        return None
    if not all(len(p) == 3 and p.isdigit() for p in rest):
        return None
    return "".join(parts)


def _value(digits: str, exp: str | None, shift: int, negative: bool) -> float:
    """The float of a decimal string, scaled exactly (12.5% -> 0.125 from '12.5e-2')."""
    power = (int(exp[1:]) if exp else 0) + shift
    number = float(f"{digits}e{power}")
    return -number if negative else number


def parse_number(text: str, mark: DecimalMark | None) -> float | None:
    """A cell or a JSON string as a number: None when empty (missing), the value under `mark`
    when ambiguous; NumberProblem when it is no number, or ambiguous with no mark decided."""
    if not trim(text):
        return None
    found = readings(text)
    if found is None:
        raise NumberProblem(NOT_A_NUMBER)
    return found.under(mark)


def one_sided(left: int, right: int, a: T, b: T) -> T | None:
    """`a` when only the left count is there, `b` when only the right one, else None: what a
    column's one-way values decide (a decimal mark, a day/month order)."""
    if left and not right:
        return a
    if right and not left:
        return b
    return None


@dataclass
class NumberEvidence:
    """How a column's values read: the counts that decide its decimal mark."""

    point: int = 0  # read only with '.' as decimal mark
    comma: int = 0  # read only with ','
    ambiguous: int = 0  # read differently with each
    either: int = 0  # read the same with both
    bad: int = 0  # no number
    # The data rows (1-based) of the first value of each kind, for messages that name a row.
    first_row: dict[str, int] = field(default_factory=dict)

    def add(self, found: Readings | None, count: int = 1, row: int | None = None) -> None:
        kind = "bad" if found is None else found.shape
        setattr(self, kind, getattr(self, kind) + count)
        if row is not None:
            self.first_row[kind] = min(row, self.first_row.get(kind, row))

    @property
    def own_mark(self) -> DecimalMark | None:
        """The mark the column's own values decide (one side only), else None."""
        return one_sided(self.point, self.comma, ".", ",")

    @property
    def conflicting(self) -> bool:
        return bool(self.point and self.comma)
